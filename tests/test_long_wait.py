"""Waits beyond the hour: the custom resource hands the wait to a loop that signals a WaitCondition.

The custom resource runs through the real Provider framework (``Stack``); the loop is played here
as the stack's long-wait state machine runs it: the execution the handler started (recorded by
the local Step Functions double) calls ``index.watch`` with its input, waits the ``WaitSeconds``
it returns on a virtual clock, and calls it again until it is ``Done``. The WaitCondition's handle
is the local double's URL, where the signal lands.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import index
import pytest
from cleanrooms.engine import aws, limits, long_wait, properties
from cleanrooms.kinds.audience_generation_job import KIND as JOB
from cleanrooms.kinds.audience_model import KIND as MODEL
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault, ManualClock
from cloudformation import Stack
from local_endpoint import local_endpoint
from long_wait_endpoints import StepFunctionsEndpoint, WaitConditionHandles
from provider_runtime import RealProviderFramework
from test_audience_model_handler import DATASET, FAILING, model_properties
from test_handler import SQL, SQL_PARAMETER, sql_seed
from test_handler import properties as job_properties

HOUR = 3600
TRAINING = 3 * HOUR
GET_MODEL = "GetAudienceModel"


class VirtualTime:
    """``time`` as the long wait sees it: the endpoint's manual clock, from a fixed epoch."""

    EPOCH = 1_790_000_000.0

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def time(self) -> float:
        return self.EPOCH + self.clock()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def endpoint(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[CleanRoomsMLEndpoint]:
    """Training takes 3 hours on the manual clock; deletion is immediate."""
    with local_endpoint(
        clock=clock, create_duration=30 * 60, training_duration=TRAINING, delete_duration=0
    ) as local:
        local.add_training_dataset(DATASET)
        local.add_training_dataset(
            FAILING, fail_training=("INSUFFICIENT_DATA", "Not enough rows to train a model")
        )
        monkeypatch.setattr(long_wait, "time", VirtualTime(clock))
        yield local


@dataclass
class Waits:
    """The long wait's outside world: the manual clock, the Step Functions double (which records
    the executions the handler starts) and the WaitCondition handles (which record signals)."""

    clock: ManualClock
    states: StepFunctionsEndpoint
    handles: WaitConditionHandles

    def play(self, number: int = 0) -> tuple[dict[str, Any], list[int]]:
        """Run the ``number``-th execution to its end, as the state machine does: its last
        output, and every wait on the clock."""
        payload: dict[str, Any] = dict(self.states.executions[number].input)
        waited: list[int] = []
        for _ in range(1000):
            payload = index.watch(payload)
            if payload["Done"]:
                return payload, waited
            waited.append(payload["WaitSeconds"])
            self.clock.advance(payload["WaitSeconds"])
        raise AssertionError("the loop never ended")


@pytest.fixture
def waits(endpoint: CleanRoomsMLEndpoint, clock: ManualClock) -> Waits:
    states, handles = StepFunctionsEndpoint.running(), WaitConditionHandles.running()
    assert states is not None and handles is not None, "local_endpoint() runs them"
    return Waits(clock, states, handles)


def stack_of(resource_type: str) -> Stack:
    return Stack(
        RealProviderFramework(index, query_interval=0.01, total_timeout=30),
        resource_type=resource_type,
    )


def long_model(handle: str, **overrides: Any) -> dict[str, Any]:
    return model_properties(
        **{"WaitTimeoutSeconds": 12 * HOUR, "WaitConditionHandle": handle, **overrides}
    )


def test_a_model_training_for_hours_completes_the_resource_then_signals_when_active(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()

    created = models.create("Model", long_model(handle))

    assert created.ok, created.reason
    arn = created.physical_id
    assert endpoint.audience_models[arn].status == "CREATE_PENDING", "did not wait for training"
    (execution,) = waits.states.executions
    assert execution.input["Arn"] == arn and execution.input["Handle"] == handle
    assert set(execution.input) == {
        "ResourceType",
        "Arn",
        "Name",
        "Handle",
        "WaitTimeoutSeconds",
        "Deadline",
        "Checks",
    }, "no property of the resource travels with the loop"
    assert waits.handles.signals(handle) == []

    endpoint.clear_calls()
    output, pauses = waits.play(0)

    (signal,) = waits.handles.signals(handle)
    assert (signal.status, signal.data) == ("SUCCESS", arn)
    assert signal.unique_id == created.data["Name"]
    assert output["Status"] == "SUCCESS"
    assert pauses[:5] == [30, 60, 120, 240, 300] and set(pauses[5:]) == {300}
    assert TRAINING <= sum(pauses) < TRAINING + limits.LONG_WAIT_CHECK_SECONDS
    reads = len(endpoint.calls_of(GET_MODEL))
    print(f"\n3 h of training: {reads} GetAudienceModel calls, {reads / 3:.1f} per hour", end="")
    # One read per check: every 5 minutes (12 an hour) once past the first four checks.
    assert reads == len(pauses) + 1 <= TRAINING // limits.LONG_WAIT_CHECK_SECONDS + 5


def test_a_training_that_fails_hours_in_fails_the_wait_with_the_service_s_reason(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()
    created = models.create("Model", long_model(handle, TrainingDatasetArn=FAILING))
    assert created.ok, "the failure comes later, through the WaitCondition"

    waits.play(0)

    (signal,) = waits.handles.signals(handle)
    assert signal.status == "FAILURE"
    assert signal.reason == (
        f"Audience model {created.physical_id} ended CREATE_FAILED: INSUFFICIENT_DATA: "
        "Not enough rows to train a model"
    )
    # CloudFormation rolls the stack back: the model's Delete leaves nothing.
    deleted = models.delete("Model")
    assert deleted.ok, deleted.reason
    assert created.physical_id not in endpoint.audience_models


def test_a_training_past_the_timeout_is_reported_just_before_the_wait_condition_times_out(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()
    timeout = 2 * HOUR
    created = models.create("Model", long_model(handle, WaitTimeoutSeconds=timeout))

    _, pauses = waits.play(0)

    (signal,) = waits.handles.signals(handle)
    assert signal.status == "FAILURE"
    assert f"is still CREATE_IN_PROGRESS after WaitTimeoutSeconds={timeout}" in signal.reason
    assert "Raise wait_timeout" in signal.reason
    waited = sum(pauses)
    assert timeout - limits.LONG_WAIT_MARGIN_SECONDS <= waited < timeout, "before CloudFormation"
    assert created.physical_id in endpoint.audience_models, "the rollback deletes it, not the loop"


def test_a_second_start_of_the_same_wait_is_the_same_execution(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    """A redelivered Create adopts the same model and starts its wait again: one execution."""
    handle = "https://example.com/cloudformation-waitcondition/x?X-Amz-Signature=s"
    props = long_model(handle)
    event = {"StackId": "arn:aws:cloudformation:us-east-1:1:stack/S/1", "LogicalResourceId": "M"}
    parsed = properties.parse(MODEL, props, aws.input_shape("cleanroomsml", "CreateAudienceModel"))

    long_wait.start(MODEL, event, "arn:model", "name", parsed)
    waits.clock.advance(60)  # another Deadline: another input, refused as ExecutionAlreadyExists
    long_wait.start(MODEL, event, "arn:model", "name", parsed)

    assert len(waits.states.executions) == 1
    assert len(waits.states.calls_of("StartExecution")) == 2


def test_a_model_deleted_during_the_wait_ends_it_with_a_failure(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()
    arn = models.create("Model", long_model(handle)).physical_id
    waits.clock.advance(TRAINING)  # trained: someone deletes it before the first check
    aws.client().delete_audience_model(audienceModelArn=arn)

    waits.play(0)

    (signal,) = waits.handles.signals(handle)
    assert signal.status == "FAILURE" and "no longer exists" in signal.reason


def test_throttled_reads_and_a_lost_signal_are_tried_again(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()
    models.create("Model", long_model(handle))
    endpoint.inject(GET_MODEL, Fault.throttle(), times=9)  # 3 checks' worth of botocore retries
    waits.handles.inject("Signal", Fault.server_error(503, "SlowDown"), times=1)

    _, pauses = waits.play(0)

    (signal,) = waits.handles.signals(handle)
    assert signal.status == "SUCCESS"
    assert len(waits.handles.calls_of("Signal")) == 2
    assert pauses[-1] == 30, "the signal is put again after 30 s"


def test_a_handle_that_refuses_ends_the_loop(endpoint: CleanRoomsMLEndpoint, waits: Waits) -> None:
    """Its WaitCondition is gone (a rollback deleted it): nothing waits, the loop ends."""
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()
    models.create("Model", long_model(handle))
    waits.handles.refuse(handle)

    output, _ = waits.play(0)

    assert output["Done"] and waits.handles.signals(handle) == []


def test_without_its_state_machine_the_create_fails_naming_it_and_leaves_nothing(
    endpoint: CleanRoomsMLEndpoint, waits: Waits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(long_wait.STATE_MACHINE_ENV)
    models = stack_of(MODEL.resource_type)

    created = models.create("Model", long_model(waits.handles.new_handle()))

    assert not created.ok
    assert long_wait.STATE_MACHINE_ENV in created.reason
    assert MODEL.is_arn(created.physical_id), "the model's ARN reached CloudFormation"
    # The service deletes no model in training: the Delete waits for it.
    waits.clock.advance(TRAINING)
    rollback = models.rollback_create("Model", created, long_model(waits.handles.new_handle()))
    assert rollback.ok, rollback.reason
    assert created.physical_id not in endpoint.audience_models


def test_a_new_wait_condition_for_the_same_model_is_signaled_at_once(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    """A changed wait setting makes a new WaitCondition: it waits for the model kept in place."""
    models, first, second = (
        stack_of(MODEL.resource_type),
        waits.handles.new_handle(),
        waits.handles.new_handle(),
    )
    arn = models.create("Model", long_model(first)).physical_id
    waits.play(0)

    updated, _ = models.update("Model", long_model(second, WaitTimeoutSeconds=6 * HOUR))

    assert updated.ok and updated.physical_id == arn
    output, pauses = waits.play(1)
    assert pauses == [] and output["Status"] == "SUCCESS"
    assert [s.data for s in waits.handles.signals(second)] == [arn]


def test_a_model_of_an_earlier_release_gets_its_wait_condition_in_place(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    """Its template had no WaitCondition (the wait was the custom resource's): this release adds
    one, with the 12-hour default, and keeps the trained model."""
    models = stack_of(MODEL.resource_type)
    arn = models.create("Model", model_properties(WaitForCompletion=False)).physical_id
    waits.clock.advance(TRAINING)
    handle = waits.handles.new_handle()

    updated, cleanup = models.update("Model", long_model(handle))

    assert updated.ok and updated.physical_id == arn and cleanup is None
    output, pauses = waits.play(0)
    assert pauses == [] and output["Status"] == "SUCCESS"
    assert endpoint.calls_of("CreateAudienceModel")[1:] == [], "nothing retrained"


def test_a_job_that_runs_for_hours_waits_the_same_way_and_no_secret_travels(
    endpoint: CleanRoomsMLEndpoint, waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    endpoint.create_duration = 2 * HOUR
    jobs, handle = stack_of(JOB.resource_type), waits.handles.new_handle()
    job_props = job_properties(
        endpoint, SeedAudience=sql_seed(), WaitTimeoutSeconds=4 * HOUR, WaitConditionHandle=handle
    )

    created = jobs.create("Job", job_props)
    output, _ = waits.play(0)

    assert created.ok, created.reason
    assert output["Status"] == "SUCCESS"
    assert [s.data for s in waits.handles.signals(handle)] == [created.physical_id]
    inputs = json.dumps([e.raw_input for e in waits.states.executions])
    for secret in (SQL, SQL_PARAMETER):
        assert secret not in inputs + caplog.text
    assert "handle-secret" not in caplog.text, "the handle's URL signs signals: never logged"


def test_a_failure_quoting_a_sensitive_value_reaches_no_reason_or_log(
    endpoint: CleanRoomsMLEndpoint, waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    """The service's message may quote a SQL parameter; the loop holds no properties, so it
    masks what the job as read holds that the service model marks sensitive."""
    caplog.set_level(logging.INFO)
    endpoint.next_create_outcome("CREATE_FAILED", "INVALID_QUERY", f"bad value {SQL_PARAMETER}")
    jobs, handle = stack_of(JOB.resource_type), waits.handles.new_handle()
    job_props = job_properties(
        endpoint, SeedAudience=sql_seed(), WaitTimeoutSeconds=4 * HOUR, WaitConditionHandle=handle
    )
    jobs.create("Job", job_props)

    waits.play(0)

    (signal,) = waits.handles.signals(handle)
    assert signal.status == "FAILURE" and "INVALID_QUERY: bad value ***" in signal.reason
    assert SQL_PARAMETER not in signal.reason + caplog.text


def test_a_replacement_that_keeps_its_wait_condition_says_so_when_it_times_out(
    endpoint: CleanRoomsMLEndpoint, waits: Waits
) -> None:
    """Replaced for a value it refers to (which synth cannot see), it keeps its handle and waits
    within its custom resource; the failure says how to give it a new WaitCondition."""
    models, handle = stack_of(MODEL.resource_type), waits.handles.new_handle()
    old = models.create("Model", long_model(handle, WaitTimeoutSeconds=2))
    waits.play(0)

    waiter = models.begin_update(
        "Model", long_model(handle, WaitTimeoutSeconds=2, TrainingDatasetArn=FAILING)
    )
    replaced = models.wait_open(waiter)  # (its rollback is the model handler tests' matter)

    assert not replaced.ok and replaced.physical_id != old.physical_id
    assert "This replacement kept its WaitCondition" in replaced.reason
    assert "Change one of its own properties too" in replaced.reason
    assert len(waits.states.executions) == 1, "no loop for the replacement"


def test_a_longer_wait_without_a_handle_is_refused_before_any_call(
    endpoint: CleanRoomsMLEndpoint,
) -> None:
    models = stack_of(MODEL.resource_type)

    created = models.create("Model", model_properties(WaitTimeoutSeconds=2 * HOUR))

    assert not created.ok
    assert "WaitTimeoutSeconds: must be 1 to 3240, got 7200 (a longer wait goes through a " in (
        created.reason
    )
    assert endpoint.calls_of("CreateAudienceModel") == []
