"""More sequences a job must survive, found by an adversarial review of the handler.

Rollbacks (short waits, removed tags, throttling, properties an earlier release accepted), jobs
kept by RemovalPolicy.RETAIN, a cancelled waiter in the next deployment, a cancelled tag update,
a refused delete, masking. Each test plays CloudFormation (``cloudformation.Stack``) through
aws-cdk-lib's real Provider framework runtime against the local Clean Rooms ML endpoint, as
tests/test_sequences.py does, and failed on the handler before the fix it names. A job is
*orphaned* when it exists, is not being deleted, and no physical id CloudFormation holds names it.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from cleanrooms.engine import aws, lifecycle, limits
from cleanrooms.engine.identity import pending_name
from cleanrooms.engine.properties import OWNER_TAG_KEY
from cleanrooms.kinds import audience_generation_job
from cleanrooms.kinds.audience_generation_job import KIND as JOB
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import Stack
from cloudformation_endpoint import CloudFormationFault
from test_handler import ROLE, properties
from test_lifecycle import unaccounted

START = "StartAudienceGenerationJob"
GET = "GetAudienceGenerationJob"
DELETE = "DeleteAudienceGenerationJob"


def gone_or_going(endpoint: CleanRoomsMLEndpoint, arn: str) -> bool:
    job = endpoint.jobs[arn]
    return job.gone or job.status.startswith("DELETE_")


# ------------------------------------------------ the rollback's sweep dies with wait_timeout


def test_a_failed_replacement_still_creating_is_removed_after_a_short_wait_timeout(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """Issue 9 case 5 for the rollback's sweep: it is bounded by WaitTimeoutSeconds.

    wait_timeout=1 s (60 s, say, in real life): the replacement job is still creating when the
    update fails and still creating when the rollback's 1 s is up; it ends 2 s after the failure.
    CloudFormation never sends a Delete for it.
    """
    original = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1)).physical_id
    endpoint.stick_next_create()
    waiter = stack.begin_update(
        "Lookalikes", properties(endpoint, WaitTimeoutSeconds=1, Description="new")
    )
    failed = stack.wait_open(waiter)
    replacement = failed.physical_id
    assert failed.status == "FAILED" and JOB.is_arn(replacement), failed.reason

    finishes = threading.Timer(2.0, endpoint.set_job_status, args=(replacement, "ACTIVE"))
    finishes.start()
    try:
        rollback = stack.follow_up(waiter)
    finally:
        finishes.join()
    time.sleep(0.5)  # whatever the rollback's sweep still does

    assert rollback is not None and rollback.ok and rollback.physical_id == original, rollback
    assert gone_or_going(endpoint, replacement), (
        f"orphaned: {endpoint.jobs[replacement].status}; "
        f"unaccounted {unaccounted(endpoint, {original})}"
    )


# ------------------------------------------------------------------- jobs kept by RETAIN


def test_a_failed_re_create_with_a_pinned_name_keeps_the_job_retain_kept(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """RETAIN, removed from the app, later re-added (removal_policy DESTROY) with the same Name.

    The re-create fails ("a job named ... already exists"), and its rollback Delete of the pending
    id that carries the name deletes the kept job: any job of this logical id with that name goes.
    """
    props = properties(endpoint, Name="spring-lookalikes")
    stack.create("Other", properties(endpoint))
    kept = stack.create("Pinned", props).physical_id
    stack.remove_retained("Pinned")

    readded = stack.create("Pinned", props)
    rollback = stack.rollback_create("Pinned", readded, props)

    assert readded.status == "FAILED" and "already exists" in readded.reason, readded.reason
    assert pending_name(readded.physical_id) == "spring-lookalikes"
    assert rollback.ok, rollback.reason
    assert not gone_or_going(endpoint, kept), "the job kept by RETAIN was deleted"


# --------------------------------------------------- a cancelled create's Delete retried later


# ------------------------------------- a stale waiter mistakes a later deployment for its own


def test_a_cancelled_waiter_starts_nothing_in_the_next_deployment(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """An update adds the job while a sibling fails; CloudFormation's Describe calls are throttled
    while it rolls back; the user redeploys. The stack is UPDATE_IN_PROGRESS and the resource
    CREATE_IN_PROGRESS again: the statuses the cancelled waiter recorded, so it starts its job.
    """
    props = properties(endpoint)
    stack.create("Other", props)  # the stack exists: the next update adds "Lookalikes"
    endpoint.quota = 0
    stale = stack.begin_create("Lookalikes", props)
    assert stack.poll_open(stale) is None, "waiting for a slot"

    assert stack.cloudformation is not None
    stack.cloudformation.inject("DescribeStackResource", CloudFormationFault.throttle(), times=None)
    deleted = stack.cancel_create("Lookalikes", props, stale)
    assert stack.poll_open(stale) is None, "CloudFormation cannot tell now: the waiter goes on"
    stack.cloudformation.clear_faults()

    endpoint.quota = 10
    endpoint.stick_next_create()  # the new create's job takes longer than the stale one's
    again = stack.begin_create("Lookalikes", props)  # the next deployment adds it again
    (new_job,) = (job for job in endpoint.jobs.values() if job.name.startswith("Jobs-Lookalikes"))
    stale_answer = stack.wait_open(stale)  # polls while the new create awaits its job
    endpoint.set_job_status(new_job.arn, "ACTIVE")
    redeployed = stack.wait_open(again)

    assert deleted.ok and redeployed.ok, (deleted.reason, redeployed.reason)
    assert stale.request.ignored == [stale_answer]
    assert unaccounted(endpoint, set(stack.physical_ids.values())) == [], stale_answer.status


# ---------------------------------------------------------- rollbacks that start or fail


def test_the_rollback_of_a_failed_replacement_keeps_a_job_whose_tag_was_removed(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """The ownership tag removed outside CloudFormation (issue 9 case 4), then a replacement fails.

    The rollback Update carries the physical id and the properties the stack held: it has nothing
    to start. The handler does not recognise the job without its tag and starts a new one, under
    a full quota, so the rollback fails (UPDATE_ROLLBACK_FAILED).
    """
    props = properties(endpoint, WaitTimeoutSeconds=1)
    original = stack.create("Lookalikes", props).physical_id
    aws.client().untag_resource(resourceArn=original, tagKeys=[OWNER_TAG_KEY])
    endpoint.quota = 0
    waiter = stack.begin_update(
        "Lookalikes", properties(endpoint, WaitTimeoutSeconds=1, Description="new")
    )
    failed = stack.wait_open(waiter)
    starts = len(endpoint.calls_of(START))

    rollback = stack.follow_up(waiter)

    assert failed.status == "FAILED"
    assert rollback is not None and rollback.ok, rollback and rollback.reason
    assert rollback.physical_id == original
    assert len(endpoint.calls_of(START)) == starts, "the rollback started a job"


def test_a_burst_of_throttling_does_not_fail_the_rollback(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetAudienceGenerationJob throttled for a few seconds while the rollback Update arrives.

    on_update reads the job (``_started_from``) and gives up after botocore's attempts and three
    short waits: the rollback fails over a transient error (UPDATE_ROLLBACK_FAILED).
    """
    monkeypatch.setattr(lifecycle, "PATIENCE_SECONDS", (0.05, 0.1, 0.2))
    original = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1)).physical_id
    endpoint.quota = 0
    waiter = stack.begin_update(
        "Lookalikes", properties(endpoint, WaitTimeoutSeconds=1, Description="new")
    )
    failed = stack.wait_open(waiter)
    endpoint.inject(GET, Fault.throttle(), times=12)  # 3 attempts x 4 tries, then it answers

    rollback = stack.follow_up(waiter)

    assert failed.status == "FAILED"
    assert rollback is not None and rollback.ok, rollback and rollback.reason
    assert rollback.physical_id == original


