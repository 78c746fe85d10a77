"""A SQL seed's parameters read from a secret at run time (SeedAudienceParametersSecretArn).

Through the real Provider framework, the local Clean Rooms ML endpoint and the local Secrets
Manager endpoint: the Start request carries the merged values, the properties only the ARN, and no
value reaches a reason, a log line or the stack's data, whatever fails.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import Stack
from secretsmanager_endpoint import SecretsManagerEndpoint, SecretsManagerFault
from test_handler import ROLE, properties
from test_lifecycle import unaccounted

QUERY = "SELECT user_id FROM customers WHERE tier = :tier AND region = :region"
TIER = "platinum-tier-value"
REGION_VALUE = "north-east-region"
SECRET_NAME = "seeds/lookalike-parameters"


def secret_seed(**sql: Any) -> dict[str, Any]:
    return {"RoleArn": ROLE, "SqlParameters": {"QueryString": QUERY, **sql}}


def seeded(endpoint: CleanRoomsMLEndpoint, arn: str, **overrides: Any) -> dict[str, Any]:
    return properties(
        endpoint,
        SeedAudience=secret_seed(Parameters={"region": REGION_VALUE}),
        SeedAudienceParametersSecretArn=arn,
        **overrides,
    )


@pytest.fixture
def secret(secrets: SecretsManagerEndpoint) -> str:
    return secrets.add_secret(SECRET_NAME, secret_string=json.dumps({"tier": TIER}))


def started_parameters(endpoint: CleanRoomsMLEndpoint) -> list[dict[str, str]]:
    return [
        call["seedAudience"]["sqlParameters"].get("parameters", {})
        for call in endpoint.calls_of("StartAudienceGenerationJob")
    ]


def test_the_start_request_carries_the_secret_s_values_and_the_properties_only_its_arn(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, secrets: SecretsManagerEndpoint, secret: str
) -> None:
    created = stack.create("Lookalikes", seeded(endpoint, secret))

    assert created.ok, created.reason
    assert started_parameters(endpoint) == [{"region": REGION_VALUE, "tier": TIER}]
    assert TIER not in json.dumps(stack.properties["Lookalikes"])
    assert TIER not in json.dumps(stack.data)
    (read,) = secrets.calls_of("GetSecretValue")
    assert read == {"SecretId": secret}  # AWSCURRENT


@pytest.mark.parametrize(
    ("version", "selector"),
    [
        ("AWSPREVIOUS", "VersionStage"),
        ("release-2026-11", "VersionStage"),
        ("EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE", "VersionId"),
    ],
)
def test_the_version_is_read_as_an_id_or_a_staging_label(
    stack: Stack,
    endpoint: CleanRoomsMLEndpoint,
    secrets: SecretsManagerEndpoint,
    secret: str,
    version: str,
    selector: str,
) -> None:
    stack.create(
        "Lookalikes", seeded(endpoint, secret, SeedAudienceParametersSecretVersion=version)
    )

    (read,) = secrets.calls_of("GetSecretValue")
    assert read == {"SecretId": secret, selector: version}


def test_a_new_version_starts_a_new_job_and_a_rotation_alone_does_not(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, secrets: SecretsManagerEndpoint, secret: str
) -> None:
    props = seeded(endpoint, secret)
    assert stack.create("Lookalikes", props).ok
    first = stack.physical_ids["Lookalikes"]
    secrets.put_secret_value(secret, json.dumps({"tier": "gold-rotated"}))

    unchanged, _ = stack.update("Lookalikes", props)
    assert unchanged.ok and stack.physical_ids["Lookalikes"] == first

    renewed, cleanup = stack.update(
        "Lookalikes", {**props, "SeedAudienceParametersSecretVersion": "AWSCURRENT"}
    )

    assert renewed.ok, renewed.reason
    assert stack.physical_ids["Lookalikes"] != first
    assert cleanup is not None and cleanup.ok
    assert started_parameters(endpoint)[-1] == {"region": REGION_VALUE, "tier": "gold-rotated"}


SECRET_VALUES = ("platinum-tier-value", "north-east-region", "tier", "region")


def broken(secrets: SecretsManagerEndpoint, case: str) -> str:
    if case == "missing":
        return "arn:aws:secretsmanager:us-east-1:123456789012:secret:seeds/gone-AbCdEf"
    if case == "not JSON":
        return secrets.add_secret(SECRET_NAME, secret_string="tier=platinum-tier-value")
    if case == "a JSON list":
        return secrets.add_secret(SECRET_NAME, secret_string=json.dumps(["platinum-tier-value"]))
    if case == "a number":
        return secrets.add_secret(SECRET_NAME, secret_string=json.dumps({"tier": 7}))
    if case == "binary":
        return secrets.add_secret(SECRET_NAME, secret_binary=b"platinum-tier-value")
    arn = secrets.add_secret(
        SECRET_NAME, secret_string=json.dumps({"tier": TIER}), kms_key_id="key-1"
    )
    if case == "denied":
        secrets.deny(arn)
    if case == "key disabled":
        secrets.disable_kms_key("key-1")
    if case == "key denied":
        secrets.deny_kms_key("key-1")
    return arn


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "GetSecretValue (secret arn:aws:secretsmanager:"),
        ("denied", "GetSecretValue (secret arn:aws:secretsmanager:"),
        ("key disabled", "failed: DecryptionFailure"),
        ("key denied", "failed: AccessDeniedException"),
        ("not JSON", "it holds text that is not JSON"),
        ("a JSON list", "it holds a JSON list"),
        ("a number", "a value is not a string"),
        ("binary", "it holds a binary value"),
    ],
)
def test_a_secret_that_cannot_be_used_fails_naming_it_and_no_value(
    stack: Stack,
    endpoint: CleanRoomsMLEndpoint,
    secrets: SecretsManagerEndpoint,
    case: str,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    arn = broken(secrets, case)

    created = stack.create("Lookalikes", seeded(endpoint, arn))

    assert not created.ok
    assert created.reason.startswith("SeedAudienceParametersSecretArn: "), created.reason
    assert arn in created.reason and message in created.reason, created.reason
    assert endpoint.calls_of("StartAudienceGenerationJob") == []
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for value in ("platinum-tier-value", "north-east-region"):
        assert value not in created.reason and value not in logs
    assert unaccounted(endpoint, set(stack.physical_ids.values())) == []


def test_a_name_in_both_the_secret_and_the_template_is_refused_without_naming_it(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, secrets: SecretsManagerEndpoint
) -> None:
    arn = secrets.add_secret(SECRET_NAME, secret_string=json.dumps({"region": "elsewhere-value"}))

    created = stack.create("Lookalikes", seeded(endpoint, arn))

    assert not created.ok
    assert "a parameter is named both there and in secret" in created.reason
    assert "region" not in created.reason.replace(arn, "")
    assert endpoint.calls_of("StartAudienceGenerationJob") == []


def test_a_throttled_read_is_tried_again_by_the_waiter(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, secrets: SecretsManagerEndpoint, secret: str
) -> None:
    secrets.inject("GetSecretValue", SecretsManagerFault.throttle(), times=5)

    created = stack.create("Lookalikes", seeded(endpoint, secret))

    assert created.ok, created.reason
    assert started_parameters(endpoint) == [{"region": REGION_VALUE, "tier": TIER}]


def test_a_service_message_that_echoes_a_secret_value_is_masked(
    stack: Stack,
    endpoint: CleanRoomsMLEndpoint,
    secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint.inject(
        "StartAudienceGenerationJob",
        Fault.error("ValidationException", 400, f"parameter tier={TIER} is not allowed"),
    )

    created = stack.create("Lookalikes", seeded(endpoint, secret))

    assert not created.ok
    assert "parameter ***=*** is not allowed" in created.reason, created.reason  # names too
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert TIER not in created.reason and TIER not in logs


def test_a_secret_needs_a_sql_seed_and_a_version_needs_a_secret(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, secret: str
) -> None:
    s3_seed = properties(endpoint, SeedAudienceParametersSecretArn=secret)
    versioned = properties(
        endpoint, SeedAudience=secret_seed(), SeedAudienceParametersSecretVersion="AWSCURRENT"
    )

    assert "only applies to a SQL seed" in stack.create("S3", s3_seed).reason
    assert "only applies with SeedAudienceParametersSecretArn" in (
        stack.create("Versioned", versioned).reason
    )
    assert endpoint.calls_of("StartAudienceGenerationJob") == []
