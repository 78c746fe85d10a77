"""Lifecycle under faults: no fault loses a job, and none leaves one behind that no one owns.

Every test plays CloudFormation (``tests/cloudformation.py``) around the CDK Provider framework's
own runtime (``tests/provider_runtime.py``) against the local Clean Rooms ML endpoint, with faults
injected into its answers. A job is *orphaned* when it exists in the account while no physical id
that CloudFormation holds names it (its ARN, or the pending id that carries its name) and no
Delete is taking it away.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import index
import pytest
from cleanrooms.engine import aws, limits
from cleanrooms.engine.identity import pending_id, pending_name
from cleanrooms.kinds.audience_generation_job import KIND as JOB
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import CREATE_FAILED_MARKER, RESPONSE_URL, Response, Stack
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from local_endpoint import local_endpoint
from provider_runtime import RealProviderFramework
from test_handler import ROLE, SQL, SQL_PARAMETER, properties, sql_seed

START = "StartAudienceGenerationJob"
GET = "GetAudienceGenerationJob"
DELETE = "DeleteAudienceGenerationJob"
LIST = "ListAudienceGenerationJobs"
TAG = "TagResource"
UNTAG = "UntagResource"
OPERATIONS = (START, GET, LIST, TAG, UNTAG, DELETE)
MUTATING = (START, TAG, UNTAG, DELETE)
KB10 = 10 * 1024


# --------------------------------------------------------------------------------- helpers


class StrictHandler(ModuleType):
    """The handler module as the framework sees it, noting any error other than HandlerError."""

    def __init__(self) -> None:
        super().__init__("strict_index")
        self.unexpected: list[str] = []

    def on_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        return self._call(index.on_event, event, context)

    def is_complete(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        return self._call(index.is_complete, event, context)

    def _call(
        self,
        entry: Callable[[Mapping[str, Any], Any], dict[str, Any]],
        event: Mapping[str, Any],
        context: Any,
    ) -> dict[str, Any]:
        try:
            return entry(event, context)
        except index.HandlerError:
            raise
        except Exception as error:
            self.unexpected.append(f"{entry.__name__}({event['RequestType']}): {error!r}")
            raise


def create_in_parallel(
    stack: Stack, creates: Sequence[tuple[str, Mapping[str, Any]]], *, interval: float = 0.01
) -> list[Response]:
    """CloudFormation's parallel creates: every ``on_event`` first, then the waiters in turn.

    Each request is opened with ``begin_create`` (the framework's onEvent, which starts a waiter)
    and then polled one ``isComplete`` at a time, as the waiters of a stack run side by side.
    """
    waiters = [stack.begin_create(logical_id, props) for logical_id, props in creates]
    while any(waiter.response is None for waiter in waiters):
        for waiter in waiters:
            stack.poll_open(waiter)
        time.sleep(interval)
    return [waiter.response for waiter in waiters if waiter.response is not None]


def quota_opens_on_first_wait(endpoint: CleanRoomsMLEndpoint) -> Callable[[float], None]:
    """A framework ``sleep`` that gives the account its quota back after the first poll."""
    quota = endpoint.quota

    def sleep(seconds: float) -> None:
        endpoint.quota = quota
        time.sleep(seconds)

    endpoint.quota = 0
    return sleep


def unaccounted(endpoint: CleanRoomsMLEndpoint, held: set[str]) -> list[str]:
    """Jobs that exist, are not being deleted, and that no physical id in ``held`` names."""
    return [
        f"{job.name} {job.status} {job.arn}"
        for job in endpoint.live_jobs().values()
        if not job.status.startswith("DELETE_")
        and job.arn not in held
        and job.name not in {pending_name(physical_id) for physical_id in held}
    ]


def gone_or_going(endpoint: CleanRoomsMLEndpoint, arn: str) -> bool:
    job = endpoint.jobs[arn]
    return job.gone or job.status.startswith("DELETE_")


def assert_clear_failure(response: Response) -> None:
    """FAILED with a message within the handler's cap, and no traceback in the whole Reason."""
    assert response.status == "FAILED"
    assert response.reason.strip(), "a FAILED response needs a reason"
    assert len(response.reason) <= limits.MAX_REASON_BYTES, len(response.reason)
    assert "Traceback" not in response.raw_reason


def delete_event(
    stack: Stack, logical_id: str, physical_id: str, props: Mapping[str, Any]
) -> dict[str, Any]:
    return stack.event("Delete", logical_id, props, PhysicalResourceId=physical_id)


# ------------------------------------------------------------- 3. throttling past the budget


def test_throttling_beyond_the_retry_budget_on_every_operation(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    for operation in OPERATIONS:
        endpoint.inject(operation, Fault.throttle(), times=5)
    # Then a Start whose answer is lost: its retry meets ConflictException, and the job that the
    # lost Start made is found by name (List, throttled too) and adopted.
    endpoint.inject(START, Fault.after_success())

    created = stack.create("Lookalikes", properties(endpoint, Tags=[{"Key": "a", "Value": "1"}]))

    assert created.ok, created.reason
    arn = created.physical_id
    assert JOB.is_arn(arn)
    assert list(endpoint.jobs) == [arn], "exactly one job was started"
    assert endpoint.jobs[arn].status == "ACTIVE"

    updated, follow_up = stack.update(
        "Lookalikes", properties(endpoint, Tags=[{"Key": "b", "Value": "2"}])
    )

    assert updated.ok, updated.reason
    assert (updated.physical_id, follow_up) == (arn, None)
    tags = endpoint.jobs[arn].tags
    assert tags["b"] == "2" and "a" not in tags

    deleted = stack.delete("Lookalikes")

    assert deleted.ok, deleted.reason
    assert endpoint.live_jobs() == {}
    assert len(endpoint.jobs) == 1, "nothing else was ever started"
    for operation in OPERATIONS:
        assert len(endpoint.calls_of(operation)) > 5, f"all five throttles of {operation} served"


def test_replacement_survives_throttling_beyond_the_retry_budget(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    old = stack.create("Lookalikes", properties(endpoint)).physical_id
    for operation in (START, GET, LIST, DELETE):
        endpoint.inject(operation, Fault.throttle(), times=5)

    updated, cleanup = stack.update("Lookalikes", properties(endpoint, Description="new"))

    assert updated.ok, updated.reason
    assert JOB.is_arn(updated.physical_id) and updated.physical_id != old
    assert cleanup is not None and cleanup.ok, cleanup
    assert list(endpoint.live_jobs()) == [updated.physical_id]
    assert len(endpoint.jobs) == 2, "one replacement job, no more"


# ------------------------------------------------------------------------------- 4. quota


def test_thirty_parallel_creates_with_a_quota_of_ten(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    duration, count = 1.0, 30  # long enough that the 11th Start always finds the quota full
    endpoint.quota, endpoint.create_duration = 10, duration
    creates = [(f"Job{i}", properties(endpoint)) for i in range(count)]

    began = time.monotonic()
    responses = create_in_parallel(stack, creates)
    took = time.monotonic() - began

    ideal = math.ceil(count / endpoint.quota) * duration
    print(f"\n{count} jobs, quota {endpoint.quota}, {duration} s each: {took:.2f} s", end="")
    print(f" (ideal ceil({count}/{endpoint.quota}) x {duration} s = {ideal:.2f} s)")
    assert [r.status for r in responses] == ["SUCCESS"] * count, [r.reason for r in responses]
    arns = [response.physical_id for response in responses]
    assert all(JOB.is_arn(arn) for arn in arns)
    assert len(set(arns)) == count
    assert sorted(endpoint.jobs) == sorted(arns), "one job per resource, no duplicate"
    assert {job.status for job in endpoint.jobs.values()} == {"ACTIVE"}
    assert [r.data["AudienceGenerationJobArn"] for r in responses] == arns
    refused = len(endpoint.calls_of(START)) - count
    assert refused > 0, "the quota was really hit"
    assert took < count * duration, "slower than starting the jobs one at a time"


# ------------------------------------------------------------------------- 5. CREATE_FAILED


def test_create_failed_after_a_quota_wait_is_rolled_back_by_its_pending_id(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    stack.framework.sleep = quota_opens_on_first_wait(endpoint)
    endpoint.next_create_outcome("CREATE_FAILED", "INSUFFICIENT_SEED", "too few matching users")
    props = properties(endpoint)

    response = stack.create("Lookalikes", props)

    assert response.status == "FAILED"
    name = pending_name(response.physical_id)
    assert name is not None, f"on_event reported a pending id, got {response.physical_id!r}"
    (job,) = endpoint.jobs.values()
    assert job.name == name
    assert f"Job {job.arn} ended CREATE_FAILED: INSUFFICIENT_SEED: too few matching users" in (
        response.reason
    )

    rollback = stack.rollback_create("Lookalikes", response, props)

    assert rollback.ok, rollback.reason
    assert endpoint.live_jobs() == {}


# ------------------------------------------------------------------- 6. stuck past the wait


def _create_stuck(stack: Stack, endpoint: CleanRoomsMLEndpoint) -> Response:
    endpoint.stick_next_create()
    began = time.monotonic()
    response = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1))
    took = time.monotonic() - began
    assert response.status == "FAILED"
    assert JOB.is_arn(response.physical_id)
    assert "Operation timed out" not in response.reason
    assert f"Job {response.physical_id} is still CREATE_IN_PROGRESS after WaitTimeoutSeconds=1" in (
        response.reason
    )
    assert took < stack.framework.total_timeout / 2, "the handler fails long before the framework"
    return response


def test_rollback_delete_waits_for_a_job_that_leaves_create_in_progress(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    failed = _create_stuck(stack, endpoint)
    arn = failed.physical_id
    finishes = threading.Timer(0.3, endpoint.set_job_status, args=(arn, "ACTIVE"))
    finishes.start()
    try:
        rollback = stack.rollback_create(
            "Lookalikes", failed, properties(endpoint, WaitTimeoutSeconds=1)
        )
    finally:
        finishes.cancel()
        finishes.join()

    assert rollback.ok, rollback.reason
    assert endpoint.live_jobs() == {}
    assert len(endpoint.calls_of(DELETE)) > 1, "the first Delete met ConflictException"


@pytest.fixture
def delete_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    """A Delete's own deadline cut from 54 minutes to one second (it ignores WaitTimeoutSeconds)."""
    monkeypatch.setattr(limits, "DELETE_TIMEOUT_SECONDS", 1)
    return 1.0


def test_rollback_delete_of_a_job_stuck_forever_fails_after_its_deadline(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, delete_deadline: float
) -> None:
    failed = _create_stuck(stack, endpoint)
    arn = failed.physical_id

    began = time.monotonic()
    rollback = stack.rollback_create(
        "Lookalikes", failed, properties(endpoint, WaitTimeoutSeconds=1)
    )
    took = time.monotonic() - began

    assert_clear_failure(rollback)
    assert rollback.physical_id == arn, "CloudFormation keeps the job's ARN"
    assert f"Job {arn} was not deleted" in rollback.reason
    assert "CREATE_IN_PROGRESS" in rollback.reason
    assert 1 <= took < 5, took
    assert endpoint.jobs[arn].status == "CREATE_IN_PROGRESS"


def test_replacement_stuck_past_the_wait_leaves_no_job_behind(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    original = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1)).physical_id
    endpoint.stick_next_create()

    def replacement_finishes() -> None:
        for job in endpoint.jobs.values():
            if job.status.startswith("CREATE_"):
                endpoint.set_job_status(job.arn, "ACTIVE")

    # The update fails after its 1 s wait; the replacement job leaves CREATE_IN_PROGRESS 0.3 s
    # later, while the rollback runs. CloudFormation never sends a Delete for that job.
    finishes = threading.Timer(1.3, replacement_finishes)
    finishes.start()
    try:
        updated, rollback = stack.update(
            "Lookalikes", properties(endpoint, WaitTimeoutSeconds=1, Description="new")
        )
    finally:
        finishes.join()
    time.sleep(endpoint.delete_duration * 2)

    assert_clear_failure(updated)
    replacement = updated.physical_id
    assert JOB.is_arn(replacement) and replacement != original
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == original
    assert gone_or_going(endpoint, replacement), endpoint.jobs[replacement].status
    assert "WaitTimeoutSeconds=1" in updated.reason, "the reason is the wait, not a side effect"


# --------------------------------------------------------------- 7. deletes of vanished jobs


def test_delete_of_a_job_deleted_outside_cloudformation_twice(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = stack.create("Lookalikes", properties(endpoint)).physical_id
    aws.client().delete_audience_generation_job(audienceGenerationJobArn=arn)
    time.sleep(endpoint.delete_duration * 2)
    assert endpoint.live_jobs() == {}
    event = delete_event(stack, "Lookalikes", arn, properties(endpoint))

    first = stack.framework.deliver(event)
    again = stack.framework.deliver(event)

    assert first.ok and again.ok, (first.reason, again.reason)
    assert len(endpoint.calls_of(DELETE)) == 1, "only the one made outside CloudFormation"


def test_delete_of_a_pending_id_whose_job_never_started_twice(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    event = delete_event(
        stack, "Lookalikes", pending_id("Jobs-Lookalikes-0123456789ab"), properties(endpoint)
    )

    first = stack.framework.deliver(event)
    again = stack.framework.deliver(event)

    assert first.ok and again.ok, (first.reason, again.reason)
    assert endpoint.calls_of(DELETE) == []


def test_the_handler_itself_ignores_a_delete_of_the_create_failed_marker(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    # The framework answers this Delete itself; the handler must be as safe without it.
    event = delete_event(stack, "Lookalikes", CREATE_FAILED_MARKER, properties(endpoint))

    for _ in range(2):
        result = index.on_event(copy.deepcopy(event))
        assert result["PhysicalResourceId"] == CREATE_FAILED_MARKER
        assert index.is_complete({**event, **result})["IsComplete"] is True

    assert endpoint.calls == []


# ------------------------------------------------------------ 8. refused and failed deletes


def test_delete_refused_with_conflict_a_few_times_completes(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    stack.create("Lookalikes", properties(endpoint))
    endpoint.inject(DELETE, Fault.error("ConflictException", message="job is busy"), times=3)

    deleted = stack.delete("Lookalikes")

    assert deleted.ok, deleted.reason
    assert endpoint.live_jobs() == {}
    assert len(endpoint.calls_of(DELETE)) == 4


def test_delete_refused_with_conflict_forever_fails_naming_the_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, delete_deadline: float
) -> None:
    arn = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1)).physical_id
    endpoint.inject(DELETE, Fault.error("ConflictException", message="job is busy"), times=None)

    began = time.monotonic()
    deleted = stack.delete("Lookalikes")
    took = time.monotonic() - began

    assert_clear_failure(deleted)
    assert deleted.physical_id == arn
    assert f"Job {arn} was not deleted" in deleted.reason
    assert "ACTIVE" in deleted.reason
    assert 1 <= took < 5, "bounded by the delete deadline, well before the framework's timeout"
    assert stack.physical_ids["Lookalikes"] == arn, "CloudFormation still holds it"


def test_delete_failed_once_succeeds_on_the_next_attempt(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    stack.create("Lookalikes", properties(endpoint))
    endpoint.next_delete_outcome("DELETE_FAILED", "INTERNAL_ERROR", "try again")

    deleted = stack.delete("Lookalikes")

    assert deleted.ok, deleted.reason
    assert endpoint.live_jobs() == {}
    assert len(endpoint.calls_of(DELETE)) == 2


def test_delete_failed_every_time_fails_with_the_status_details(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, delete_deadline: float
) -> None:
    arn = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1)).physical_id
    for _ in range(200):
        endpoint.next_delete_outcome("DELETE_FAILED", "RESOURCE_IN_USE", "an export reads it")

    began = time.monotonic()
    deleted = stack.delete("Lookalikes")
    took = time.monotonic() - began

    assert_clear_failure(deleted)
    assert 1 <= took < 5, took
    assert f"Job {arn} was not deleted" in deleted.reason
    assert "DELETE_FAILED RESOURCE_IN_USE an export reads it" in deleted.reason, deleted.reason


# ---------------------------------------------------------------------------- 9. replacement


def test_replacement_whose_start_waits_for_the_quota_then_cleans_up_the_old_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    old = stack.create("Lookalikes", properties(endpoint)).physical_id
    stack.framework.sleep = quota_opens_on_first_wait(endpoint)

    updated, cleanup = stack.update("Lookalikes", properties(endpoint, Description="new"))

    assert updated.ok, updated.reason
    new = updated.physical_id
    assert JOB.is_arn(new) and new != old
    assert updated.data["AudienceGenerationJobArn"] == new
    assert cleanup is not None and cleanup.ok, cleanup
    assert list(endpoint.live_jobs()) == [new]
    assert endpoint.jobs[new].params["description"] == "new"
    assert len(endpoint.jobs) == 2, "the old job and one replacement"
    assert len(endpoint.calls_of(START)) > 2, "the replacement's first Start was refused"


def test_replacement_that_never_gets_a_slot_rolls_back_to_the_old_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    old = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1)).physical_id
    endpoint.quota = 0

    updated, rollback = stack.update(
        "Lookalikes", properties(endpoint, WaitTimeoutSeconds=1, Description="new")
    )

    assert_clear_failure(updated)
    assert pending_name(updated.physical_id) is not None
    assert "could not be started within WaitTimeoutSeconds=1" in updated.reason
    assert rollback is not None and rollback.ok and rollback.physical_id == old
    assert list(endpoint.live_jobs()) == [old]


def test_a_failed_replacement_is_removed_even_when_its_delete_is_throttled(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    original = stack.create("Lookalikes", properties(endpoint)).physical_id
    endpoint.next_create_outcome("CREATE_FAILED", "BAD_SEED", "no rows")
    endpoint.inject(DELETE, Fault.throttle(), times=3)

    updated, rollback = stack.update("Lookalikes", properties(endpoint, Description="new"))

    assert_clear_failure(updated)
    assert "BAD_SEED" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert updated.physical_id != original
    assert gone_or_going(endpoint, updated.physical_id), endpoint.jobs[updated.physical_id].status
    assert unaccounted(endpoint, {original}) == []
    assert endpoint.jobs[original].status == "ACTIVE"


# ------------------------------------------- a Start whose answer was lost (create or replace)


@pytest.mark.parametrize(
    ("step", "refused"),
    [("create", LIST), ("create", GET), ("replacement", LIST)],
)
def test_a_start_whose_answer_was_lost_is_not_orphaned_when_finding_it_is_refused(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, step: str, refused: str
) -> None:
    """The Start happened but its answer was lost; the job must be found later, not forgotten."""
    props = properties(endpoint)
    if step == "replacement":
        stack.create("Lookalikes", props)
        props = properties(endpoint, Description="new")
    endpoint.inject(START, Fault.after_success())
    endpoint.inject(refused, Fault.access_denied())

    if step == "create":
        response = stack.create("Lookalikes", props)
        follow_up = None if response.ok else stack.rollback_create("Lookalikes", response, props)
    else:
        response, follow_up = stack.update("Lookalikes", props)

    assert follow_up is None or follow_up.ok, follow_up
    if not response.ok:
        assert_clear_failure(response)
        assert "AccessDeniedException" in response.reason
    held = set(stack.physical_ids.values())
    assert unaccounted(endpoint, held) == [], f"orphaned after {response.status}: {response.reason}"


# ----------------------------------------------------------------------------- 10. bad input

TEMPLATE_ARN = "arn:aws:cleanrooms:us-east-1:123456789012:membership/m-1/analysistemplate/t-1"


def _sql(**sql: Any) -> dict[str, Any]:
    return {"RoleArn": ROLE, "SqlParameters": {"QueryString": SQL, **sql}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"ConfiguredAudienceModelArn": "arn:aws:cleanrooms-ml:us-east-1:123:audience-model/x"},
            "ConfiguredAudienceModelArn: must match the pattern",
        ),
        (
            {"SeedAudience": {"DataSource": {"S3Uri": "s3://b/"}, "RoleArn": "role/seed-reader"}},
            "SeedAudience.RoleArn: must",
        ),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "SqlParameters": {
                        "AnalysisTemplateArn": TEMPLATE_ARN.replace("membership/m-1/", "")
                    },
                }
            },
            "SeedAudience.SqlParameters.AnalysisTemplateArn: must match the pattern",
        ),
        (
            {
                "SeedAudience": {
                    **_sql(),
                    "SqlComputeConfiguration": {"Worker": {"Type": "CR.4X", "Number": "four"}},
                }
            },
            "SeedAudience.SqlComputeConfiguration.Worker.Number: must be a whole number",
        ),
        (
            {
                "SeedAudience": {
                    **_sql(),
                    "SqlComputeConfiguration": {"Worker": {"Type": "CR.4X", "Number": "1.5"}},
                }
            },
            "SeedAudience.SqlComputeConfiguration.Worker.Number: must be a whole number",
        ),
        ({"WaitTimeoutSeconds": "0"}, "WaitTimeoutSeconds: must be 1 to 3240, got 0"),
        ({"WaitTimeoutSeconds": "3241"}, "WaitTimeoutSeconds: must be 1 to 3240, got 3241"),
        ({"WaitTimeoutSeconds": "-5"}, "WaitTimeoutSeconds: must be 1 to 3240, got -5"),
        ({"WaitTimeoutSeconds": "1e3"}, "WaitTimeoutSeconds: must be a whole number"),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "DataSource": {"S3Uri": "s3://b/"},
                    "SqlParameters": {"QueryString": SQL},
                }
            },
            "exactly one of DataSource (an S3 seed) and SqlParameters (a SQL seed) must be set, "
            "got both",
        ),
        (
            {"SeedAudience": {**_sql(AnalysisTemplateArn=TEMPLATE_ARN)}},
            "SeedAudience.SqlParameters: exactly one of QueryString and AnalysisTemplateArn",
        ),
        ({"SeedAudience": None}, "SeedAudience: required"),
        ({"SeedAudience": {"RoleArn": ROLE}}, "got neither"),
        ({"WaitForCompletion": "yes"}, "WaitForCompletion: must be true or false, got 'yes'"),
        ({"CollaborationId": "not-a-uuid"}, "CollaborationId: must be 36 characters"),
    ],
)
def test_bad_input_fails_before_any_api_call(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    props = properties(endpoint, **overrides)

    response = stack.create("Lookalikes", props)
    rollback = stack.rollback_create("Lookalikes", response, props)

    assert_clear_failure(response)
    assert response.physical_id == CREATE_FAILED_MARKER
    assert message in response.reason
    assert SQL not in response.reason
    assert rollback.ok
    assert endpoint.calls == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Tags": [{"Key": "aws:team", "Value": "x"}]}, "the prefix 'aws:' is reserved"),
        ({"WaitTimeoutSeconds": "99999"}, "WaitTimeoutSeconds: must be 1 to 3240"),
        (
            {"ConfiguredAudienceModelArn": "arn:aws:s3:::bucket", "Description": "new"},
            "ConfiguredAudienceModelArn: must be 20 to 2048 characters",
        ),
        ({"SeedAudience": {"RoleArn": ROLE}, "Name": "new-name"}, "got neither"),
    ],
)
def test_bad_input_on_update_changes_nothing(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    arn = stack.create("Lookalikes", properties(endpoint)).physical_id
    before = endpoint.jobs[arn].tags
    endpoint.clear_calls()
    event = stack.event(
        "Update",
        "Lookalikes",
        properties(endpoint, **overrides),
        PhysicalResourceId=arn,
        OldResourceProperties=stack.properties["Lookalikes"],
    )

    updated = stack.framework.deliver(event)

    assert_clear_failure(updated)
    assert message in updated.reason
    assert [name for name, _ in endpoint.calls if name in MUTATING] == []
    assert list(endpoint.live_jobs()) == [arn]
    assert endpoint.jobs[arn].tags == before


# ------------------------------------------------------------------ 11. huge error messages


def test_a_10kb_start_refusal_fits_the_response(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.inject(START, Fault.error("ValidationException", message="v" * KB10))

    response = stack.create("Lookalikes", properties(endpoint))  # raises if over 4096 bytes

    assert_clear_failure(response)
    assert response.reason.startswith("StartAudienceGenerationJob (job ")
    assert "ValidationException: vvvv" in response.reason
    assert endpoint.jobs == {}


@pytest.mark.parametrize("operation", [GET, TAG, DELETE])
def test_a_10kb_refusal_later_in_the_lifecycle_fits_the_response(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, operation: str
) -> None:
    props = properties(endpoint, Tags=[{"Key": "a", "Value": "1"}])
    refusal = Fault.access_denied("d" * KB10)
    if operation == GET:
        endpoint.inject(GET, refusal)
        response = stack.create("Lookalikes", props)
        arn = response.physical_id
    else:
        arn = stack.create("Lookalikes", props).physical_id
        endpoint.inject(operation, refusal)
        if operation == TAG:
            response, _ = stack.update(
                "Lookalikes", {**props, "Tags": [{"Key": "b", "Value": "2"}]}
            )
        else:
            response = stack.delete("Lookalikes")

    assert_clear_failure(response)
    assert arn in response.reason and "AccessDeniedException: dddd" in response.reason
    assert response.physical_id == arn


@pytest.mark.parametrize(
    "character", ["\u8a9e", "\U0001f4ca"], ids=["3-byte UTF-8 (CJK)", "4-byte UTF-8 (astral)"]
)
def test_a_10kb_non_ascii_status_message_fits_4096_bytes(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, character: str
) -> None:
    """CloudFormation counts bytes: 1000 characters may be up to 4000 bytes of UTF-8."""
    message = character * (KB10 // len(character.encode()))
    endpoint.next_create_outcome("CREATE_FAILED", "INVALID_SEED", message)

    (response,) = create_in_parallel(
        stack, [("Lookalikes", properties(endpoint))]
    )  # raises ResponseTooLarge over 4096 bytes

    assert_clear_failure(response)
    assert f"Job {response.physical_id} ended CREATE_FAILED: INVALID_SEED: {character}" in (
        response.reason
    )


# ------------------------------------------------------------------- 12. AccessDenied on Start


def test_access_denied_on_start_fails_with_no_job_and_no_sql(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.inject(START, Fault.access_denied())
    props = properties(endpoint, SeedAudience=sql_seed())

    response = stack.create("Sql", props)
    rollback = stack.rollback_create("Sql", response, props)

    assert_clear_failure(response)
    assert response.physical_id == CREATE_FAILED_MARKER or pending_name(response.physical_id)
    assert "AccessDeniedException: Not authorized to perform this action" in response.reason
    assert SQL not in response.reason and SQL_PARAMETER not in response.reason
    assert rollback.ok
    assert endpoint.jobs == {}


def test_access_denied_on_a_start_retried_after_a_quota_wait(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = properties(endpoint, SeedAudience=sql_seed())
    # on_event's Start meets the quota, the first poll's too; the second poll's is refused.
    endpoint.inject(START, Fault.error("ServiceQuotaExceededException"), times=2)
    endpoint.inject(START, Fault.access_denied())

    response = stack.create("Sql", props)
    rollback = stack.rollback_create("Sql", response, props)

    assert_clear_failure(response)
    assert pending_name(response.physical_id) is not None
    assert "AccessDeniedException" in response.reason
    assert SQL not in response.reason and SQL_PARAMETER not in response.reason
    assert rollback.ok, rollback.reason
    assert endpoint.jobs == {}
    assert endpoint.calls_of(DELETE) == []


# --------------------------------------------------------------------- 13. secrets in logs

SECOND_PARAMETER = "diamond-secret-segment"


def test_no_secret_in_any_log_line_or_data_over_a_faulty_lifecycle(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    props = properties(endpoint, SeedAudience=sql_seed())
    responses: list[Response] = []

    endpoint.inject(START, Fault.throttle(), times=4)
    endpoint.inject(START, Fault.after_success())
    endpoint.inject(GET, Fault.after_success(503, "ServiceUnavailableException"))
    endpoint.inject(LIST, Fault.server_error(), times=4)
    responses.append(stack.create("Sql", props))

    endpoint.inject(TAG, Fault.throttle(), times=4)
    tagged = {**props, "Tags": [{"Key": "team", "Value": "growth"}]}
    responses += [r for r in stack.update("Sql", tagged) if r is not None]

    replaced_seed = sql_seed()
    replaced_seed["SqlParameters"]["Parameters"] = {"segment": SECOND_PARAMETER}
    endpoint.inject(START, Fault.after_success())
    endpoint.inject(DELETE, Fault.throttle(), times=4)
    replaced = {**tagged, "SeedAudience": replaced_seed}
    responses += [r for r in stack.update("Sql", replaced) if r is not None]

    endpoint.inject(DELETE, Fault.after_success())
    responses.append(stack.delete("Sql"))

    assert [r.status for r in responses] == ["SUCCESS"] * 5, [r.reason for r in responses]
    assert endpoint.live_jobs() == {}
    assert len(endpoint.jobs) == 2
    text = "\n".join(
        f"{record.name} {record.levelname} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert "on_event Create" in text and "Deleting job" in text, "the lifecycle was logged"
    for secret in (SQL, SQL_PARAMETER, SECOND_PARAMETER, RESPONSE_URL, "X-Amz-Signature"):
        assert secret not in text
        for response in responses:
            assert secret not in json.dumps(response.data) and secret not in response.reason


# ------------------------------------------------------------------ 14. property-based test

FAULTS: dict[str, Callable[[], Fault]] = {
    "throttle": Fault.throttle,
    "server_error": Fault.server_error,
    "after_success": Fault.after_success,
    "access_denied": Fault.access_denied,
}
FaultPlan = dict[str, dict[str, list[tuple[str, int]]]]

_S3_SEED = {"DataSource": {"S3Uri": "s3://seed-bucket/seed/"}, "RoleArn": ROLE}
_valid = {
    "Name": st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,40}", fullmatch=True)),
    "IncludeSeedInOutput": st.one_of(st.none(), st.booleans(), st.sampled_from(["TRUE", "False"])),
    "WaitForCompletion": st.one_of(st.none(), st.booleans(), st.sampled_from(["TRUE", "False"])),
    "Tags": st.one_of(
        st.none(),
        st.lists(
            st.fixed_dictionaries(
                {"Key": st.sampled_from(["team", "env", "cost-centre"]), "Value": st.text("ab")}
            ),
            max_size=3,
            unique_by=lambda tag: tag["Key"],
        ),
    ),
    "SeedAudience": st.sampled_from([_S3_SEED, sql_seed()]),
    "Description": st.one_of(st.none(), st.text("abc xyz", max_size=30)),
    "WaitTimeoutSeconds": st.sampled_from([None, "20"]),
}
_any_tag_key = st.one_of(
    st.sampled_from(["team", "aws:cdk:path", "AWS:Owner", "cdk-cleanrooms-ml:owner"]),
    st.text(max_size=130),
)
_anything = {
    "Name": st.one_of(_valid["Name"], st.text(max_size=70)),
    "IncludeSeedInOutput": st.one_of(_valid["IncludeSeedInOutput"], st.text(max_size=5)),
    "WaitForCompletion": st.one_of(_valid["WaitForCompletion"], st.text(max_size=5)),
    "Tags": st.one_of(
        _valid["Tags"],
        st.lists(
            st.fixed_dictionaries({"Key": _any_tag_key, "Value": st.text(max_size=20)}),
            max_size=4,
        ),
        st.integers(48, 51).map(lambda n: [{"Key": f"k{i}", "Value": "v"} for i in range(n)]),
    ),
    "SeedAudience": st.sampled_from(
        [
            _S3_SEED,
            sql_seed(),
            {**_S3_SEED, "SqlParameters": sql_seed()["SqlParameters"]},
            {"RoleArn": ROLE},
            None,
        ]
    ),
    "Description": st.one_of(st.none(), st.text(max_size=300)),
    "WaitTimeoutSeconds": st.sampled_from([None, "20", "0", "soon", "3241"]),
}
# Three property sets in four are valid, so that most examples reach the faults.
_properties = st.integers(0, 3).flatmap(lambda n: st.fixed_dictionaries(_valid if n else _anything))
_fault_lists = st.lists(
    st.tuples(st.sampled_from([*FAULTS, "none"]), st.integers(1, 3)), max_size=2
)
_step_faults = st.fixed_dictionaries({operation: _fault_lists for operation in OPERATIONS})
_fault_plans = st.fixed_dictionaries(
    {"create": _step_faults, "update": _step_faults, "delete": _step_faults}
)


def _inject(endpoint: CleanRoomsMLEndpoint, faults: Mapping[str, list[tuple[str, int]]]) -> None:
    endpoint.clear_faults()
    for operation, sequence in faults.items():
        for kind, times in sequence:
            if kind != "none":
                endpoint.inject(operation, FAULTS[kind](), times=times)


@dataclass
class Lifecycle:
    """What one create -> update -> delete under faults left behind."""

    responses: list[Response] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    failed_retries: list[str] = field(default_factory=list)
    left_after_retry: list[str] = field(default_factory=list)


def play_lifecycle(
    overrides: Mapping[str, Any], change: str, plan: FaultPlan, note: Callable[[str], None]
) -> Lifecycle:
    """Create, maybe update (tags or replacement), delete; each step under its own faults."""
    outcome = Lifecycle()
    with local_endpoint(create_duration=0.02, delete_duration=0.02) as endpoint:
        handler = StrictHandler()
        stack = Stack(RealProviderFramework(handler, query_interval=0.005, total_timeout=30))
        props = properties(endpoint, **overrides)
        held: set[str] = set()  # physical ids CloudFormation holds, or saw a Delete of fail

        _inject(endpoint, plan["create"])
        created = stack.create("Job", props)
        outcome.responses.append(created)
        note(f"create {created.status}")
        if not created.ok:
            rollback = stack.rollback_create("Job", created, props)
            outcome.responses.append(rollback)
            if not rollback.ok:
                held.add(created.physical_id)
        else:
            _inject(endpoint, plan["update"])
            old_id = created.physical_id
            if change != "none":
                new = dict(props)
                if change == "tags":
                    new["Tags"] = [{"Key": "stage", "Value": "two"}]
                else:
                    new["Description"] = "replaced"
                    if change == "replace" and props.get("Name"):
                        new["Name"] = f"{props['Name']}"[:60] + "-v2"
                updated, follow_up = stack.update("Job", new)
                note(f"{change} {updated.status}")
                outcome.responses += [updated] + ([follow_up] if follow_up else [])
                if updated.ok and follow_up is not None and not follow_up.ok:
                    held.add(old_id)  # CloudFormation reports the failed cleanup of that id
            _inject(endpoint, plan["delete"])
            deleted = stack.delete("Job")
            outcome.responses.append(deleted)
            note(f"delete {deleted.status}")
        held |= set(stack.physical_ids.values())
        outcome.unexpected = handler.unexpected
        outcome.orphans = unaccounted(endpoint, held)

        # The user retries once the faults are gone: every id CloudFormation holds is deletable.
        endpoint.clear_faults()
        for physical_id in sorted(held):
            retried = stack.framework.deliver(delete_event(stack, "Job", physical_id, props))
            if not retried.ok:
                outcome.failed_retries.append(retried.reason)
        outcome.left_after_retry = unaccounted(endpoint, set())
    return outcome


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # shrinking a lifecycle takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    overrides=_properties,
    change=st.sampled_from(["replace", "tags", "none", "replace-same-name"]),
    plan=_fault_plans,
)
# Found by this search (random runs; pinned here so that the derandomized run keeps them):
# Get throttled past botocore's budget while a replacement reads the old job...
@example(
    overrides={},
    change="replace",
    plan={"create": {}, "update": {GET: [("throttle", 3)]}, "delete": {}},
)
# ...and a Start whose answer was lost, then List refused while looking for the job by name.
@example(
    overrides={},
    change="none",
    plan={
        "create": {START: [("after_success", 1)], LIST: [("access_denied", 1)]},
        "update": {},
        "delete": {},
    },
)
def test_no_fault_loses_or_orphans_a_job(
    overrides: dict[str, Any], change: str, plan: FaultPlan
) -> None:
    outcome = play_lifecycle(overrides, change, plan, note=event)

    assert outcome.unexpected == [], f"not the handler's own errors: {outcome.unexpected}"
    for response in outcome.responses:
        if not response.ok:
            assert_clear_failure(response)
            assert SQL not in response.reason and SQL_PARAMETER not in response.reason
    assert outcome.orphans == [], f"no physical id held by CloudFormation names {outcome.orphans}"
    assert outcome.failed_retries == [], outcome.failed_retries
    assert outcome.left_after_retry == [], outcome.left_after_retry
