"""The ConfiguredAudienceModel kind through the real Provider framework and the local endpoint."""

from __future__ import annotations

import json
from typing import Any

import index
import pytest
from cleanrooms.engine import aws
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from cloudformation import Stack
from provider_runtime import RealProviderFramework

RESOURCE_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
ROLE = "arn:aws:iam::123456789012:role/audience-writer"


@pytest.fixture
def models(endpoint: CleanRoomsMLEndpoint) -> Stack:
    """A stack of configured audience models, served by the handler."""
    return Stack(
        RealProviderFramework(index, query_interval=0.01, total_timeout=30),
        resource_type=RESOURCE_TYPE,
    )


def model_properties(endpoint: CleanRoomsMLEndpoint, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AudienceModelArn": endpoint.default_audience_model_arn,
        "OutputConfig": {
            "Destination": {"S3Destination": {"S3Uri": "s3://audiences/out/"}},
            "RoleArn": ROLE,
        },
        "SharedAudienceMetrics": ["ALL"],
        "MinMatchingSeedSize": 25,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": "cleanrooms-ml:StartAudienceGenerationJob",
        }
    ],
}


def test_create_update_in_place_and_delete(models: Stack, endpoint: CleanRoomsMLEndpoint) -> None:
    created = models.create("Configured", model_properties(endpoint, Description="first"))
    assert created.ok, created.reason
    arn = models.physical_ids["Configured"]
    assert models.data["Configured"]["ConfiguredAudienceModelArn"] == arn
    record = endpoint.configured_audience_models[arn]
    assert record.params["minMatchingSeedSize"] == 25

    updated, _ = models.update(
        "Configured", model_properties(endpoint, Description="second", MinMatchingSeedSize="100")
    )
    assert updated.ok, updated.reason
    assert models.physical_ids["Configured"] == arn  # in place
    record = endpoint.configured_audience_models[arn]
    assert record.params["minMatchingSeedSize"] == 100
    assert record.params["description"] == "second"

    deleted = models.delete("Configured")
    assert deleted.ok, deleted.reason
    assert arn not in endpoint.configured_audience_models


def test_a_new_name_replaces_the_model(models: Stack, endpoint: CleanRoomsMLEndpoint) -> None:
    assert models.create("Configured", model_properties(endpoint, Name="first")).ok
    old = models.physical_ids["Configured"]
    updated, _ = models.update("Configured", model_properties(endpoint, Name="second"))
    assert updated.ok, updated.reason
    assert models.physical_ids["Configured"] != old
    assert old not in endpoint.configured_audience_models  # deleted in cleanup


def test_the_policy_is_put_with_the_models_arn_changed_and_removed(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    )
    assert created.ok, created.reason
    arn = models.physical_ids["Configured"]
    put = json.loads(endpoint.configured_audience_models[arn].policy or "{}")
    assert put["Statement"][0]["Resource"] == arn

    wider = {
        **POLICY,
        "Statement": [*POLICY["Statement"], {**POLICY["Statement"][0], "Sid": "Two"}],
    }
    widened, _ = models.update(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=wider)
    )
    assert widened.ok, widened.reason
    assert (
        len(json.loads(endpoint.configured_audience_models[arn].policy or "{}")["Statement"]) == 2
    )

    removed, _ = models.update("Configured", model_properties(endpoint))
    assert removed.ok, removed.reason
    assert endpoint.configured_audience_models[arn].policy is None


def test_a_policy_changed_outside_cloudformation_is_not_overwritten(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    assert models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    ).ok
    arn = models.physical_ids["Configured"]
    someone_elses = {**POLICY, "Statement": [{**POLICY["Statement"][0], "Resource": arn}] * 2}
    aws.client().put_configured_audience_model_policy(
        configuredAudienceModelArn=arn, configuredAudienceModelPolicy=json.dumps(someone_elses)
    )

    updated, _ = models.update("Configured", model_properties(endpoint))

    assert not updated.ok
    assert "changed outside CloudFormation" in updated.reason
    assert json.loads(endpoint.configured_audience_models[arn].policy or "") == someone_elses
