"""Tests of the Clean Rooms ML test double, driven through a real boto3 client."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cleanrooms_ml_client import failure, isolate_aws_environment, make_client, raw
from cleanrooms_ml_endpoint import (
    CleanRoomsMLEndpoint,
    Fault,
    ManualClock,
    error_status,
    service_model,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/seed-reader"
SEED = {"roleArn": ROLE_ARN, "dataSource": {"s3Uri": "s3://seed-bucket/seed.csv"}}
COLLABORATION_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_MODEL_ARN = "arn:aws:cleanrooms-ml:us-east-1:123456789012:configured-audience-model/model-2"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)


@pytest.fixture
def endpoint() -> Iterator[CleanRoomsMLEndpoint]:
    with CleanRoomsMLEndpoint(create_duration=0.0, delete_duration=0.0) as double:
        yield double
        assert double.internal_errors == []


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def timed(clock: ManualClock) -> Iterator[CleanRoomsMLEndpoint]:
    """Creation takes 10 s and deletion 4 s on the manual clock."""
    with CleanRoomsMLEndpoint(
        create_duration=10.0, delete_duration=4.0, clock=clock, quota=2
    ) as double:
        yield double
        assert double.internal_errors == []


@pytest.fixture
def client(endpoint: CleanRoomsMLEndpoint) -> Any:
    return make_client(endpoint)


@pytest.fixture
def tclient(timed: CleanRoomsMLEndpoint) -> Any:
    return make_client(timed)


def start(client: Any, name: str, model_arn: str | None = None, **extra: Any) -> str:
    model_arn = (
        model_arn
        or "arn:aws:cleanrooms-ml:us-east-1:123456789012:configured-audience-model/model-1"
    )
    request = {"name": name, "configuredAudienceModelArn": model_arn, "seedAudience": SEED, **extra}
    response = client.start_audience_generation_job(**request)
    return str(response["audienceGenerationJobArn"])


def status_of(client: Any, arn: str) -> str:
    return str(client.get_audience_generation_job(audienceGenerationJobArn=arn)["status"])


# --------------------------------------------------------------------------- happy paths


def test_start_get_tag_untag_delete_lifecycle(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = start(client, "lifecycle", tags={"team": "ads"})
    assert arn.startswith("arn:aws:cleanrooms-ml:us-east-1:123456789012:audience-generation-job/")
    assert status_of(client, arn) == "ACTIVE"

    client.tag_resource(resourceArn=arn, tags={"env": "test"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "ads", "env": "test"}
    client.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "test"}

    client.delete_audience_generation_job(audienceGenerationJobArn=arn)
    assert failure(lambda: status_of(client, arn))[:2] == ("ResourceNotFoundException", 404)
    assert endpoint.jobs[arn].gone and endpoint.live_jobs() == {}
    assert [name for name, _ in endpoint.calls] == [
        "StartAudienceGenerationJob",
        "GetAudienceGenerationJob",
        "TagResource",
        "ListTagsForResource",
        "UntagResource",
        "ListTagsForResource",
        "DeleteAudienceGenerationJob",
        "GetAudienceGenerationJob",
    ]


def test_get_returns_every_member_the_double_knows(client: Any) -> None:
    seed = {**SEED, "sqlComputeConfiguration": {"worker": {"type": "CR.4X", "number": 4}}}
    arn = client.start_audience_generation_job(
        name="full",
        description="all members",
        configuredAudienceModelArn="arn:aws:cleanrooms-ml:us-east-1:123456789012:configured-audience-model/model-1",
        seedAudience=seed,
        includeSeedInOutput=True,
        collaborationId=COLLABORATION_ID,
        tags={"k": "v"},
    )["audienceGenerationJobArn"]
    job = client.get_audience_generation_job(audienceGenerationJobArn=arn)
    modeled = set(service_model().operation_model("GetAudienceGenerationJob").output_shape.members)
    assert modeled - set(job) == {"statusDetails", "metrics", "protectedQueryIdentifier"}
    assert job["seedAudience"] == seed and job["includeSeedInOutput"] is True
    assert job["collaborationId"] == COLLABORATION_ID and job["startedBy"] == "123456789012"
    assert job["tags"] == {"k": "v"} and job["description"] == "all members"
    assert job["createTime"].tzinfo is not None and job["updateTime"] >= job["createTime"]


def test_timestamps_are_iso8601_on_the_wire(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = start(client, "wire")
    status, headers, document = raw(
        endpoint, "GET", "/audience-generation-job/" + urllib.parse.quote(arn, safe="")
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert document["createTime"].endswith("Z") and "T" in document["createTime"]


def test_list_pages_default_size_and_filters(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.add_configured_audience_model(OTHER_MODEL_ARN)
    arns = [start(client, f"job-{i}") for i in range(4)]
    arns += [
        start(client, f"other-{i}", OTHER_MODEL_ARN, collaborationId=COLLABORATION_ID)
        for i in range(3)
    ]

    pages = list(client.get_paginator("list_audience_generation_jobs").paginate())
    assert [len(page["audienceGenerationJobs"]) for page in pages] == [3, 3, 1]
    listed = [job for page in pages for job in page["audienceGenerationJobs"]]
    assert [job["audienceGenerationJobArn"] for job in listed] == arns
    summary = service_model().shape_for("AudienceGenerationJobSummary")
    assert all(set(job) <= set(summary.members) for job in listed)
    assert "seedAudience" not in listed[0] and listed[0]["status"] == "ACTIVE"

    by_model = client.list_audience_generation_jobs(
        configuredAudienceModelArn=OTHER_MODEL_ARN, maxResults=10
    )
    assert [job["name"] for job in by_model["audienceGenerationJobs"]] == [
        "other-0",
        "other-1",
        "other-2",
    ]
    assert "nextToken" not in by_model
    by_collaboration = client.list_audience_generation_jobs(
        collaborationId=COLLABORATION_ID, maxResults=2
    )
    assert len(by_collaboration["audienceGenerationJobs"]) == 2 and by_collaboration["nextToken"]
    assert endpoint.calls_of("ListAudienceGenerationJobs")[-1] == {
        "collaborationId": COLLABORATION_ID,
        "maxResults": 2,
    }


def test_list_rejects_a_forged_next_token(client: Any) -> None:
    code, status, message = failure(
        lambda: client.list_audience_generation_jobs(nextToken="forged")
    )
    assert (code, status) == ("ValidationException", 400) and "nextToken" in message


def test_environment_variable_points_boto3_at_the_double(
    endpoint: CleanRoomsMLEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLEANROOMSML", endpoint.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env_client = boto3.client("cleanroomsml", region_name="us-east-1")
    assert env_client.list_audience_generation_jobs()["audienceGenerationJobs"] == []
    assert endpoint.calls == [("ListAudienceGenerationJobs", {})]


# --------------------------------------------------------------------------- validation


def _long_tag_key(client: Any) -> None:
    start(client, "tag-key", tags={"k" * 129: "v"})


VALIDATION_CASES: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "bad arn pattern": (
        lambda c: c.get_audience_generation_job(audienceGenerationJobArn="arn:aws:s3:::not-a-job"),
        "audienceGenerationJobArn",
        "regular expression pattern",
    ),
    "name too long": (lambda c: start(c, "n" * 64), "'name'", "length less than or equal to 63"),
    "blank name": (lambda c: start(c, "   "), "'name'", "regular expression pattern"),
    "unknown enum": (
        lambda c: start(
            c,
            "enum",
            seedAudience={**SEED, "sqlComputeConfiguration": {"worker": {"type": "CR.99X"}}},
        ),
        "seedAudience.sqlComputeConfiguration.worker.type",
        "enum value set",
    ),
    "empty union": (
        lambda c: start(c, "union", seedAudience={**SEED, "sqlComputeConfiguration": {}}),
        "seedAudience.sqlComputeConfiguration",
        "exactly one member",
    ),
    "missing required": (
        lambda c: c.start_audience_generation_job(
            name="x", configuredAudienceModelArn=OTHER_MODEL_ARN
        ),
        "seedAudience",
        "must not be null",
    ),
    "wrong type": (
        lambda c: start(c, "bool", includeSeedInOutput="yes"),
        "includeSeedInOutput",
        "boolean",
    ),
    "uppercase uuid": (
        lambda c: start(c, "uuid", collaborationId=COLLABORATION_ID.upper()),
        "collaborationId",
        "pattern",
    ),
    "querystring range": (
        lambda c: c.list_audience_generation_jobs(maxResults=101),
        "maxResults",
        "less than or equal to 100",
    ),
    "tag key too long": (_long_tag_key, "tags(key)", "length less than or equal to 128"),
}


@pytest.mark.parametrize("case", VALIDATION_CASES)
def test_invalid_input_is_a_validation_exception(endpoint: CleanRoomsMLEndpoint, case: str) -> None:
    call, member, rule = VALIDATION_CASES[case]
    unchecked = make_client(endpoint, validate=False)
    code, status, message = failure(lambda: call(unchecked))
    assert (code, status) == ("ValidationException", 400)
    assert member in message and rule in message
    assert endpoint.live_jobs() == {}


def test_unknown_body_members_and_bad_json_are_rejected(endpoint: CleanRoomsMLEndpoint) -> None:
    body = {
        "name": "x",
        "configuredAudienceModelArn": endpoint.default_model_arn,
        "seedAudience": SEED,
    }
    status, headers, document = raw(
        endpoint, "POST", "/audience-generation-job", json.dumps({**body, "extra": 1}).encode()
    )
    assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert "extra" in document["message"]
    nested = {**body, "seedAudience": {**SEED, "surprise": True}}
    status, _, document = raw(
        endpoint, "POST", "/audience-generation-job", json.dumps(nested).encode()
    )
    assert status == 400 and "seedAudience.surprise" in document["message"]
    status, _, document = raw(endpoint, "POST", "/audience-generation-job", b"{not json")
    assert status == 400 and "JSON" in document["message"]
    assert endpoint.live_jobs() == {}


def test_querystring_integer_that_does_not_parse(endpoint: CleanRoomsMLEndpoint) -> None:
    status, _, document = raw(endpoint, "GET", "/audience-generation-job?maxResults=many")
    assert (
        status == 400 and "maxResults" in document["message"] and "integer" in document["message"]
    )


def test_reserved_aws_tag_keys_are_rejected(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    assert (
        failure(lambda: start(client, "reserved", tags={"AWS:owner": "me"}))[0]
        == "ValidationException"
    )
    arn = start(client, "ok")
    assert (
        failure(lambda: client.tag_resource(resourceArn=arn, tags={"aws:x": "y"}))[0]
        == "ValidationException"
    )
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_at_most_fifty_user_tags(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    assert (
        failure(lambda: start(client, "too-many", tags={**fifty, "k50": "v"}))[0]
        == "ValidationException"
    )
    arn = start(client, "fifty", tags=fifty)
    assert (
        failure(lambda: client.tag_resource(resourceArn=arn, tags={"one-more": "v"}))[0]
        == "ValidationException"
    )
    client.tag_resource(
        resourceArn=arn, tags={"k0": "replaced"}
    )  # overwriting keeps the count at 50
    assert client.list_tags_for_resource(resourceArn=arn)["tags"]["k0"] == "replaced"


def test_unknown_route_and_unimplemented_operation_are_404(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    status, headers, document = raw(endpoint, "GET", "/no/such/route")
    assert (
        status == 404
        and headers["x-amzn-ErrorType"] == "UnknownOperationException"
        and document["message"]
    )
    code, status, message = failure(lambda: client.list_training_datasets())
    assert (code, status) == (
        "UnknownOperationException",
        404,
    ) and "ListTrainingDatasets" in message
    assert [name for name, _ in endpoint.calls] == ["GET /no/such/route", "ListTrainingDatasets"]


# --------------------------------------------------------------------------- service rules


def test_duplicate_name_conflicts_until_the_old_job_is_gone(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    arn = start(client, "unique")
    assert failure(lambda: start(client, "unique"))[:2] == ("ConflictException", 409)
    endpoint.set_job_status(arn, "CREATE_FAILED")
    assert failure(lambda: start(client, "unique"))[0] == "ConflictException"
    client.delete_audience_generation_job(audienceGenerationJobArn=arn)
    assert start(client, "unique") != arn


def test_quota_counts_jobs_being_created(
    timed: CleanRoomsMLEndpoint, tclient: Any, clock: ManualClock
) -> None:
    start(tclient, "q1")
    start(tclient, "q2")
    with pytest.raises(ClientError) as caught:
        start(tclient, "q3")
    error: Any = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ServiceQuotaExceededException",
        402,
    )
    assert error["quotaValue"] == 2.0 and error["quotaName"]
    clock.advance(10)
    start(tclient, "q3")


def test_unknown_configured_model_is_not_found(client: Any) -> None:
    assert failure(lambda: start(client, "x", OTHER_MODEL_ARN))[:2] == (
        "ResourceNotFoundException",
        404,
    )


def test_child_tags_from_the_model_are_overridden_by_request_tags(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    endpoint.add_configured_audience_model(
        OTHER_MODEL_ARN, tags={"owner": "model"}, child_tags={"cost-center": "42", "team": "model"}
    )
    arn = start(client, "child", OTHER_MODEL_ARN, tags={"team": "job"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "cost-center": "42",
        "team": "job",
    }
    assert client.list_tags_for_resource(resourceArn=OTHER_MODEL_ARN)["tags"] == {"owner": "model"}
    client.tag_resource(resourceArn=OTHER_MODEL_ARN, tags={"extra": "1"})
    client.untag_resource(resourceArn=OTHER_MODEL_ARN, tagKeys=["owner"])
    assert client.list_tags_for_resource(resourceArn=OTHER_MODEL_ARN)["tags"] == {"extra": "1"}
    with pytest.raises(ValueError, match="pattern"):
        endpoint.add_configured_audience_model("not-an-arn")


def test_tagging_an_unknown_resource_is_not_found(client: Any) -> None:
    missing = "arn:aws:cleanrooms-ml:us-east-1:123456789012:audience-generation-job/missing"
    assert failure(lambda: client.list_tags_for_resource(resourceArn=missing))[:2] == (
        "ResourceNotFoundException",
        404,
    )
    assert (
        failure(lambda: client.tag_resource(resourceArn=missing, tags={"a": "b"}))[0]
        == "ResourceNotFoundException"
    )


def test_concurrent_starts_respect_quota_and_unique_names(
    timed: CleanRoomsMLEndpoint, tclient: Any
) -> None:
    def attempt(name: str) -> str:
        try:
            start(tclient, name)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "started"

    with ThreadPoolExecutor(max_workers=8) as pool:
        same_name = list(pool.map(attempt, ["twin"] * 6))
        distinct = list(pool.map(attempt, [f"job-{i}" for i in range(6)]))
    assert sorted(same_name) == ["ConflictException"] * 5 + ["started"]
    assert distinct.count("started") == 1  # quota is 2 and "twin" holds one slot
    assert distinct.count("ServiceQuotaExceededException") == 5
    assert len(timed.live_jobs()) == 2


# --------------------------------------------------------------------------- asynchronous status


def test_create_and_delete_follow_the_clock(
    timed: CleanRoomsMLEndpoint, tclient: Any, clock: ManualClock
) -> None:
    arn = start(tclient, "clocked")
    assert status_of(tclient, arn) == "CREATE_PENDING"
    assert failure(lambda: tclient.delete_audience_generation_job(audienceGenerationJobArn=arn))[
        :2
    ] == (
        "ConflictException",
        409,
    )
    clock.advance(5)
    assert status_of(tclient, arn) == "CREATE_IN_PROGRESS"
    clock.advance(5)
    assert status_of(tclient, arn) == "ACTIVE"

    tclient.delete_audience_generation_job(audienceGenerationJobArn=arn)
    assert status_of(tclient, arn) == "DELETE_PENDING"
    tclient.delete_audience_generation_job(audienceGenerationJobArn=arn)  # already deleting: no-op
    clock.advance(2)
    assert status_of(tclient, arn) == "DELETE_IN_PROGRESS"
    assert [
        job["status"] for job in tclient.list_audience_generation_jobs()["audienceGenerationJobs"]
    ] == ["DELETE_IN_PROGRESS"]
    clock.advance(2)
    assert failure(lambda: status_of(tclient, arn))[0] == "ResourceNotFoundException"
    assert timed.jobs[arn].gone


def test_create_failed_outcome(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.next_create_outcome(
        "CREATE_FAILED", status_code="SEED_INVALID", message="seed has no rows"
    )
    failed = start(client, "fails")
    healthy = start(client, "works")
    job = client.get_audience_generation_job(audienceGenerationJobArn=failed)
    assert job["status"] == "CREATE_FAILED"
    assert job["statusDetails"] == {"statusCode": "SEED_INVALID", "message": "seed has no rows"}
    assert status_of(client, healthy) == "ACTIVE"
    client.delete_audience_generation_job(audienceGenerationJobArn=failed)
    assert set(endpoint.live_jobs()) == {healthy}


def test_stuck_create_stays_in_progress(
    timed: CleanRoomsMLEndpoint, tclient: Any, clock: ManualClock
) -> None:
    timed.stick_next_create()
    arn = start(tclient, "stuck")
    clock.advance(1_000_000)
    assert status_of(tclient, arn) == "CREATE_IN_PROGRESS"
    assert (
        failure(lambda: tclient.delete_audience_generation_job(audienceGenerationJobArn=arn))[0]
        == "ConflictException"
    )
    timed.set_job_status(arn, "ACTIVE")
    tclient.delete_audience_generation_job(audienceGenerationJobArn=arn)
    assert status_of(tclient, arn) == "DELETE_PENDING"


def test_delete_failed_outcome_then_retry(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = start(client, "stubborn")
    endpoint.next_delete_outcome("DELETE_FAILED", status_code="IN_USE", message="export running")
    client.delete_audience_generation_job(audienceGenerationJobArn=arn)
    job = client.get_audience_generation_job(audienceGenerationJobArn=arn)
    assert (job["status"], job["statusDetails"]["statusCode"]) == ("DELETE_FAILED", "IN_USE")
    client.delete_audience_generation_job(audienceGenerationJobArn=arn)
    assert failure(lambda: status_of(client, arn))[0] == "ResourceNotFoundException"


def test_set_job_status_with_details(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = start(client, "forced")
    endpoint.set_job_status(arn, "CREATE_FAILED", status_code="QUOTA", message="no capacity")
    job = client.get_audience_generation_job(audienceGenerationJobArn=arn)
    assert job["status"] == "CREATE_FAILED" and job["statusDetails"]["message"] == "no capacity"
    assert endpoint.jobs[arn].status_details == {"statusCode": "QUOTA", "message": "no capacity"}
    with pytest.raises(ValueError, match="not one of"):
        endpoint.set_job_status(arn, "DONE")


# --------------------------------------------------------------------------- fault injection


def test_throttle_once_is_retried_by_botocore(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.inject("StartAudienceGenerationJob", Fault.throttle(), times=1)
    start(client, "throttled")
    assert len(endpoint.calls_of("StartAudienceGenerationJob")) == 2
    assert len(endpoint.live_jobs()) == 1


def test_throttle_forever_until_cleared(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.inject("ListAudienceGenerationJobs", Fault.throttle(), times=None)
    assert failure(client.list_audience_generation_jobs)[:2] == ("ThrottlingException", 429)
    assert failure(client.list_audience_generation_jobs)[0] == "ThrottlingException"
    assert len(endpoint.calls_of("ListAudienceGenerationJobs")) == 4  # 2 calls x 2 attempts
    endpoint.clear_faults()
    client.list_audience_generation_jobs()


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_is_retried_then_reported(
    endpoint: CleanRoomsMLEndpoint, client: Any, status: int
) -> None:
    endpoint.inject("GetAudienceGenerationJob", Fault.server_error(status), times=2)
    arn = start(client, "flaky")
    assert failure(lambda: status_of(client, arn))[:2] == ("InternalServiceException", status)
    assert status_of(client, arn) == "ACTIVE"
    assert len(endpoint.calls_of("GetAudienceGenerationJob")) == 3


def test_access_denied_is_not_retried(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.inject("StartAudienceGenerationJob", Fault.access_denied())
    assert failure(lambda: start(client, "denied"))[:2] == ("AccessDeniedException", 403)
    assert len(endpoint.calls_of("StartAudienceGenerationJob")) == 1 and endpoint.live_jobs() == {}


def test_any_error_with_a_ten_kilobyte_message(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.inject(
        "DeleteAudienceGenerationJob", Fault.error("ConflictException", message="x" * 10_240)
    )
    arn = start(client, "big-message")
    code, status, message = failure(
        lambda: client.delete_audience_generation_job(audienceGenerationJobArn=arn)
    )
    assert (code, status, len(message)) == ("ConflictException", 409, 10_240)
    assert status_of(client, arn) == "ACTIVE"
    endpoint.inject("GetAudienceGenerationJob", Fault.error("ExpiredTokenException", status=400))
    assert failure(lambda: status_of(client, arn))[:2] == ("ExpiredTokenException", 400)
    with pytest.raises(ValueError, match="not a modeled error"):
        Fault.error("ExpiredTokenException")


def test_slow_answers_after_the_delay(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.inject("ListAudienceGenerationJobs", Fault.slow(0.2))
    began = time.monotonic()
    client.list_audience_generation_jobs()
    assert time.monotonic() - began >= 0.2
    with pytest.raises(ValueError):
        Fault.slow(3600)


def test_after_success_without_retries_fails_but_the_job_exists(
    endpoint: CleanRoomsMLEndpoint,
) -> None:
    endpoint.inject("StartAudienceGenerationJob", Fault.after_success())
    no_retry = make_client(endpoint, attempts=1)
    assert failure(lambda: start(no_retry, "lost-response"))[:2] == (
        "InternalServiceException",
        500,
    )
    assert [job.name for job in endpoint.live_jobs().values()] == ["lost-response"]


def test_after_success_with_retries_meets_a_conflict(endpoint: CleanRoomsMLEndpoint) -> None:
    endpoint.inject("StartAudienceGenerationJob", Fault.after_success(502))
    retrying = make_client(endpoint, attempts=3)
    assert failure(lambda: start(retrying, "retried"))[:2] == ("ConflictException", 409)
    assert (
        len(endpoint.calls_of("StartAudienceGenerationJob")) == 2 and len(endpoint.live_jobs()) == 1
    )


def test_after_success_on_delete_and_tag(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = start(client, "deleted-anyway")
    endpoint.inject("TagResource", Fault.after_success())
    endpoint.inject("DeleteAudienceGenerationJob", Fault.after_success())
    no_retry = make_client(endpoint, attempts=1)
    assert (
        failure(lambda: no_retry.tag_resource(resourceArn=arn, tags={"a": "b"}))[0]
        == "InternalServiceException"
    )
    assert endpoint.jobs[arn].tags == {"a": "b"}
    code = failure(lambda: client.delete_audience_generation_job(audienceGenerationJobArn=arn))[0]
    assert code == "ResourceNotFoundException"  # the retry finds the job already gone
    assert endpoint.jobs[arn].gone


def test_faults_are_per_operation_and_counted(endpoint: CleanRoomsMLEndpoint) -> None:
    no_retry = make_client(endpoint, attempts=1)
    endpoint.inject("ListTagsForResource", Fault.throttle(), times=2)
    endpoint.inject("ListTagsForResource", Fault.access_denied(), times=1)
    model = endpoint.default_model_arn
    codes = [
        failure(lambda: no_retry.list_tags_for_resource(resourceArn=model))[0] for _ in range(3)
    ]
    assert codes == ["ThrottlingException", "ThrottlingException", "AccessDeniedException"]
    no_retry.list_audience_generation_jobs()
    assert no_retry.list_tags_for_resource(resourceArn=model)["tags"] == {}
    with pytest.raises(ValueError, match="unknown operation"):
        endpoint.inject("StartAudienceJob", Fault.throttle())


def test_calls_record_parsed_parameters(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    assert endpoint.calls == []
    arn = start(client, "recorded")
    client.untag_resource(resourceArn=arn, tagKeys=["a", "b"])
    client.list_audience_generation_jobs(maxResults=7)
    assert endpoint.calls_of("UntagResource") == [{"resourceArn": arn, "tagKeys": ["a", "b"]}]
    assert endpoint.calls_of("ListAudienceGenerationJobs") == [{"maxResults": 7}]
    assert endpoint.calls_of("StartAudienceGenerationJob")[0]["seedAudience"] == SEED
    endpoint.clear_calls()
    assert endpoint.calls == []


# --------------------------------------------------------------------------- protocol fidelity


MODELED_STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServiceException": 500,
}


@pytest.mark.parametrize("code", MODELED_STATUS)
def test_error_status_comes_from_the_model(endpoint: CleanRoomsMLEndpoint, code: str) -> None:
    assert error_status(code) == MODELED_STATUS[code]
    endpoint.inject("ListAudienceGenerationJobs", Fault.error(code, message=f"injected {code}"))
    no_retry = make_client(endpoint, attempts=1)
    assert failure(no_retry.list_audience_generation_jobs) == (
        code,
        MODELED_STATUS[code],
        f"injected {code}",
    )


def test_a_response_that_drifts_from_the_model_is_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    with CleanRoomsMLEndpoint(create_duration=0.0, validate_responses=True) as double:
        no_retry = make_client(double, attempts=1)
        arn = start(no_retry, "drift")
        monkeypatch.setattr(
            double, "_view", lambda job, shape: {"audienceGenerationJobArn": arn, "status": "DONE"}
        )
        assert failure(lambda: status_of(no_retry, arn))[:2] == ("InternalServiceException", 500)
        assert "drifted" in double.internal_errors[0] and "status" in double.internal_errors[0]
