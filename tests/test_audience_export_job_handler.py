"""The AudienceExportJob kind through the real Provider framework and the Clean Rooms ML double.

The API has Start and List only (no Get, no Delete, no tags, no client token): the export's name
is its only handle. A retried or redelivered Start adopts the export its request started, never a
second one; its status and output location are what the list reports; a Delete leaves the
export (and its files) in place; an export of the same name that this request did not start is an
error naming ``Name``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import index
import pytest
from cleanrooms.engine import aws, lifecycle
from cleanrooms.kinds.audience_export_job import KIND as EXPORT
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import Stack
from local_endpoint import local_endpoint
from provider_runtime import RealProviderFramework

START = "StartAudienceExportJob"
LIST = "ListAudienceExportJobs"
SEED = {"roleArn": "arn:aws:iam::123456789012:role/seed-reader", "dataSource": {"s3Uri": "s3://s/"}}


@pytest.fixture
def endpoint() -> Iterator[CleanRoomsMLEndpoint]:
    """The local endpoints; an export takes 0.2 s to run (0.1 s PENDING, then IN_PROGRESS)."""
    with local_endpoint(create_duration=0.05, delete_duration=0.05, export_duration=0.2) as local:
        yield local


@pytest.fixture
def exports(endpoint: CleanRoomsMLEndpoint) -> Stack:
    return Stack(
        RealProviderFramework(index, query_interval=0.01, total_timeout=30),
        resource_type=EXPORT.resource_type,
    )


@pytest.fixture
def job_arn(endpoint: CleanRoomsMLEndpoint) -> str:
    """An ACTIVE audience generation job of the double to export."""
    return active_job(endpoint, "lookalikes")


def active_job(endpoint: CleanRoomsMLEndpoint, name: str) -> str:
    arn = str(
        aws.call(
            "cleanroomsml",
            "StartAudienceGenerationJob",
            name=name,
            configuredAudienceModelArn=endpoint.default_model_arn,
            seedAudience=SEED,
        )["audienceGenerationJobArn"]
    )
    deadline = time.monotonic() + 5
    while endpoint.jobs[arn].status != "ACTIVE":
        assert time.monotonic() < deadline, endpoint.jobs[arn].status
        time.sleep(0.01)
    return arn


def export_properties(job_arn: str, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AudienceGenerationJobArn": job_arn,
        "AudienceSize": {"Type": "ABSOLUTE", "Value": 10000},
        "WaitForCompletion": True,
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def test_create_starts_one_export_and_reports_its_output_location(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    created = exports.create("Export", export_properties(job_arn, Description="spring"))

    assert created.ok, created.reason
    (request,) = endpoint.calls_of(START)
    assert request["audienceSize"] == {"type": "ABSOLUTE", "value": 10000}  # a number again
    assert request["description"] == "spring" and "tags" not in request
    name = request["name"]
    export = endpoint.export_jobs[name]
    assert export.status == "ACTIVE"
    assert exports.physical_ids["Export"] == f"{job_arn}|{name}"
    assert exports.data["Export"] == {"Name": name, "OutputLocation": export.output_location}
    # Every read of the export lists only the generation job's exports.
    assert all(call.get("audienceGenerationJobArn") == job_arn for call in endpoint.calls_of(LIST))


def test_without_waiting_it_completes_once_started(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    created = exports.create("Export", export_properties(job_arn, WaitForCompletion=False))

    assert created.ok, created.reason
    (export,) = endpoint.export_jobs.values()
    assert export.status != "ACTIVE"  # the resource did not wait for it
    assert exports.data["Export"] == {"Name": export.name, "OutputLocation": ""}


def test_a_redelivered_create_adopts_its_export(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    first = exports.begin_create("Export", export_properties(job_arn))
    second = exports.redeliver(first)

    answers = [exports.wait_open(first), exports.wait_open(second)]

    assert all(answer.ok for answer in answers), [answer.reason for answer in answers]
    assert len(endpoint.export_jobs) == 1
    assert len(endpoint.calls_of(START)) == 2  # the second Start met ConflictException


def test_a_start_whose_answer_was_lost_is_adopted(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    endpoint.inject(START, Fault.after_success(), times=1)

    created = exports.create("Export", export_properties(job_arn))

    assert created.ok, created.reason
    assert len(endpoint.calls_of(START)) == 2
    (name,) = endpoint.export_jobs
    assert exports.physical_ids["Export"] == f"{job_arn}|{name}"


def test_a_pinned_name_of_a_redelivered_create_is_adopted(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    first = exports.begin_create("Export", export_properties(job_arn, Name="spring-export"))
    second = exports.redeliver(first)

    answers = [exports.wait_open(first), exports.wait_open(second)]

    assert all(answer.ok for answer in answers), [answer.reason for answer in answers]
    assert list(endpoint.export_jobs) == ["spring-export"]


def test_a_throttled_start_is_retried_and_starts_one_export(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    endpoint.inject(START, Fault.throttle(), times=8)  # past botocore's own retries

    created = exports.create("Export", export_properties(job_arn))

    assert created.ok, created.reason
    assert len(endpoint.export_jobs) == 1


@pytest.mark.parametrize(
    "description", [None, "another export"], ids=["same-members-made-earlier", "other-members"]
)
def test_a_name_another_export_holds_is_an_error_naming_the_property(
    exports: Stack,
    endpoint: CleanRoomsMLEndpoint,
    job_arn: str,
    description: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = {"description": description} if description else {}
    aws.call(
        "cleanroomsml",
        START,
        name="spring-export",
        audienceGenerationJobArn=job_arn,
        audienceSize={"type": "ABSOLUTE", "value": 10000},
        **other,
    )
    # Made before CloudFormation sent the request: not the request's, even with its members.
    monkeypatch.setattr(lifecycle, "CLOCK_TOLERANCE", timedelta(0))
    time.sleep(0.01)

    created = exports.create("Export", export_properties(job_arn, Name="spring-export"))

    assert not created.ok
    assert created.reason.startswith(
        "Name: an audience export job named 'spring-export' already exists in this account "
        f"({job_arn}|spring-export) and this request did not make it"
    )
    assert len(endpoint.calls_of(START)) == 2 and len(endpoint.export_jobs) == 1


def test_a_name_held_by_an_export_of_another_job_is_an_error(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    other = active_job(endpoint, "autumn")
    aws.call(
        "cleanroomsml",
        START,
        name="spring-export",
        audienceGenerationJobArn=other,
        audienceSize={"type": "ABSOLUTE", "value": 10000},
    )

    created = exports.create("Export", export_properties(job_arn, Name="spring-export"))

    assert not created.ok and "already exists" in created.reason
    assert f"{other}|spring-export" in created.reason
    assert endpoint.export_jobs["spring-export"].params["audienceGenerationJobArn"] == other


def test_a_failed_export_fails_with_the_service_s_status_code_and_message(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    endpoint.next_export_outcome("CREATE_FAILED", "INSUFFICIENT_DATA", "Too few identifiers")

    created = exports.create("Export", export_properties(job_arn))

    assert not created.ok
    assert "ended CREATE_FAILED: INSUFFICIENT_DATA: Too few identifiers" in created.reason
    rollback = exports.rollback_create("Export", created, export_properties(job_arn))
    assert rollback.ok, rollback.reason
    assert len(endpoint.export_jobs) == 1  # it cannot be deleted; nothing else was started


def test_an_export_still_running_at_the_wait_timeout_fails_naming_it(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    endpoint.export_duration = 60

    created = exports.create("Export", export_properties(job_arn, WaitTimeoutSeconds=1))

    assert not created.ok
    (name,) = endpoint.export_jobs
    assert f"{job_arn}|{name} is still CREATE_" in created.reason
    assert "WaitTimeoutSeconds=1" in created.reason


def test_delete_leaves_the_export_and_logs_where_its_files_are(
    exports: Stack,
    endpoint: CleanRoomsMLEndpoint,
    job_arn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert exports.create("Export", export_properties(job_arn)).ok
    (export,) = endpoint.export_jobs.values()

    with caplog.at_level(logging.WARNING):
        deleted = exports.delete("Export")

    assert deleted.ok, deleted.reason
    assert endpoint.export_jobs[export.name].status == "ACTIVE"
    assert f"OutputLocation {export.output_location}" in caplog.text
    assert "the API cannot delete it" in caplog.text


def test_a_change_starts_a_new_export_and_the_old_one_stays(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    props = export_properties(job_arn)
    old = exports.create("Export", props).physical_id

    rewaited, _ = exports.update("Export", {**props, "WaitTimeoutSeconds": 600})
    assert rewaited.ok and exports.physical_ids["Export"] == old
    assert len(endpoint.calls_of(START)) == 1

    replaced, cleanup = exports.update(
        "Export", {**props, "AudienceSize": {"Type": "ABSOLUTE", "Value": 5000}}
    )

    assert replaced.ok, replaced.reason
    assert exports.physical_ids["Export"] != old
    assert cleanup is not None and cleanup.ok, cleanup
    assert len(endpoint.export_jobs) == 2


def test_a_cancelled_create_starts_nothing_once_cancelled(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    endpoint.inject(START, Fault.throttle(), times=1000)  # the Start stays owed
    props = export_properties(job_arn)
    waiter = exports.begin_create("Export", props)

    deleted = exports.cancel_create("Export", props, waiter)
    endpoint.clear_faults()
    exports.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert endpoint.export_jobs == {}


def test_a_cancelled_create_s_export_is_left_and_never_started_twice(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    endpoint.export_duration = 60
    props = export_properties(job_arn)
    waiter = exports.begin_create("Export", props)
    deadline = time.monotonic() + 5
    while not endpoint.export_jobs:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    deleted = exports.cancel_create("Export", props, waiter)
    answer = exports.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert not answer.ok and "the API cannot delete it" in answer.reason
    assert len(endpoint.export_jobs) == 1 and len(endpoint.calls_of(START)) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"AudienceSize": {"Type": "PERCENTAGE", "Value": "150"}}, "AudienceSize.Value: must be 1"),
        ({"AudienceSize": {"Type": "SOME", "Value": "10"}}, "AudienceSize.Type: must be one of"),
        ({"AudienceSize": {"Type": "ABSOLUTE", "Value": "0"}}, "AudienceSize.Value: must be 1"),
        ({"AudienceGenerationJobArn": "arn:aws:s3:::bucket"}, "AudienceGenerationJobArn: must"),
        ({"Name": "x" * 64}, "Name: must be 1 to 63 characters"),
        ({"Tags": [{"Key": "team", "Value": "ml"}]}, "Tags: unknown property"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    exports: Stack,
    endpoint: CleanRoomsMLEndpoint,
    job_arn: str,
    overrides: dict[str, Any],
    message: str,
) -> None:
    created = exports.create("Export", export_properties(job_arn, **overrides))

    assert not created.ok
    assert message in created.reason
    assert endpoint.calls_of(START) == [] and endpoint.calls_of(LIST) == []


def test_a_failed_replacement_rolls_back_to_the_old_export_without_a_third(
    exports: Stack, endpoint: CleanRoomsMLEndpoint, job_arn: str
) -> None:
    props = export_properties(job_arn)
    old = exports.create("Export", props).physical_id
    endpoint.next_export_outcome("CREATE_FAILED", "INTERNAL_ERROR", "Export failed")

    updated, rollback = exports.update(
        "Export", {**props, "AudienceSize": {"Type": "ABSOLUTE", "Value": 5000}}
    )

    assert not updated.ok and "ended CREATE_FAILED: INTERNAL_ERROR: Export failed" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == old
    assert len(endpoint.export_jobs) == 2 and len(endpoint.calls_of(START)) == 2
