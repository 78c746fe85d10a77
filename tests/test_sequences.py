"""CloudFormation sequences a job must survive: cancelled, redelivered, retained, denied, hung.

Each test plays CloudFormation (``cloudformation.Stack``, whose resource and stack statuses the
handler reads from the local CloudFormation endpoint) through aws-cdk-lib's real Provider framework
runtime (``provider_runtime``) against the local Clean Rooms ML endpoint. The numbers are the
cases of the issue that asked for them. A job is *orphaned* when it exists, is not being deleted,
and no physical id CloudFormation holds names it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import index
import pytest
from botocore.config import Config
from cleanrooms.engine import aws, lifecycle
from cleanrooms.engine.identity import pending_name
from cleanrooms.kinds.audience_generation_job import KIND as JOB
from cleanrooms.kinds.audience_generation_job import MAX_SEED_BYTES
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import Response, Stack, Waiter, stringify
from provider_runtime import RealProviderFramework
from test_handler import ROLE, properties
from test_lifecycle import unaccounted

START = "StartAudienceGenerationJob"
LIST = "ListAudienceGenerationJobs"
DELETE = "DeleteAudienceGenerationJob"


def gone_or_going(endpoint: CleanRoomsMLEndpoint) -> bool:
    return all(job.gone or job.status.startswith("DELETE_") for job in endpoint.jobs.values())


def sql_seed_of(query: str, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    sql: dict[str, Any] = {"QueryString": query}
    if parameters:
        sql["Parameters"] = dict(parameters)
    return {"RoleArn": ROLE, "SqlParameters": sql}


def poll_until(stack: Stack, waiter: Waiter, done: Callable[[], bool]) -> None:
    """Poll an open waiter until ``done`` (or the waiter answers)."""
    while not done() and stack.poll_open(waiter) is None:
        time.sleep(0.01)


# ------------------------------------------------------------------- 1. cancelled creates


def test_a_cancelled_create_leaves_no_job_and_its_waiter_starts_nothing(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.create_duration = 0.3
    props = properties(endpoint)
    waiter = stack.begin_create("Lookalikes", props)
    (job,) = endpoint.jobs.values()  # on_event started it; the waiter awaits ACTIVE

    deleted = stack.cancel_create("Lookalikes", props, waiter)
    answer = stack.wait_open(waiter)  # the waiter keeps running until it ends

    assert deleted.ok, deleted.reason
    assert not JOB.is_arn(deleted.physical_id), "CloudFormation's own id, no job's"
    assert waiter.request.cancelled and waiter.request.ignored == [answer]
    assert list(endpoint.jobs) == [job.arn], "nothing else was started"
    assert gone_or_going(endpoint), job.status
    assert endpoint.calls_of(DELETE), "the Delete of the made-up id found the job by its tag"


def test_a_create_cancelled_while_waiting_for_a_slot_never_starts_its_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.quota = 0
    props = properties(endpoint)
    waiter = stack.begin_create("Lookalikes", props)
    assert stack.poll_open(waiter) is None, "waiting for a slot"

    deleted = stack.cancel_create("Lookalikes", props, waiter)
    starts = len(endpoint.calls_of(START))
    endpoint.quota = 10  # a slot frees up while the waiter still runs
    answer = stack.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert answer.status == "FAILED" and "nothing was started" in answer.reason
    assert waiter.request.ignored == [answer]
    assert len(endpoint.calls_of(START)) == starts, "no Start once the request was cancelled"
    assert endpoint.jobs == {}


def test_the_delete_of_a_cancelled_create_leaves_jobs_it_did_not_start(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """Only a job a Create of this resource started from these properties, within the hour."""
    props = properties(endpoint)
    kept = stack.create("Kept", props).physical_id  # another resource's job
    stack.retained.add("Lookalikes")
    retained = stack.create("Lookalikes", props).physical_id
    replaced, _ = stack.update("Lookalikes", properties(endpoint, Description="v2"))
    endpoint.quota = 0
    waiter = stack.begin_update("Lookalikes", properties(endpoint, Description="v3"))

    rolled_back = stack.cancel_update("Lookalikes", waiter)
    endpoint.quota = 10
    stack.wait_open(waiter)

    assert rolled_back.ok, rolled_back.reason
    live = set(endpoint.live_jobs())
    assert live == {kept, retained, replaced.physical_id}, "the retained job is still there"


# -------------------------------------------------------- 2. redelivered creates, deadlines


def test_a_redelivered_create_under_a_full_quota_leaves_no_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.quota = 0
    props = properties(endpoint, WaitTimeoutSeconds=1)
    first = stack.begin_create("Lookalikes", props)
    time.sleep(0.5)
    second = stack.redeliver(first)  # a later deadline than the first's

    failed = stack.wait_open(first)
    rollback = stack.follow_up(first)
    starts = len(endpoint.calls_of(START))
    endpoint.quota = 10
    late = stack.wait_open(second)

    assert failed.status == "FAILED" and pending_name(failed.physical_id)
    assert rollback is not None and rollback.ok, rollback
    assert late.status == "FAILED" and first.request.ignored == [late]
    assert len(endpoint.calls_of(START)) == starts, "no Start for an answered request"
    assert endpoint.jobs == {}


def test_no_start_after_the_deadline(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint.quota = 0
    starts_when_freed: list[int] = []

    def sleep(seconds: float) -> None:
        if endpoint.quota == 0:
            time.sleep(1.2)  # the next poll comes after the 1 s deadline...
            starts_when_freed.append(len(endpoint.calls_of(START)))
            endpoint.quota = 10  # ...and finds a free slot
        time.sleep(seconds)

    monkeypatch.setattr(stack.framework, "sleep", sleep)
    response = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1))

    assert response.status == "FAILED"
    assert "could not be started within WaitTimeoutSeconds=1" in response.reason
    assert starts_when_freed and len(endpoint.calls_of(START)) == starts_when_freed[0]
    assert endpoint.jobs == {}


# ------------------------------------------------------------------------ 3. retained jobs


def test_the_rollback_of_a_failed_replacement_keeps_a_retained_job_of_the_same_properties(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    stack.retained.add("Lookalikes")
    a, b = properties(endpoint), properties(endpoint, Description="B")
    job_a = stack.create("Lookalikes", a).physical_id
    updated, cleanup = stack.update("Lookalikes", b)
    job_b = updated.physical_id
    assert cleanup is None, "RETAIN: the old job gets no Delete"
    endpoint.quota = 0

    back, rollback = stack.update("Lookalikes", {**a, "WaitTimeoutSeconds": 1})

    assert back.status == "FAILED" and pending_name(back.physical_id)
    assert rollback is not None and rollback.ok and rollback.physical_id == job_b
    assert set(endpoint.live_jobs()) == {job_a, job_b}, "the retained job A was not swept"
    assert endpoint.calls_of(DELETE) == []


# ------------------------------------------------------------------------ 5. delete deadline


def test_a_delete_has_its_own_deadline_whatever_the_wait_timeout(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = properties(endpoint, WaitTimeoutSeconds=1, WaitForCompletion=False)
    stack.create("Lookalikes", props)
    busy = Fault.error("ConflictException", message="the job is busy")
    endpoint.inject(DELETE, busy, times=None)  # refused for two seconds
    frees = threading.Timer(2.0, endpoint.clear_faults)
    frees.start()

    began = time.monotonic()
    try:
        deleted = stack.delete("Lookalikes")
    finally:
        frees.join()

    assert deleted.ok, deleted.reason
    assert time.monotonic() - began >= 2.0, "it waited past WaitTimeoutSeconds=1"
    assert endpoint.live_jobs() == {}


# ------------------------------------------------------------------- 6, 7. prompt failures


def test_a_conflict_no_job_explains_fails_promptly_with_the_service_message(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "PATIENCE_SECONDS", (0.05, 0.1, 0.2))
    message = "The configured audience model is being updated"
    endpoint.inject(START, Fault.error("ConflictException", message=message), times=None)
    props = properties(endpoint)

    began = time.monotonic()
    response = stack.create("Lookalikes", props)
    took = time.monotonic() - began
    rollback = stack.rollback_create("Lookalikes", response, props)

    assert response.status == "FAILED"
    assert f"StartAudienceGenerationJob (job '{pending_name(response.physical_id)}') failed: " in (
        response.reason
    )
    assert f"ConflictException: {message}" in response.reason
    assert "quota" not in response.reason
    assert took < 5 and len(endpoint.calls_of(START)) == 2, "on_event's Start and one more"
    assert rollback.ok and endpoint.jobs == {}


def test_a_refused_lookup_fails_at_once_and_the_job_stays_tracked(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.inject(START, Fault.after_success())  # the job exists; the answer was lost
    endpoint.inject(LIST, Fault.access_denied("denied by an SCP"), times=None)
    props = properties(endpoint)

    began = time.monotonic()
    response = stack.create("Lookalikes", props)
    took = time.monotonic() - began
    refused = stack.rollback_create("Lookalikes", response, props)
    endpoint.clear_faults()
    retried = stack.framework.deliver(
        stack.event("Delete", "Lookalikes", props, PhysicalResourceId=response.physical_id)
    )

    (job,) = endpoint.jobs.values()
    assert response.status == "FAILED" and took < 5
    assert "ListAudienceGenerationJobs" in response.reason
    assert "AccessDeniedException: denied by an SCP" in response.reason
    assert pending_name(response.physical_id) == job.name, "CloudFormation holds the job's name"
    assert refused.status == "FAILED" and "AccessDeniedException" in refused.reason
    assert retried.ok and gone_or_going(endpoint)


# -------------------------------------------------------------- 8, 9. updates that must start


def test_an_update_from_a_pending_id_with_a_pinned_name_starts_that_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = properties(endpoint, Name="spring-lookalikes", WaitTimeoutSeconds=1)
    stack.create("Other", properties(endpoint))  # the stack exists; an update adds "Pinned"
    endpoint.quota = 0
    failed = stack.create("Pinned", props)
    # `cdk deploy --no-rollback`: CloudFormation keeps the failed create's pending id.
    stack.physical_ids["Pinned"], stack.properties["Pinned"] = failed.physical_id, stringify(props)
    endpoint.quota = 10

    updated, cleanup = stack.update("Pinned", props)

    assert updated.ok, updated.reason
    assert JOB.is_arn(updated.physical_id)
    assert endpoint.jobs[updated.physical_id].name == "spring-lookalikes"
    assert cleanup is not None and cleanup.ok, "the cleanup Delete of the pending id"
    assert endpoint.jobs[updated.physical_id].status == "ACTIVE", "the cleanup left the job"
    assert len(endpoint.jobs) == 2


def test_wait_for_completion_turned_on_by_an_update_waits_for_active(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.create_duration = 0.5
    arn = stack.create("Lookalikes", properties(endpoint, WaitForCompletion=False)).physical_id
    assert endpoint.jobs[arn].status != "ACTIVE"

    updated, _ = stack.update("Lookalikes", properties(endpoint, WaitForCompletion=True))

    assert updated.ok and updated.physical_id == arn
    assert endpoint.jobs[arn].status == "ACTIVE", "the update waited for ACTIVE"


def test_wait_for_completion_turned_on_by_an_update_fails_with_the_service_reason(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.create_duration = 0.3
    endpoint.next_create_outcome("CREATE_FAILED", "INSUFFICIENT_SEED", "too few matching users")
    arn = stack.create("Lookalikes", properties(endpoint, WaitForCompletion=False)).physical_id

    updated, rollback = stack.update("Lookalikes", properties(endpoint, WaitForCompletion=True))

    assert updated.status == "FAILED"
    assert f"Job {arn} ended CREATE_FAILED: INSUFFICIENT_SEED: too few matching users" in (
        updated.reason
    )
    assert rollback is not None and rollback.ok, rollback


# -------------------------------------------------------------------- 10. unknown properties


def test_an_unknown_property_fails_naming_it_and_changes_nothing(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = stack.create("Lookalikes", properties(endpoint)).physical_id
    endpoint.clear_calls()

    updated, rollback = stack.update("Lookalikes", properties(endpoint, Descripton="typo"))

    assert updated.status == "FAILED"
    assert updated.reason.startswith("Descripton: unknown property (did you mean Description?)")
    assert rollback is not None and rollback.ok
    assert list(endpoint.live_jobs()) == [arn]
    assert START not in {operation for operation, _ in endpoint.calls}


# ------------------------------------------------------------------------ 11. calls that hang


def test_calls_that_hang_end_every_invocation_well_inside_the_lambda_timeout(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scaled down: a 1 s budget and 0.5 s read timeout stand for 60 s and 15 s of 120 s."""
    monkeypatch.setattr(aws, "INVOCATION_BUDGET_SECONDS", 1.0)
    monkeypatch.setattr(
        aws,
        "_CONFIG",
        aws._CONFIG.merge(Config(read_timeout=0.5)),
    )
    aws.client.cache_clear()
    longest: list[float] = []

    def timed(entry: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def call(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
            began = time.monotonic()
            try:
                return entry(event, context)
            finally:
                longest.append(time.monotonic() - began)

        return call

    monkeypatch.setattr(index, "on_event", timed(index.on_event))
    monkeypatch.setattr(index, "is_complete", timed(index.is_complete))
    endpoint.inject(START, Fault.slow(5), times=None)  # never answers within a read timeout

    response = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=2))

    assert response.status == "FAILED"
    assert pending_name(response.physical_id), "a Start that may have happened stays named"
    assert max(longest) < 1.0 + 0.5 + 1.0, f"budget + one read timeout, got {max(longest):.2f} s"
    # The real settings: no attempt starts after 60 s, none outlasts 5 s + 15 s: under 120 s.
    real_worst = 60.0 + aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS
    assert real_worst <= 120 - 30


