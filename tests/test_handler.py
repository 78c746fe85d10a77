"""The handler through CloudFormation-shaped events, against the local Clean Rooms ML endpoint."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cleanrooms.engine import aws, limits
from cleanrooms.engine.properties import OWNER_TAG_KEY
from cleanrooms.kinds.audience_generation_job import KIND as JOB
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import CREATE_FAILED_MARKER, RESPONSE_URL, Stack

ROLE = "arn:aws:iam::123456789012:role/seed-reader"
SQL = "SELECT user_id FROM customers WHERE segment = :segment"
SQL_PARAMETER = "platinum-secret-segment"


def properties(endpoint: CleanRoomsMLEndpoint, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ConfiguredAudienceModelArn": endpoint.default_model_arn,
        "SeedAudience": {"DataSource": {"S3Uri": "s3://seed-bucket/seed/"}, "RoleArn": ROLE},
        "IncludeSeedInOutput": False,
        "WaitForCompletion": True,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def sql_seed() -> dict[str, Any]:
    return {
        "RoleArn": ROLE,
        "SqlParameters": {"QueryString": SQL, "Parameters": {"segment": SQL_PARAMETER}},
        "SqlComputeConfiguration": {"Worker": {"Type": "CR.4X", "Number": 4}},
    }


def test_create_starts_the_job_and_reports_its_arn(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    response = stack.create("Lookalikes", properties(endpoint, Description="spring"))

    assert response.ok, response.reason
    assert JOB.is_arn(response.physical_id)
    job = endpoint.jobs[response.physical_id]
    assert job.status == "ACTIVE"
    assert response.data == {"AudienceGenerationJobArn": job.arn, "Name": job.name}
    assert job.name.startswith("Jobs-Lookalikes-")
    (start,) = endpoint.calls_of("StartAudienceGenerationJob")
    assert start["includeSeedInOutput"] is False, "a boolean, not the string CloudFormation sent"
    assert start["description"] == "spring"
    assert job.tags["team"] == "ml"
    assert set(job.tags) == {"team", OWNER_TAG_KEY}


def test_sql_seed_reaches_the_service_with_typed_compute(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    response = stack.create("Sql", properties(endpoint, SeedAudience=sql_seed()))

    assert response.ok, response.reason
    (start,) = endpoint.calls_of("StartAudienceGenerationJob")
    assert start["seedAudience"] == {
        "roleArn": ROLE,
        "sqlParameters": {"queryString": SQL, "parameters": {"segment": SQL_PARAMETER}},
        "sqlComputeConfiguration": {"worker": {"type": "CR.4X", "number": 4}},
    }


def test_pinned_name_is_used(stack: Stack, endpoint: CleanRoomsMLEndpoint) -> None:
    response = stack.create("Pinned", properties(endpoint, Name="spring-lookalikes"))

    assert response.ok, response.reason
    assert endpoint.jobs[response.physical_id].name == "spring-lookalikes"
    assert response.data["Name"] == "spring-lookalikes"


def test_model_tags_are_inherited_and_overridden_by_the_template(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    model = endpoint.default_model_arn.replace("model-1", "model-tagged")
    endpoint.add_configured_audience_model(model, child_tags={"team": "model", "origin": "model"})

    response = stack.create("Tagged", properties(endpoint, ConfiguredAudienceModelArn=model))

    tags = endpoint.jobs[response.physical_id].tags
    assert tags["team"] == "ml"
    assert tags["origin"] == "model"


def test_redelivered_create_reports_the_same_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    first = stack.begin_create("Lookalikes", properties(endpoint))
    second = stack.redeliver(first)

    one, two = stack.wait_open(first), stack.wait_open(second)

    assert one.ok and two.ok, (one.reason, two.reason)
    assert one.physical_id == two.physical_id
    assert first.request.accepted is one and first.request.ignored == [two]
    assert len(endpoint.jobs) == 1, "one job for both deliveries"


def test_start_answered_with_a_5xx_after_it_happened_keeps_one_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.inject("StartAudienceGenerationJob", Fault.after_success(500))

    response = stack.create("Lookalikes", properties(endpoint))

    assert response.ok, response.reason
    assert list(endpoint.live_jobs()) == [response.physical_id]


def test_create_failed_reports_the_arn_and_the_service_reason(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.next_create_outcome("CREATE_FAILED", "INSUFFICIENT_SEED", "x" * 10_000)
    props = properties(endpoint)

    response = stack.create("Lookalikes", props)

    assert response.status == "FAILED"
    assert JOB.is_arn(response.physical_id)
    assert f"Job {response.physical_id} ended CREATE_FAILED: INSUFFICIENT_SEED: xxx" in (
        response.reason
    )
    assert len(response.reason) <= limits.MAX_REASON_BYTES
    rollback = stack.rollback_create("Lookalikes", response, props)
    assert rollback.ok, rollback.reason
    assert endpoint.live_jobs() == {}


def test_no_wait_completes_while_the_job_is_still_being_created(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.stick_next_create()

    response = stack.create("Lookalikes", properties(endpoint, WaitForCompletion=False))

    assert response.ok, response.reason
    assert response.polls == 1
    assert endpoint.jobs[response.physical_id].status in ("CREATE_PENDING", "CREATE_IN_PROGRESS")


def test_a_job_stuck_past_the_wait_fails_with_its_arn(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.stick_next_create()

    response = stack.create("Lookalikes", properties(endpoint, WaitTimeoutSeconds=1))

    assert response.status == "FAILED"
    assert JOB.is_arn(response.physical_id)
    assert "still CREATE_" in response.reason and "WaitTimeoutSeconds=1" in response.reason


def test_tag_only_update_keeps_the_job_and_its_rollback_restores_the_tags(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = stack.create("Lookalikes", properties(endpoint, Tags=[{"Key": "a", "Value": "1"}]))
    arn = created.physical_id

    updated, follow_up = stack.update(
        "Lookalikes",
        properties(endpoint, Tags=[{"Key": "b", "Value": "2"}], WaitForCompletion=False),
    )

    assert updated.ok, updated.reason
    assert updated.physical_id == arn and follow_up is None
    assert endpoint.calls_of("StartAudienceGenerationJob").__len__() == 1
    tags = endpoint.jobs[arn].tags
    assert tags["b"] == "2" and "a" not in tags and OWNER_TAG_KEY in tags

    # The rollback CloudFormation sends when a later resource fails: old and new swapped.
    rollback = stack.framework.deliver(
        stack.event(
            "Update",
            "Lookalikes",
            properties(endpoint, Tags=[{"Key": "a", "Value": "1"}]),
            PhysicalResourceId=arn,
            OldResourceProperties=stack.properties["Lookalikes"],
        )
    )
    assert rollback.ok and rollback.physical_id == arn
    tags = endpoint.jobs[arn].tags
    assert tags["a"] == "1" and "b" not in tags and OWNER_TAG_KEY in tags


def test_replacement_starts_a_new_job_and_cleanup_deletes_the_old_one(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    old = stack.create("Lookalikes", properties(endpoint)).physical_id

    updated, cleanup = stack.update("Lookalikes", properties(endpoint, Description="new"))

    assert updated.ok, updated.reason
    assert updated.physical_id != old and JOB.is_arn(updated.physical_id)
    assert cleanup is not None and cleanup.ok, cleanup
    assert list(endpoint.live_jobs()) == [updated.physical_id]
    assert endpoint.jobs[updated.physical_id].params["description"] == "new"


def test_rollback_of_a_failed_replacement_keeps_the_original_job(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    original = stack.create("Lookalikes", properties(endpoint)).physical_id
    endpoint.next_create_outcome("CREATE_FAILED", "BAD_SEED", "no rows")

    updated, rollback = stack.update("Lookalikes", properties(endpoint, Description="new"))

    assert updated.status == "FAILED" and "BAD_SEED" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == original
    failed = endpoint.jobs[updated.physical_id]
    assert failed.gone or failed.status.startswith("DELETE_"), "the failed replacement goes"
    assert endpoint.jobs[original].status == "ACTIVE"
    assert len(endpoint.calls_of("StartAudienceGenerationJob")) == 2, "no third job"


def test_replacement_with_an_unchanged_pinned_name_fails_before_start(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    stack.create("Pinned", properties(endpoint, Name="spring"))
    endpoint.clear_calls()

    updated, rollback = stack.update("Pinned", properties(endpoint, Name="spring", Description="x"))

    assert updated.status == "FAILED"
    assert "Name: changing Description needs a new job" in updated.reason
    assert "names are unique per account" in updated.reason
    assert endpoint.calls_of("StartAudienceGenerationJob") == []
    assert rollback is not None and rollback.ok


def test_replacement_with_a_new_pinned_name(stack: Stack, endpoint: CleanRoomsMLEndpoint) -> None:
    old = stack.create("Pinned", properties(endpoint, Name="spring")).physical_id

    updated, cleanup = stack.update("Pinned", properties(endpoint, Name="summer"))

    assert updated.ok and updated.physical_id != old
    assert cleanup is not None and cleanup.ok
    assert [job.name for job in endpoint.live_jobs().values()] == ["summer"]


def test_pinned_name_held_by_someone_elses_job_is_a_clear_failure(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    other = Stack(stack.framework, stack_id=stack.stack_id.replace("Jobs", "Other"))
    other.create("Theirs", properties(endpoint, Name="taken"))

    response = stack.create("Mine", properties(endpoint, Name="taken"))

    assert response.status == "FAILED"
    assert "a job named 'taken' already exists in this account" in response.reason
    assert len(endpoint.live_jobs()) == 1


@pytest.mark.parametrize(
    ("physical_id", "looks_for_a_cancelled_create"),
    [
        (CREATE_FAILED_MARKER, False),
        ("Jobs-Lookalikes-1A2B3C4D5E6F", True),  # CloudFormation's own id for a cancelled create
        ("6f1c1f4e-1111-2222-3333-444455556666", True),
    ],
)
def test_delete_of_an_id_that_is_no_job_deletes_nothing(
    stack: Stack,
    endpoint: CleanRoomsMLEndpoint,
    physical_id: str,
    looks_for_a_cancelled_create: bool,
) -> None:
    other = stack.create("Other", properties(endpoint)).physical_id
    endpoint.clear_calls()
    event = stack.event(
        "Delete", "Lookalikes", properties(endpoint), PhysicalResourceId=physical_id
    )

    first = stack.framework.deliver(event)
    second = stack.framework.deliver(event)

    assert first.ok and second.ok
    assert endpoint.calls_of("DeleteAudienceGenerationJob") == []
    assert list(endpoint.live_jobs()) == [other]
    operations = {operation for operation, _ in endpoint.calls}
    assert operations == ({"ListAudienceGenerationJobs"} if looks_for_a_cancelled_create else set())


def test_delete_removes_the_job_and_tolerates_a_vanished_one(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = stack.create("Lookalikes", properties(endpoint))
    event = stack.event(
        "Delete", "Lookalikes", properties(endpoint), PhysicalResourceId=created.physical_id
    )

    first = stack.framework.deliver(event)
    again = stack.framework.deliver(event)

    assert first.ok and again.ok, (first.reason, again.reason)
    assert endpoint.live_jobs() == {}
    assert len(endpoint.calls_of("DeleteAudienceGenerationJob")) == 1


def test_delete_of_a_job_another_resource_owns_fails_naming_it(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    other = Stack(stack.framework, stack_id=stack.stack_id.replace("Jobs", "Other"))
    theirs = other.create("Theirs", properties(endpoint)).physical_id

    response = stack.framework.deliver(
        stack.event("Delete", "Mine", properties(endpoint), PhysicalResourceId=theirs)
    )

    assert response.status == "FAILED"
    assert response.reason.startswith(
        f"Job {theirs} carries the ownership tag of another stack resource"
    )
    assert theirs in endpoint.live_jobs()
    assert endpoint.calls_of("DeleteAudienceGenerationJob") == []


def test_delete_by_arn_removes_a_job_whose_ownership_tag_was_removed(
    stack: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = stack.create("Lookalikes", properties(endpoint)).physical_id
    aws.client().untag_resource(resourceArn=arn, tagKeys=[OWNER_TAG_KEY])

    deleted = stack.delete("Lookalikes")

    assert deleted.ok, deleted.reason
    assert endpoint.live_jobs() == {}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"IncludeSeedInOutput": "maybe"}, "IncludeSeedInOutput: must be true or false"),
        ({"Name": "n" * 64}, "Name: must be 1 to 63 characters, got 64"),
        ({"ConfiguredAudienceModelArn": "arn:aws:s3:::bucket"}, "ConfiguredAudienceModelArn"),
        ({"Tags": [{"Key": "aws:cdk", "Value": "x"}]}, "the prefix 'aws:' is reserved"),
        ({"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(50)]}, "at most 49 tags"),
        ({"SeedAudience": {"RoleArn": "arn:aws:iam::123456789012:user/x"}}, "SeedAudience"),
    ],
)
def test_bad_input_fails_before_any_api_call(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    response = stack.create("Lookalikes", properties(endpoint, **overrides))

    assert response.status == "FAILED"
    assert response.physical_id == CREATE_FAILED_MARKER
    assert message in response.reason
    assert endpoint.calls == []


def test_logs_hold_no_sql_no_parameters_and_no_response_url(
    stack: Stack, endpoint: CleanRoomsMLEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # whatever level a user sets, nothing secret is logged
    endpoint.inject("StartAudienceGenerationJob", Fault.throttle())
    props = properties(endpoint, SeedAudience=sql_seed())

    created = stack.create("Sql", props)
    stack.update("Sql", {**props, "Tags": [{"Key": "x", "Value": "y"}]})
    stack.delete("Sql")

    assert created.ok, created.reason
    # botocore logs request bodies at DEBUG; the handler keeps it above that.
    assert logging.getLogger("botocore").getEffectiveLevel() > logging.DEBUG
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Started job" in text
    for secret in (SQL, SQL_PARAMETER, RESPONSE_URL, "presigned-secret-signature"):
        assert secret not in text
    for data in stack.data.values():
        assert SQL not in str(data) and SQL_PARAMETER not in str(data)
