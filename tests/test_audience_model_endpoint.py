"""Audience models and audience export jobs on the Clean Rooms ML double.

Driven through a real boto3 ``cleanroomsml`` client, as the other operations are in
``test_cleanrooms_ml_endpoint`` and ``test_configured_audience_model_endpoint``; every
asynchronous status is walked on a :class:`ManualClock`, so hours of training take no time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cleanrooms_ml_client import failure, isolate_aws_environment, make_client
from cleanrooms_ml_endpoint import (
    IMPLEMENTED_OPERATIONS,
    CleanRoomsMLEndpoint,
    Fault,
    ManualClock,
    served_operations,
)

ACCOUNT = "123456789012"
HOUR = 3600.0
TRAINING = 3 * HOUR
DELETION = 60.0
JOB_CREATION = 120.0
EXPORT = 600.0
DATASET = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:training-dataset/clicks"
FAILING_DATASET = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:training-dataset/too-small"
KMS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/audience-writer"
OUTPUT = {"destination": {"s3Destination": {"s3Uri": "s3://audiences/out/"}}, "roleArn": ROLE_ARN}
SEED = {"roleArn": ROLE_ARN, "dataSource": {"s3Uri": "s3://seed-bucket/seed.csv"}}
NEW_OPERATIONS = (
    "CreateAudienceModel",
    "GetAudienceModel",
    "ListAudienceModels",
    "DeleteAudienceModel",
    "StartAudienceExportJob",
    "ListAudienceExportJobs",
)


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def endpoint(clock: ManualClock) -> Iterator[CleanRoomsMLEndpoint]:
    with CleanRoomsMLEndpoint(
        clock=clock,
        create_duration=JOB_CREATION,
        delete_duration=DELETION,
        training_duration=TRAINING,
        export_duration=EXPORT,
    ) as double:
        double.add_training_dataset(DATASET)
        double.add_training_dataset(FAILING_DATASET, fail_training=("DATA_TOO_SMALL", "Too few"))
        yield double
        assert double.internal_errors == []


@pytest.fixture
def client(endpoint: CleanRoomsMLEndpoint) -> Any:
    return make_client(endpoint)


def train(client: Any, name: str, **extra: Any) -> str:
    request = {"name": name, "trainingDatasetArn": DATASET, **extra}
    return str(client.create_audience_model(**request)["audienceModelArn"])


def model(client: Any, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get_audience_model(audienceModelArn=arn)
    found.pop("ResponseMetadata")
    return found


def status(client: Any, arn: str) -> str:
    return str(model(client, arn)["status"])


def configure(client: Any, name: str, audience_model_arn: str, **extra: Any) -> str:
    response = client.create_configured_audience_model(
        name=name,
        audienceModelArn=audience_model_arn,
        outputConfig=OUTPUT,
        sharedAudienceMetrics=["ALL"],
        **extra,
    )
    return str(response["configuredAudienceModelArn"])


def active_job(client: Any, clock: ManualClock, name: str, configured_arn: str) -> str:
    response = client.start_audience_generation_job(
        name=name, configuredAudienceModelArn=configured_arn, seedAudience=SEED
    )
    clock.advance(JOB_CREATION)
    return str(response["audienceGenerationJobArn"])


def exports(client: Any, **filters: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_audience_export_jobs").paginate(**filters)
    return [export for page in pages for export in page["audienceExportJobs"]]


def export_named(client: Any, name: str) -> dict[str, Any]:
    (found,) = [export for export in exports(client) if export["name"] == name]
    return found


# --------------------------------------------------------------------------- the model


def test_the_double_serves_the_new_operations() -> None:
    assert set(NEW_OPERATIONS) <= set(IMPLEMENTED_OPERATIONS)
    assert served_operations() == IMPLEMENTED_OPERATIONS


# --------------------------------------------------------------------------- audience models


def test_training_walks_every_status_on_the_virtual_clock(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    arn = train(client, "lookalike-base")
    assert arn.startswith(f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/")
    assert status(client, arn) == "CREATE_PENDING"
    clock.advance(TRAINING / 2)
    assert status(client, arn) == "CREATE_IN_PROGRESS"
    clock.advance(TRAINING / 2 - 1)
    assert status(client, arn) == "CREATE_IN_PROGRESS", "three hours are not up yet"
    clock.advance(1)
    assert status(client, arn) == "ACTIVE"
    assert endpoint.audience_models[arn].status == "ACTIVE"

    client.delete_audience_model(audienceModelArn=arn)
    assert status(client, arn) == "DELETE_PENDING"
    client.delete_audience_model(audienceModelArn=arn)  # again while deleting: a no-op
    clock.advance(DELETION / 2)
    assert status(client, arn) == "DELETE_IN_PROGRESS"
    clock.advance(DELETION / 2)
    code = failure(lambda: model(client, arn))
    assert code[:2] == ("ResourceNotFoundException", 404) and arn in code[2]
    assert arn not in endpoint.audience_models


def test_get_reports_every_member_of_the_request(client: Any, clock: ManualClock) -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    end = datetime(2024, 6, 30, 12, 30, tzinfo=timezone.utc)
    arn = train(
        client,
        "windowed",
        trainingDataStartTime=start,
        trainingDataEndTime=end,
        kmsKeyArn=KMS_KEY,
        description="six months of clicks",
        tags={"team": "ads"},
    )
    found = model(client, arn)
    created = found.pop("createTime")
    assert found.pop("updateTime") == created and created.tzinfo is not None
    assert found == {
        "audienceModelArn": arn,
        "name": "windowed",
        "trainingDatasetArn": DATASET,
        "trainingDataStartTime": start,
        "trainingDataEndTime": end,
        "kmsKeyArn": KMS_KEY,
        "description": "six months of clicks",
        "status": "CREATE_PENDING",
        "tags": {"team": "ads"},
    }
    clock.advance(TRAINING)
    assert model(client, arn)["updateTime"] >= created


def test_a_training_dataset_that_fails_training_reports_why(
    client: Any, clock: ManualClock
) -> None:
    arn = train(client, "doomed", trainingDatasetArn=FAILING_DATASET)
    clock.advance(TRAINING / 2)
    assert status(client, arn) == "CREATE_IN_PROGRESS"
    assert "statusDetails" not in model(client, arn)
    clock.advance(TRAINING / 2)
    failed = model(client, arn)
    assert failed["status"] == "CREATE_FAILED"
    assert failed["statusDetails"] == {"statusCode": "DATA_TOO_SMALL", "message": "Too few"}
    client.delete_audience_model(audienceModelArn=arn)  # a failed model can be deleted
    assert status(client, arn) == "DELETE_PENDING"


def test_a_test_can_fail_or_hang_one_training(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    failing, stuck = train(client, "failing"), train(client, "stuck")
    endpoint.fail_training("failing", "INTERNAL_ERROR", "GPU on fire")
    endpoint.stick_training(stuck)
    clock.advance(10 * TRAINING)
    assert model(client, failing)["statusDetails"] == {
        "statusCode": "INTERNAL_ERROR",
        "message": "GPU on fire",
    }
    assert status(client, stuck) == "CREATE_IN_PROGRESS"
    with pytest.raises(ValueError, match="done training"):
        endpoint.fail_training(failing)
    with pytest.raises(ValueError, match="no audience model"):
        endpoint.fail_training("never-made")


def test_an_unknown_training_dataset_is_not_found(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    missing = DATASET.replace("clicks", "never-made")
    code, http_status, message = failure(lambda: train(client, "x", trainingDatasetArn=missing))
    assert (code, http_status) == ("ResourceNotFoundException", 404) and missing in message
    assert [m.name for m in endpoint.audience_models.values()] == ["audience-model-1"]


def test_names_are_unique_until_the_model_is_gone(client: Any, clock: ManualClock) -> None:
    arn = train(client, "once")
    code = failure(lambda: train(client, "once"))
    assert code[:2] == ("ConflictException", 409) and "once" in code[2]
    conflict = failure(lambda: train(client, "audience-model-1"))
    assert conflict[0] == "ConflictException", "a registered model's name is taken too"
    clock.advance(TRAINING)
    client.delete_audience_model(audienceModelArn=arn)
    assert failure(lambda: train(client, "once"))[0] == "ConflictException"
    clock.advance(DELETION)
    assert train(client, "once") != arn


def test_deletion_is_refused_while_training_or_in_use(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    arn = train(client, "busy")
    training = failure(lambda: client.delete_audience_model(audienceModelArn=arn))
    assert training[:2] == ("ConflictException", 409) and "CREATE_PENDING" in training[2]
    clock.advance(TRAINING)
    configured = configure(client, "uses-busy", arn)
    in_use = failure(lambda: client.delete_audience_model(audienceModelArn=arn))
    assert in_use[0] == "ConflictException" and configured in in_use[2]
    client.delete_configured_audience_model(configuredAudienceModelArn=configured)
    client.delete_audience_model(audienceModelArn=arn)
    default = endpoint.default_audience_model_arn
    registered = failure(lambda: client.delete_audience_model(audienceModelArn=default))
    assert registered[0] == "ConflictException", "the default configured model uses it"


def test_a_configured_model_needs_an_active_audience_model(client: Any, clock: ManualClock) -> None:
    arn = train(client, "not-yet")
    refused = failure(lambda: configure(client, "too-early", arn))
    assert refused[:2] == ("ValidationException", 400) and "CREATE_PENDING" in refused[2]
    clock.advance(TRAINING)
    assert configure(client, "in-time", arn)
    failed = train(client, "failed", trainingDatasetArn=FAILING_DATASET)
    clock.advance(TRAINING)
    assert failure(lambda: configure(client, "on-failed", failed))[0] == "ValidationException"
    update = failure(
        lambda: client.update_configured_audience_model(
            configuredAudienceModelArn=configure(client, "moved", arn), audienceModelArn=failed
        )
    )
    assert update[0] == "ValidationException"


def test_a_registered_audience_model_is_a_model_like_any_other(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    other = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/retrained"
    endpoint.add_audience_model(other, {"team": "ads"}, training_dataset_arn=DATASET)
    found = model(client, other)
    assert (found["name"], found["status"], found["trainingDatasetArn"]) == (
        "retrained",
        "ACTIVE",
        DATASET,
    )
    assert client.list_tags_for_resource(resourceArn=other)["tags"] == {"team": "ads"}
    assert configure(client, "on-registered", other)
    with pytest.raises(ValueError, match="already named 'retrained'"):
        endpoint.add_audience_model(other.replace("retrained", "copy"), name="retrained")
    with pytest.raises(ValueError, match="pattern"):
        endpoint.add_training_dataset(endpoint.default_model_arn)


def test_list_pages_as_the_model_says(client: Any) -> None:
    for index in range(4):
        train(client, f"model-{index}")
    first = client.list_audience_models()
    assert [m["name"] for m in first["audienceModels"]] == [
        "audience-model-1",
        "model-0",
        "model-1",
    ]
    second = client.list_audience_models(nextToken=first["nextToken"])
    assert [m["name"] for m in second["audienceModels"]] == ["model-2", "model-3"]
    assert "nextToken" not in second
    summary = second["audienceModels"][0]
    assert set(summary) == {
        "audienceModelArn",
        "name",
        "trainingDatasetArn",
        "status",
        "createTime",
        "updateTime",
    }
    pages = client.get_paginator("list_audience_models").paginate(PaginationConfig={"PageSize": 2})
    assert sum(len(page["audienceModels"]) for page in pages) == 5
    forged = failure(lambda: client.list_audience_models(nextToken="forged"))
    assert forged[:2] == ("ValidationException", 400)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_audience_model(name="x", trainingDatasetArn="arn:aws:s3:::bucket"),
        lambda c: c.create_audience_model(name="n" * 64, trainingDatasetArn=DATASET),
        lambda c: c.create_audience_model(name="x", trainingDatasetArn=DATASET, kmsKeyArn="k"),
        lambda c: c.create_audience_model(
            name="x",
            trainingDatasetArn=DATASET,
            trainingDataStartTime=datetime(2024, 2, 1, tzinfo=timezone.utc),
            trainingDataEndTime=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ),
        lambda c: c.create_audience_model(
            name="x", trainingDatasetArn=DATASET, tags={"aws:owner": "me"}
        ),
        lambda c: c.get_audience_model(audienceModelArn="arn:aws:cleanrooms-ml:x"),
        lambda c: c.list_audience_models(maxResults=101),
    ],
    ids=["dataset-arn", "long-name", "kms-arn", "window", "reserved-tag", "model-arn", "page"],
)
def test_invalid_input_is_a_validation_exception(
    endpoint: CleanRoomsMLEndpoint, call: Callable[[Any], Any]
) -> None:
    code, http_status, message = failure(lambda: call(make_client(endpoint, validate=False)))
    assert (code, http_status) == ("ValidationException", 400) and message
    assert list(endpoint.audience_models) == [endpoint.default_audience_model_arn]


def test_tags_of_an_audience_model(client: Any, clock: ManualClock) -> None:
    arn = train(client, "tagged", tags={"a": "1"})
    client.tag_resource(resourceArn=arn, tags={"b": "2"})
    client.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    clock.advance(TRAINING)
    client.delete_audience_model(audienceModelArn=arn)
    clock.advance(DELETION)
    gone = failure(lambda: client.list_tags_for_resource(resourceArn=arn))
    assert gone[0] == "ResourceNotFoundException"


def test_a_throttled_create_is_retried_and_trains_one_model(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    endpoint.inject("CreateAudienceModel", Fault.throttle(), times=1)
    train(client, "retried")
    assert len(endpoint.calls_of("CreateAudienceModel")) == 2
    assert [m.name for m in endpoint.audience_models.values()] == ["audience-model-1", "retried"]


def test_a_lost_create_answer_meets_a_conflict_on_retry(endpoint: CleanRoomsMLEndpoint) -> None:
    endpoint.inject("CreateAudienceModel", Fault.after_success(), times=1)
    code = failure(lambda: train(make_client(endpoint, attempts=2), "lost"))
    assert code[:2] == ("ConflictException", 409)
    assert [m.name for m in endpoint.audience_models.values()] == ["audience-model-1", "lost"]


@pytest.mark.parametrize("operation", NEW_OPERATIONS)
def test_every_new_operation_takes_faults(endpoint: CleanRoomsMLEndpoint, operation: str) -> None:
    no_retry = make_client(endpoint, attempts=1)
    job = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-generation-job/x"
    calls: dict[str, Callable[[], Any]] = {
        "CreateAudienceModel": lambda: train(no_retry, "faulty"),
        "GetAudienceModel": lambda: model(no_retry, endpoint.default_audience_model_arn),
        "ListAudienceModels": no_retry.list_audience_models,
        "DeleteAudienceModel": lambda: no_retry.delete_audience_model(
            audienceModelArn=endpoint.default_audience_model_arn
        ),
        "StartAudienceExportJob": lambda: no_retry.start_audience_export_job(
            name="e", audienceGenerationJobArn=job, audienceSize={"type": "ABSOLUTE", "value": 1}
        ),
        "ListAudienceExportJobs": no_retry.list_audience_export_jobs,
    }
    endpoint.inject(operation, Fault.throttle(), times=1)
    assert failure(calls[operation])[:2] == ("ThrottlingException", 429)
    assert len(endpoint.calls_of(operation)) == 1


# --------------------------------------------------------------------------- audience export jobs


def test_an_export_walks_its_statuses_and_reports_where_it_went(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    job = active_job(client, clock, "gen", endpoint.default_model_arn)
    size = {"type": "ABSOLUTE", "value": 10000}
    answer = client.start_audience_export_job(
        name="export-1", audienceGenerationJobArn=job, audienceSize=size, description="first"
    )
    assert set(answer) == {"ResponseMetadata"}, "Start answers nothing but success"
    pending = export_named(client, "export-1")
    assert (pending["status"], pending["audienceSize"], pending["description"]) == (
        "CREATE_PENDING",
        size,
        "first",
    )
    assert "outputLocation" not in pending
    clock.advance(EXPORT / 2)
    assert export_named(client, "export-1")["status"] == "CREATE_IN_PROGRESS"
    clock.advance(EXPORT / 2)
    active = export_named(client, "export-1")
    assert active["status"] == "ACTIVE" and active["audienceGenerationJobArn"] == job
    assert active["outputLocation"].startswith("s3://audiences-123456789012/")
    assert endpoint.export_jobs["export-1"].status == "ACTIVE"
    assert not hasattr(client, "get_audience_export_job")
    assert not hasattr(client, "delete_audience_export_job")


def test_an_export_goes_under_the_configured_models_destination(
    client: Any, clock: ManualClock, endpoint: CleanRoomsMLEndpoint
) -> None:
    configured = configure(client, "to-out", endpoint.default_audience_model_arn)
    job = active_job(client, clock, "gen", configured)
    size = {"type": "PERCENTAGE", "value": 10}
    client.start_audience_export_job(name="e", audienceGenerationJobArn=job, audienceSize=size)
    clock.advance(EXPORT)
    assert export_named(client, "e")["outputLocation"].startswith("s3://audiences/out/")


def test_a_failed_export_reports_why(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    job = active_job(client, clock, "gen", endpoint.default_model_arn)
    endpoint.next_export_outcome("CREATE_FAILED", "EXPORT_FAILED", "Bucket is gone")
    size = {"type": "ABSOLUTE", "value": 5}
    client.start_audience_export_job(name="e", audienceGenerationJobArn=job, audienceSize=size)
    clock.advance(EXPORT)
    failed = export_named(client, "e")
    assert failed["status"] == "CREATE_FAILED" and "outputLocation" not in failed
    assert failed["statusDetails"] == {"statusCode": "EXPORT_FAILED", "message": "Bucket is gone"}


def test_export_names_are_unique_per_account_forever(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    first = active_job(client, clock, "first", endpoint.default_model_arn)
    second = active_job(client, clock, "second", endpoint.default_model_arn)
    size = {"type": "ABSOLUTE", "value": 5}
    client.start_audience_export_job(name="e", audienceGenerationJobArn=first, audienceSize=size)
    clock.advance(EXPORT)
    code = failure(
        lambda: client.start_audience_export_job(
            name="e", audienceGenerationJobArn=second, audienceSize=size
        )
    )
    assert code[:2] == ("ConflictException", 409) and "'e'" in code[2]


def test_an_export_needs_an_active_generation_job(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    size = {"type": "ABSOLUTE", "value": 5}
    job = client.start_audience_generation_job(
        name="young", configuredAudienceModelArn=endpoint.default_model_arn, seedAudience=SEED
    )["audienceGenerationJobArn"]
    early = failure(
        lambda: client.start_audience_export_job(
            name="e", audienceGenerationJobArn=job, audienceSize=size
        )
    )
    assert early[:2] == ("ValidationException", 400) and "CREATE_PENDING" in early[2]
    missing = job.rsplit("/", 1)[0] + "/missing"
    unknown = failure(
        lambda: client.start_audience_export_job(
            name="e", audienceGenerationJobArn=missing, audienceSize=size
        )
    )
    assert unknown[:2] == ("ResourceNotFoundException", 404)
    clock.advance(JOB_CREATION)
    client.start_audience_export_job(name="e", audienceGenerationJobArn=job, audienceSize=size)
    assert list(endpoint.export_jobs) == ["e"]


def test_the_size_must_be_one_the_configured_model_allows(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    bins = {"audienceSizeType": "ABSOLUTE", "audienceSizeBins": [1000, 5000]}
    configured = configure(
        client, "binned", endpoint.default_audience_model_arn, audienceSizeConfig=bins
    )
    job = active_job(client, clock, "gen", configured)

    def export(name: str, kind: str, value: int) -> None:
        client.start_audience_export_job(
            name=name, audienceGenerationJobArn=job, audienceSize={"type": kind, "value": value}
        )

    for kind, value in (("ABSOLUTE", 2000), ("PERCENTAGE", 5)):
        refused = failure(partial(export, "refused", kind, value))
        assert refused[:2] == ("ValidationException", 400) and "[1000, 5000]" in refused[2]
    export("allowed", "ABSOLUTE", 5000)
    unbinned = active_job(client, clock, "unbinned", endpoint.default_model_arn)
    too_big = failure(
        lambda: client.start_audience_export_job(
            name="pct",
            audienceGenerationJobArn=unbinned,
            audienceSize={"type": "PERCENTAGE", "value": 101},
        )
    )
    assert too_big[0] == "ValidationException"
    assert list(endpoint.export_jobs) == ["allowed"]


def test_list_filters_by_job_and_pages(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    first = active_job(client, clock, "first", endpoint.default_model_arn)
    second = active_job(client, clock, "second", endpoint.default_model_arn)
    size = {"type": "ABSOLUTE", "value": 5}
    for index in range(4):
        job = first if index % 2 == 0 else second
        client.start_audience_export_job(
            name=f"e{index}", audienceGenerationJobArn=job, audienceSize=size
        )
    page = client.list_audience_export_jobs()
    assert [e["name"] for e in page["audienceExportJobs"]] == ["e0", "e1", "e2"]
    rest = client.list_audience_export_jobs(nextToken=page["nextToken"])
    assert [e["name"] for e in rest["audienceExportJobs"]] == ["e3"] and "nextToken" not in rest
    assert [e["name"] for e in exports(client, audienceGenerationJobArn=first)] == ["e0", "e2"]
    assert [e["name"] for e in exports(client, audienceGenerationJobArn=second)] == ["e1", "e3"]
    assert len(exports(client, PaginationConfig={"PageSize": 1})) == 4


def test_a_lost_start_answer_leaves_the_export(
    endpoint: CleanRoomsMLEndpoint, client: Any, clock: ManualClock
) -> None:
    job = active_job(client, clock, "gen", endpoint.default_model_arn)
    endpoint.inject("StartAudienceExportJob", Fault.after_success(), times=1)
    size = {"type": "ABSOLUTE", "value": 5}
    no_retry = make_client(endpoint, attempts=1)
    lost = failure(
        lambda: no_retry.start_audience_export_job(
            name="e", audienceGenerationJobArn=job, audienceSize=size
        )
    )
    assert lost[:2] == ("InternalServiceException", 500)
    assert export_named(client, "e")["status"] == "CREATE_PENDING"
    retried = failure(
        lambda: client.start_audience_export_job(
            name="e", audienceGenerationJobArn=job, audienceSize=size
        )
    )
    assert retried[0] == "ConflictException", "the name is the only handle"
