"""The AudienceModel kind through the real Provider framework and the local Clean Rooms ML double.

Training is asynchronous: the resource completes once the model is ACTIVE (with WaitForCompletion),
fails with the service's status code and message when training fails, and the rollback removes
the model. No Update API: a change replaces the model, tags change in place.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import index
import pytest
from cleanrooms.engine import aws, lifecycle, limits
from cleanrooms.kinds.audience_model import KIND as MODEL
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import Stack
from provider_runtime import RealProviderFramework

DATASET = "arn:aws:cleanrooms-ml:us-east-1:123456789012:training-dataset/customers"
FAILING = "arn:aws:cleanrooms-ml:us-east-1:123456789012:training-dataset/too-small"
CREATE = "CreateAudienceModel"
DELETE = "DeleteAudienceModel"


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


# ------------------------------------------- cancelled, redelivered, failed, vanished, kept


def test_a_create_cancelled_while_training_leaves_no_model_and_deletes_no_other(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """A sibling failed: CloudFormation cancels the create and sends Delete with an id it made
    up. The model in training is found by its ownership tag and deleted once the service lets
    it (no delete while training); another resource's model of the same properties stays, and
    so does one registered by hand."""
    props = model_properties()
    kept = models.create("Kept", props).physical_id
    registered = endpoint.arn("audience-model/registered-by-hand")
    endpoint.add_audience_model(registered, training_dataset_arn=DATASET)
    endpoint.training_duration = 0.5
    waiter = models.begin_create("Model", props)
    (arn,) = set(trained(endpoint)) - {kept, registered}
    assert endpoint.audience_models[arn].status.startswith("CREATE_"), "still training"

    deleted = models.cancel_create("Model", props, waiter)
    answer = models.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert not MODEL.is_arn(deleted.physical_id), "CloudFormation's own id, no model's"
    assert waiter.request.cancelled and waiter.request.ignored == [answer]
    assert sorted(trained(endpoint)) == sorted([kept, registered])
    assert {call["audienceModelArn"] for call in endpoint.calls_of(DELETE)} == {arn}
    assert len(endpoint.calls_of(CREATE)) == 2, "Kept's, and the cancelled one's"


def test_a_create_redelivered_during_training_trains_one_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.training_duration = 0.3
    first = models.begin_create("Model", model_properties())
    second = models.redeliver(first)  # the same event (same RequestId) once more

    answered = models.wait_open(first)
    late = models.wait_open(second)

    assert answered.ok and late.ok, (answered.reason, late.reason)
    arn = answered.physical_id
    assert MODEL.is_arn(arn) and late.physical_id == arn
    assert first.request.ignored == [late], "CloudFormation took the first answer"
    assert trained(endpoint) == [arn]
    assert endpoint.audience_models[arn].status == "ACTIVE"
    assert endpoint.calls_of(DELETE) == []


def test_a_training_failed_in_flight_names_the_service_s_reason_and_the_rollback_removes_it(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.training_duration = 0.5
    waiter = models.begin_create("Model", model_properties())
    (arn,) = trained(endpoint)
    endpoint.fail_training(arn, "INSUFFICIENT_OVERLAP", "Too few seed users in the window")

    failed = models.wait_open(waiter)
    rollback = models.follow_up(waiter)

    assert failed.status == "FAILED" and failed.physical_id == arn, failed
    assert (
        f"{arn} ended CREATE_FAILED: INSUFFICIENT_OVERLAP: Too few seed users in the window"
        in failed.reason
    ), failed.reason
    assert rollback is not None and rollback.ok, rollback
    assert trained(endpoint) == []
    assert [call["audienceModelArn"] for call in endpoint.calls_of(DELETE)] == [arn]


def test_a_retraining_that_fails_is_removed_and_the_old_model_kept(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties()
    old = models.create("Model", props).physical_id

    updated, rollback = models.update("Model", {**props, "TrainingDatasetArn": FAILING})

    assert not updated.ok
    assert "ended CREATE_FAILED: INSUFFICIENT_DATA: Not enough rows to train a model" in (
        updated.reason
    )
    assert rollback is not None and rollback.ok and rollback.physical_id == old, rollback
    assert trained(endpoint) == [old] and models.physical_ids["Model"] == old
    assert endpoint.audience_models[old].status == "ACTIVE"
    assert old not in {call["audienceModelArn"] for call in endpoint.calls_of(DELETE)}


def test_delete_of_a_model_deleted_outside_cloudformation_succeeds_twice(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Model", model_properties()).physical_id
    aws.client().delete_audience_model(audienceModelArn=arn)
    event = models.event("Delete", "Model", model_properties(), PhysicalResourceId=arn)

    first = models.framework.deliver(event)
    again = models.framework.deliver(event)

    assert first.ok and again.ok, (first.reason, again.reason)
    assert arn not in endpoint.audience_models
    assert len(endpoint.calls_of(DELETE)) == 1, "only the one made outside CloudFormation"


def test_a_model_kept_by_retain_is_not_touched_when_its_pinned_name_is_created_again(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """RemovalPolicy.RETAIN, removed from the app, later added again with the same Name: the
    create fails on the name, and its rollback Delete leaves the kept model alone."""
    props = model_properties(Name="lookalike-base")
    kept = models.create("Model", props).physical_id
    models.remove_retained("Model")
    before = endpoint.audience_models[kept]

    readded = models.create("Model", props)
    rollback = models.rollback_create("Model", readded, props)

    assert not readded.ok and "already exists" in readded.reason, readded.reason
    assert rollback.ok, rollback.reason
    after = endpoint.audience_models[kept]
    assert (after.status, after.tags) == ("ACTIVE", before.tags)
    assert trained(endpoint) == [kept]
    assert endpoint.calls_of(DELETE) == []


def test_a_cancelled_create_does_not_delete_a_model_kept_by_retain_earlier(
    models: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same logical id and properties, generated names: the cancelled create's Delete finds
    models by ownership tag, and only one made within its wait (an hour; a second here) is the
    cancelled create's."""
    monkeypatch.setattr(limits, "DELETE_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(limits, "SETTLE_GRACE_SECONDS", 0.0)
    props = model_properties()
    kept = models.create("Model", props).physical_id
    models.remove_retained("Model")
    time.sleep(1.2)  # the kept model is older than the cancelled create's wait
    endpoint.training_duration = 0.3
    waiter = models.begin_create("Model", props)
    (arn,) = set(trained(endpoint)) - {kept}

    deleted = models.cancel_create("Model", props, waiter)
    models.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert trained(endpoint) == [kept]
    assert endpoint.audience_models[kept].status == "ACTIVE"
    assert {call["audienceModelArn"] for call in endpoint.calls_of(DELETE)} == {arn}


def test_a_cancelled_create_within_the_hour_does_not_delete_a_model_kept_by_retain(
    models: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made by an earlier stack operation: older than the one that cancelled this create. (The
    deployments here are a moment apart, not minutes: the clocks' tolerance is narrowed to fit.)"""
    monkeypatch.setattr(lifecycle, "CLOCK_TOLERANCE", timedelta(milliseconds=20))
    props = model_properties()
    kept = models.create("Model", props).physical_id
    models.remove_retained("Model")  # a deployment drops it from the template; RETAIN keeps it
    endpoint.training_duration = 0.3
    waiter = models.begin_create("Model", props)  # the next deployment adds it again...
    (arn,) = set(trained(endpoint)) - {kept}

    deleted = models.cancel_create("Model", props, waiter)  # ...and a sibling fails
    models.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert trained(endpoint) == [kept], "the model kept by RETAIN is gone"
    assert {call["audienceModelArn"] for call in endpoint.calls_of(DELETE)} == {arn}


def test_a_training_outlasting_the_wait_fails_and_its_rollback_deletes_it_once_trained(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """The service refuses to delete a model in training: the rollback's Delete waits for the
    training to end, then deletes it."""
    endpoint.training_duration = 1.5
    props = model_properties(WaitTimeoutSeconds=1)

    created = models.create("Model", props)
    rollback = models.rollback_create("Model", created, props)

    assert not created.ok and MODEL.is_arn(created.physical_id), created
    assert (
        f"Audience model {created.physical_id} is still CREATE_IN_PROGRESS after "
        "WaitTimeoutSeconds=1"
    ) in created.reason, created.reason
    assert rollback.ok, rollback.reason
    assert trained(endpoint) == []
    assert {call["audienceModelArn"] for call in endpoint.calls_of(DELETE)} == {created.physical_id}