# ------------------------------------------------------- 12, 13. what CloudFormation receives


@pytest.mark.parametrize("character", ["\x01", '"', "\\", "\u8a9e"])
def test_any_service_message_keeps_the_whole_response_within_4096_bytes(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, character: str
) -> None:
    message = character * 10_000
    endpoint.inject(START, Fault.error("ValidationException", message=message))

    response = stack.create("Lookalikes", properties(endpoint))  # raises over 4096 bytes

    assert response.status == "FAILED"
    assert len(json.dumps(response.reason, ensure_ascii=False).encode()) - 2 <= 1000
    assert "\x01" not in response.raw_reason


def test_no_sql_text_parameter_name_or_value_reaches_a_reason(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    query = "SELECT user_id FROM customers WHERE segment = :pname_secret"
    seed = sql_seed_of(query, {"pname_secret": "value-secret-123"})
    echo = f"Parameter pname_secret=value-secret-123 is invalid in: {query}"
    endpoint.inject(START, Fault.error("ValidationException", message=echo))
    props = properties(endpoint, SeedAudience=seed)

    response = stack.create("Sql", props)

    assert response.status == "FAILED"
    assert "ValidationException: Parameter ***=*** is invalid in: ***" in response.reason
    for secret in ("pname_secret", "value-secret-123", "SELECT user_id"):
        assert secret not in response.raw_reason


# ---------------------------------------------------------------------------- 14. big events


def _largest_query() -> str:
    """A query that makes ``SeedAudience`` exactly ``MAX_SEED_BYTES`` bytes as JSON."""
    base = "SELECT user_id FROM customers -- "
    empty = len(json.dumps(sql_seed_of(base), separators=(",", ":")).encode())
    return base + "x" * (MAX_SEED_BYTES - empty)


def test_the_largest_seed_accepted_still_gets_an_answer(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    seed = sql_seed_of(_largest_query())
    endpoint.stick_next_create()
    props = properties(endpoint, SeedAudience=seed, WaitTimeoutSeconds=1)

    response = stack.create("Sql", props)

    assert response.status == "FAILED", "an answer, not silence"
    assert "is still CREATE_IN_PROGRESS after WaitTimeoutSeconds=1" in response.reason


def test_the_framework_alone_would_leave_that_event_unanswered(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """Why the handler must answer first: the framework's own timeout cannot parse the event."""

    class NeverDone:
        @staticmethod
        def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
            return {"PhysicalResourceId": "never"}

        @staticmethod
        def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
            return {"IsComplete": False}

    framework = RealProviderFramework(NeverDone, query_interval=0.01, total_timeout=0.05)  # type: ignore[arg-type]
    props = properties(endpoint, SeedAudience=sql_seed_of(_largest_query()))

    response = framework.deliver(stack.event("Create", "Sql", props))

    assert response.status == "NO_RESPONSE"


def test_a_seed_above_the_limit_is_refused_before_any_call(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    seed = sql_seed_of(_largest_query() + "x")

    response = stack.create("Sql", properties(endpoint, SeedAudience=seed))

    assert response.status == "FAILED"
    assert response.reason.startswith(f"SeedAudience: must be at most {MAX_SEED_BYTES} bytes")
    assert "from_analysis_template" in response.reason
    assert endpoint.calls == []


def test_no_job_is_orphaned_in_any_of_these_sequences(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """The orphan rule once more, over a cancel and a redelivery in one stack."""
    props = properties(endpoint)
    waiter = stack.begin_create("A", props)
    again = stack.redeliver(waiter)
    stack.wait_open(waiter)
    stack.wait_open(again)
    cancelled = stack.begin_create("B", props)
    stack.cancel_create("B", props, cancelled)
    stack.wait_open(cancelled)

    responses: list[Response] = [r for r in (waiter.response, again.response) if r]
    assert all(r.ok for r in responses), [r.reason for r in responses]
    assert unaccounted(endpoint, set(stack.physical_ids.values())) == []
