"""The AudienceModel kind through the real Provider framework and the local Clean Rooms ML double.

Training is asynchronous: the resource completes once the model is ACTIVE (with WaitForCompletion),
fails with the service's status code and message when training fails, and the rollback removes
the model. No Update API: a change replaces the model, tags change in place.
"""

from __future__ import annotations

from typing import Any

import index
import pytest
from cleanrooms.kinds.audience_model import KIND as MODEL
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import Stack
from provider_runtime import RealProviderFramework

DATASET = "arn:aws:cleanrooms-ml:us-east-1:123456789012:training-dataset/customers"
FAILING = "arn:aws:cleanrooms-ml:us-east-1:123456789012:training-dataset/too-small"
CREATE = "CreateAudienceModel"


@pytest.fixture
def models(endpoint: CleanRoomsMLEndpoint) -> Stack:
    endpoint.add_training_dataset(DATASET)
    endpoint.add_training_dataset(
        FAILING, fail_training=("INSUFFICIENT_DATA", "Not enough rows to train a model")
    )
    return Stack(
        RealProviderFramework(index, query_interval=0.01, total_timeout=30),
        resource_type=MODEL.resource_type,
    )


def trained(endpoint: CleanRoomsMLEndpoint) -> list[str]:
    """The models the handler trained that are not on their way out (not the double's default)."""
    return [
        arn
        for arn, model in endpoint.audience_models.items()
        if arn != endpoint.default_audience_model_arn and not model.status.startswith("DELETE_")
    ]


def model_properties(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "TrainingDatasetArn": DATASET,
        "TrainingDataStartTime": "2026-01-01T00:00:00Z",
        "TrainingDataEndTime": "2026-06-30T23:59:59+00:00",
        "WaitForCompletion": True,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def test_create_waits_for_the_trained_model_and_delete_removes_it(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = models.create("Model", model_properties(Description="spring"))

    assert created.ok, created.reason
    arn = models.physical_ids["Model"]
    assert MODEL.is_arn(arn) and models.data["Model"]["AudienceModelArn"] == arn
    model = endpoint.audience_models[arn]
    assert model.status == "ACTIVE"
    (request,) = endpoint.calls_of(CREATE)
    assert request["trainingDataStartTime"].startswith("2026-01-01")
    assert request["description"] == "spring" and request["tags"]["team"] == "ml"

    deleted = models.delete("Model")

    assert deleted.ok, deleted.reason
    assert arn not in endpoint.audience_models


def test_a_failed_training_fails_with_the_service_s_reason_and_leaves_no_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = models.create("Model", model_properties(TrainingDatasetArn=FAILING))

    assert not created.ok
    assert "ended CREATE_FAILED: INSUFFICIENT_DATA: Not enough rows to train a model" in (
        created.reason
    )
    rollback = models.rollback_create("Model", created, model_properties())
    assert rollback.ok, rollback.reason
    assert trained(endpoint) == []


def test_any_change_but_tags_trains_a_new_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties()
    old = models.create("Model", props).physical_id

    retagged, _ = models.update("Model", {**props, "Tags": [{"Key": "stage", "Value": "prod"}]})
    assert retagged.ok and models.physical_ids["Model"] == old
    assert endpoint.audience_models[old].tags.get("stage") == "prod"

    replaced, cleanup = models.update(
        "Model", {**props, "TrainingDataEndTime": "2026-07-31T00:00:00Z"}
    )

    assert replaced.ok, replaced.reason
    new = models.physical_ids["Model"]
    assert new != old and cleanup is not None and cleanup.ok
    assert len(endpoint.calls_of(CREATE)) == 2


def test_a_pinned_name_cannot_be_reused_by_its_replacement(models: Stack) -> None:
    props = model_properties(Name="lookalike-base")
    assert models.create("Model", props).ok

    updated, rollback = models.update("Model", {**props, "Description": "retrained"})

    assert not updated.ok
    assert updated.reason.startswith(
        "Name: changing Description needs a new audience model, and audience model names are "
        "unique per account"
    ), updated.reason
    assert rollback is not None and rollback.ok


def test_a_create_whose_answer_was_lost_adopts_the_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.inject(CREATE, Fault.after_success(), times=None)

    created = models.create("Model", model_properties())

    endpoint.clear_faults()
    assert created.ok, created.reason
    assert trained(endpoint) == [models.physical_ids["Model"]]


def test_without_waiting_the_resource_completes_while_training(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = models.create("Model", model_properties(WaitForCompletion="false"))

    assert created.ok, created.reason
    assert endpoint.audience_models[models.physical_ids["Model"]].status != "CREATE_FAILED"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"TrainingDataStartTime": "2026-01-01"},
            "TrainingDataStartTime: must be an ISO 8601 date and time with its offset",
        ),
        (
            {"TrainingDataEndTime": "yesterday"},
            "TrainingDataEndTime: must be an ISO 8601 date and time with its offset",
        ),
        (
            {"TrainingDataEndTime": "2025-12-31T00:00:00Z"},
            "TrainingDataEndTime: must be after TrainingDataStartTime (2026-01-01T00:00:00Z)",
        ),
        (
            {"TrainingDatasetArn": "arn:aws:s3:::training-data-bucket"},
            "TrainingDatasetArn: must match the pattern",
        ),
        ({"KmsKeyArn": "alias/mine"}, "KmsKeyArn: must be 20 to 2048 characters"),
        ({"WaitTimeoutSeconds": "7200"}, "WaitTimeoutSeconds: must be 1 to 3240, got 7200"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    models: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    created = models.create("Model", model_properties(**overrides))

    assert not created.ok
    assert created.reason.startswith(message), created.reason
    assert endpoint.calls_of(CREATE) == []