# ----------------------------------------------------------------- what reaches reasons and logs


def test_a_short_sql_parameter_value_is_masked_in_the_reason(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """Issue 9 case 13: no parameter value in any reason. Values under 4 characters are not masked
    (documented in the README, but short values such as a tier or a country code are common)."""
    seed = {
        "RoleArn": ROLE,
        "SqlParameters": {
            "QueryString": "SELECT user_id FROM customers WHERE tier = :tier",
            "Parameters": {"tier": "VIP"},
        },
    }
    echo = "Parameter tier has an invalid value: VIP"
    endpoint.inject(START, Fault.error("ValidationException", message=echo))

    response = stack.create("Sql", properties(endpoint, SeedAudience=seed))

    assert response.status == "FAILED"
    assert re.search(r"\bVIP\b", response.raw_reason) is None, response.reason


# ------------------------------------------- a cancelled create's Delete, retried an hour later


def test_a_cancelled_create_s_delete_retried_after_the_hour_still_deletes_its_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scaled down: a 1 s delete deadline and no grace stand for 54 minutes and 30 s."""
    monkeypatch.setattr(limits, "DELETE_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(limits, "SETTLE_GRACE_SECONDS", 0.0)
    endpoint.stick_next_create()  # its Delete is refused while it is being created
    props = properties(endpoint)
    waiter = stack.begin_create("Lookalikes", props)
    (job,) = endpoint.jobs.values()

    failed = stack.cancel_create("Lookalikes", props, waiter)  # ROLLBACK_FAILED
    time.sleep(1.5)  # the job is now older than any cancelled create the Delete would look for
    endpoint.set_job_status(job.arn, "ACTIVE")
    retried = stack.framework.deliver(
        stack.event("Delete", "Lookalikes", props, PhysicalResourceId=failed.physical_id)
    )

    assert failed.status == "FAILED", "the job could not be deleted while it was being created"
    assert retried.ok, retried.reason
    assert endpoint.jobs[job.arn].status.startswith("DELETE_") or endpoint.jobs[job.arn].gone


# ------------------------------------------------------ a refused Delete's reason is lost


def test_a_delete_refused_until_its_deadline_reports_the_services_refusal(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConflictException on Delete of an ACTIVE job ("another resource depends on this resource",
    per the service model) is waited on for 54 minutes, and the failure then says only the job's
    status: neither the code nor the service's message."""
    monkeypatch.setattr(limits, "DELETE_TIMEOUT_SECONDS", 1)
    arn = stack.create("Lookalikes", properties(endpoint)).physical_id
    message = "An audience export job depends on this audience generation job"
    endpoint.inject(DELETE, Fault.error("ConflictException", message=message), times=None)

    deleted = stack.delete("Lookalikes")

    assert deleted.status == "FAILED"
    assert arn in deleted.reason
    assert f"ConflictException: {message}" in deleted.reason, deleted.reason


# --------------------------------------------- a cancelled waiter re-applies what was rolled back


def test_a_cancelled_tag_update_leaves_the_tags_the_rollback_restored(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """Tags a -> b; on_event's TagResource is throttled (the waiter is to re-apply them); a sibling
    fails; the rollback Update restores a. The cancelled waiter, which never asks whether it is
    still awaited, then applies b again: the job's tags are no longer what CloudFormation holds."""
    props = properties(endpoint, Tags=[{"Key": "stage", "Value": "a"}])
    arn = stack.create("Lookalikes", props).physical_id
    endpoint.inject("TagResource", Fault.throttle(), times=3)  # botocore's 3 attempts
    waiter = stack.begin_update(
        "Lookalikes", properties(endpoint, Tags=[{"Key": "stage", "Value": "b"}])
    )

    rolled_back = stack.cancel_update("Lookalikes", waiter)
    stack.wait_open(waiter)

    assert rolled_back.ok, rolled_back.reason
    assert endpoint.jobs[arn].tags["stage"] == "a", "the rolled-back tag came back"


# ------------------------------------------------ rollbacks to what an earlier release accepted


def test_a_rollback_to_properties_the_released_handler_accepted_succeeds(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job created by 0.1.0 (no SeedAudience size limit) with a 70 KB query; after the upgrade
    the user moves the seed to S3 and that replacement fails (quota full). The rollback Update
    carries the old properties, which the new handler refuses: UPDATE_ROLLBACK_FAILED."""
    query = "SELECT user_id FROM customers -- " + "x" * 70_000
    big = {"RoleArn": ROLE, "SqlParameters": {"QueryString": query}}
    with monkeypatch.context() as released:
        released.setattr(audience_generation_job, "MAX_SEED_BYTES", 10**6)  # 0.1.0 had no limit
        created = stack.create("Sql", properties(endpoint, SeedAudience=big, WaitTimeoutSeconds=1))
    assert created.ok, created.reason
    endpoint.quota = 0

    updated, rollback = stack.update("Sql", properties(endpoint, WaitTimeoutSeconds=1))

    assert updated.status == "FAILED"
    assert rollback is not None and rollback.ok, rollback and rollback.reason
    assert rollback.physical_id == created.physical_id


def test_a_multi_line_query_echoed_by_the_service_is_masked(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """Queries are usually written on several lines. ``_reason`` turns control characters into
    spaces before it masks, so the query (with its newlines) no longer matches the text."""
    query = "SELECT user_id\nFROM customers\nWHERE segment = :segment"
    seed = {"RoleArn": ROLE, "SqlParameters": {"QueryString": query}}
    endpoint.inject(START, Fault.error("ValidationException", message=f"Invalid query: {query}"))

    response = stack.create("Sql", properties(endpoint, SeedAudience=seed))

    assert response.status == "FAILED"
    assert "FROM customers" not in response.raw_reason, response.reason
