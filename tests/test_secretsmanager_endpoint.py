"""The local Secrets Manager endpoint, through real boto3 clients.

A plain ``boto3.client("secretsmanager")``, pointed at the endpoint by
``AWS_ENDPOINT_URL_SECRETS_MANAGER`` alone, must parse every answer and error as it parses the
service's.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from local_endpoint import local_endpoint
from secretsmanager_endpoint import SecretsManagerEndpoint, SecretsManagerFault, running

GET = "GetSecretValue"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def secrets() -> Iterator[SecretsManagerEndpoint]:
    """The Secrets Manager endpoint local_endpoint() starts, with boto3's environment set."""
    with local_endpoint():
        endpoint = running()
        assert endpoint is not None
        yield endpoint
        assert endpoint.internal_errors == []
    assert running() is None


@pytest.fixture
def client(secrets: SecretsManagerEndpoint) -> Any:
    """A plain boto3 client: no endpoint_url, the environment points it at the endpoint."""
    return boto3.client("secretsmanager")


def error_of(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


# ---------------------------------------------------------------------------------- protocol


def test_the_environment_points_boto3_at_the_double_speaking_json_1_1(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    sent: list[Any] = []
    client.meta.events.register(
        "before-send.secrets-manager", lambda request, **_: sent.append(request)
    )
    arn = secrets.add_secret("seeds/params", secret_string="{}")

    client.get_secret_value(SecretId=arn)

    assert client.meta.endpoint_url == secrets.url
    (request,) = sent
    assert (request.method, request.url) == ("POST", secrets.url + "/")
    assert request.headers["X-Amz-Target"] == b"secretsmanager.GetSecretValue"
    assert request.headers["Content-Type"] == b"application/x-amz-json-1.1"
    assert json.loads(request.body) == {"SecretId": arn}


def test_a_string_secret_reads_the_same_by_arn_name_and_partial_arn(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string='{"day": "2024-05-01"}')

    answers = [client.get_secret_value(SecretId=i) for i in (arn, "seeds/params", arn[:-7])]

    assert re.fullmatch(
        r"arn:aws:secretsmanager:us-east-1:123456789012:secret:seeds/params-[A-Za-z0-9]{6}", arn
    )
    for answer in answers:
        answer.pop("ResponseMetadata")
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["ARN"] == arn
    assert answers[0]["Name"] == "seeds/params"
    assert answers[0]["SecretString"] == '{"day": "2024-05-01"}'
    assert answers[0]["VersionStages"] == ["AWSCURRENT"]
    assert isinstance(answers[0]["CreatedDate"], datetime)
    assert "SecretBinary" not in answers[0]


def test_a_binary_secret_comes_back_as_bytes(secrets: SecretsManagerEndpoint, client: Any) -> None:
    secrets.add_secret("seeds/blob", secret_binary=b"\x00\xffseed")

    answer = client.get_secret_value(SecretId="seeds/blob")

    assert answer["SecretBinary"] == b"\x00\xffseed"
    assert "SecretString" not in answer


def test_put_secret_value_moves_awscurrent_and_awsprevious(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="v1")
    first = client.get_secret_value(SecretId=arn)["VersionId"]
    second = secrets.put_secret_value(arn, "v2")
    third = secrets.put_secret_value("seeds/params", "v3")

    def value(**params: str) -> tuple[str, list[str]]:
        answer = client.get_secret_value(SecretId=arn, **params)
        return answer["SecretString"], answer.get("VersionStages", [])

    assert value() == ("v3", ["AWSCURRENT"])
    assert value(VersionStage="AWSCURRENT", VersionId=third) == ("v3", ["AWSCURRENT"])
    assert value(VersionStage="AWSPREVIOUS") == ("v2", ["AWSPREVIOUS"])
    assert value(VersionId=first) == ("v1", [])  # deprecated: no label, still readable by id
    described = client.describe_secret(SecretId=arn)
    assert described["VersionIdsToStages"] == {second: ["AWSPREVIOUS"], third: ["AWSCURRENT"]}
    assert (described["ARN"], described["Name"]) == (arn, "seeds/params")


# ------------------------------------------------------------------------------------ errors

NOT_FOUND_VALUE = "Secrets Manager can't find the specified secret value for"
OTHER_VERSION = "0" * 8 + "-0000-0000-0000-" + "0" * 12
NOT_FOUND = "ResourceNotFoundException"
DENIED = "AccessDeniedException"
ERRORS = {  # case: (the endpoint's control to call, request params, code, message part)
    "missing secret": (None, {"SecretId": "nope"}, NOT_FOUND, "find the specified secret."),
    "missing version": (None, {"VersionId": OTHER_VERSION}, NOT_FOUND, f"Id: {OTHER_VERSION}"),
    "missing stage": (None, {"VersionStage": "AWSPENDING"}, NOT_FOUND, "label: AWSPENDING"),
    "denied": ("deny", {}, DENIED, "not authorized to perform: secretsmanager:GetSecretValue"),
    "key disabled": ("disable_kms_key", {}, "DecryptionFailure", "can't decrypt the protected"),
    "kms denied": ("deny_kms_key", {}, DENIED, "Access to KMS is not allowed"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_each_error_parses_as_the_services_with_its_code(
    secrets: SecretsManagerEndpoint,
    client: Any,
    case: str,
) -> None:
    setup, params, expected_code, expected_message = ERRORS[case]
    arn = secrets.add_secret("seeds/params", secret_string="v1", kms_key_id=KEY)
    if setup is not None:
        getattr(secrets, setup)(KEY if "kms" in setup else arn)

    code, message, status = error_of(client.get_secret_value, **{"SecretId": arn, **params})

    assert (code, status) == (expected_code, 400)
    assert expected_message in message
    assert len(secrets.calls_of(GET)) == 1  # none of these is retried


def test_modeled_errors_raise_the_clients_exception_classes(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    secrets.add_secret("empty")
    arn = secrets.add_secret("seeds/params", secret_string="v1", kms_key_id=KEY)
    secrets.disable_kms_key(KEY)

    with pytest.raises(client.exceptions.ResourceNotFoundException) as missing:
        client.get_secret_value(SecretId="empty")  # a secret without a value
    with pytest.raises(client.exceptions.DecryptionFailure) as undecryptable:
        client.get_secret_value(SecretId=arn)
    (version,) = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    with pytest.raises(client.exceptions.InvalidRequestException):
        client.get_secret_value(SecretId=arn, VersionId=version, VersionStage="AWSPREVIOUS")

    assert missing.value.response["Message"] == f"{NOT_FOUND_VALUE} staging label: AWSCURRENT"
    assert undecryptable.value.response["Error"]["Message"].endswith("is disabled.")


def test_describe_secret_needs_no_kms_but_can_be_denied(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="v1", kms_key_id=KEY)
    secrets.disable_kms_key(KEY)
    assert client.describe_secret(SecretId=arn)["KmsKeyId"] == KEY

    secrets.deny(arn, "AccessDeniedException", "no", operation="DescribeSecret")

    assert error_of(client.describe_secret, SecretId=arn) == ("AccessDeniedException", "no", 400)


def test_requests_off_the_protocol_are_refused_as_the_service_does(
    secrets: SecretsManagerEndpoint,
) -> None:
    def post(target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection(urlsplit(secrets.url).netloc, timeout=5)
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    unknown = post("secretsmanager.CreateSecret", b"{}")
    not_json = post("secretsmanager.GetSecretValue", b"{")
    invalid = post("secretsmanager.GetSecretValue", b'{"SecretId": "", "VersionId": "v"}')

    assert (unknown[0], unknown[1]["__type"]) == (400, "UnknownOperationException")
    assert (not_json[0], not_json[1]["__type"]) == (400, "SerializationException")
    assert (invalid[0], invalid[1]["__type"]) == (400, "ValidationException")
    assert invalid[1]["Message"].startswith("2 validation errors detected: ")


def test_the_test_controls_refuse_what_the_service_would(secrets: SecretsManagerEndpoint) -> None:
    secrets.add_secret("taken", secret_string="v1")

    with pytest.raises(ValueError, match="not both"):
        secrets.add_secret("both", secret_string="v", secret_binary=b"v")
    with pytest.raises(ValueError, match="exists"):
        secrets.add_secret("taken")
    with pytest.raises(ValueError, match="length"):
        secrets.add_secret("x" * 513)


# ------------------------------------------------------------------------- call log, faults


def test_the_call_log_holds_each_request_and_no_secret_value(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="hunter2")

    client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    client.describe_secret(SecretId="seeds/params")

    assert secrets.calls_of(GET) == [{"SecretId": arn, "VersionStage": "AWSCURRENT"}]
    assert secrets.calls == [
        (GET, {"SecretId": arn, "VersionStage": "AWSCURRENT"}),
        ("DescribeSecret", {"SecretId": "seeds/params"}),
    ]


def test_a_throttled_read_is_retried_by_botocore(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="v1")
    secrets.inject(GET, SecretsManagerFault.throttle(), times=2)

    assert client.get_secret_value(SecretId=arn)["SecretString"] == "v1"
    assert len(secrets.calls_of(GET)) == 3


def test_server_errors_exhaust_botocores_attempts(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="v1")
    secrets.inject(GET, SecretsManagerFault.after_success(), times=None)

    code, _, status = error_of(client.get_secret_value, SecretId=arn)

    assert (code, status) == ("InternalServiceError", 500)
    assert len(secrets.calls_of(GET)) == 3  # AWS_MAX_ATTEMPTS


def test_an_injected_error_is_answered_once_then_the_secret(
    secrets: SecretsManagerEndpoint, client: Any
) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="v1")
    secrets.inject(GET, SecretsManagerFault.error("DecryptionFailure", message="key gone"))
    secrets.inject(GET, SecretsManagerFault.access_denied())

    assert error_of(client.get_secret_value, SecretId=arn) == ("DecryptionFailure", "key gone", 400)
    assert error_of(client.get_secret_value, SecretId=arn)[0] == "AccessDeniedException"
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "v1"


def test_a_slow_answer_times_the_client_out(secrets: SecretsManagerEndpoint) -> None:
    arn = secrets.add_secret("seeds/params", secret_string="v1")
    secrets.inject(GET, SecretsManagerFault.slow(0.3), times=1)
    impatient = boto3.client(
        "secretsmanager", config=Config(read_timeout=0.1, retries={"max_attempts": 2})
    )

    assert impatient.get_secret_value(SecretId=arn)["SecretString"] == "v1"
    assert len(secrets.calls_of(GET)) == 2
