"""Configured audience models (and their policy and tags) on the Clean Rooms ML double.

Driven through a real boto3 ``cleanroomsml`` client, as the job operations are in
``test_cleanrooms_ml_endpoint``.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cleanrooms_ml_endpoint
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from cleanrooms_ml_client import failure, isolate_aws_environment, make_client, raw
from cleanrooms_ml_endpoint import (
    IMPLEMENTED_OPERATIONS,
    CleanRoomsMLEndpoint,
    Fault,
    served_operations,
    service_model,
)

ACCOUNT = "123456789012"
AUDIENCE_MODEL_ARN = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/audience-model-1"
OTHER_AUDIENCE_MODEL_ARN = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/retrained"
MISSING_MODEL_ARN = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/missing"
DEFAULT_MODEL_ARN = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/model-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/audience-writer"
OUTPUT = {"destination": {"s3Destination": {"s3Uri": "s3://audiences/out/"}}, "roleArn": ROLE_ARN}
SEED = {"roleArn": ROLE_ARN, "dataSource": {"s3Uri": "s3://seed-bucket/seed.csv"}}
NEW_OPERATIONS = (
    "CreateConfiguredAudienceModel",
    "GetConfiguredAudienceModel",
    "UpdateConfiguredAudienceModel",
    "DeleteConfiguredAudienceModel",
    "ListConfiguredAudienceModels",
    "PutConfiguredAudienceModelPolicy",
    "GetConfiguredAudienceModelPolicy",
    "DeleteConfiguredAudienceModelPolicy",
)


def policy_document(*principals: str) -> str:
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "cleanrooms-ml:StartAudienceGenerationJob",
            "Resource": "*",
        }
        for principal in principals or ("111122223333",)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


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
def client(endpoint: CleanRoomsMLEndpoint) -> Any:
    return make_client(endpoint)


def create(client: Any, name: str, **extra: Any) -> str:
    request = {
        "name": name,
        "audienceModelArn": AUDIENCE_MODEL_ARN,
        "outputConfig": OUTPUT,
        "sharedAudienceMetrics": ["ALL"],
        **extra,
    }
    return str(client.create_configured_audience_model(**request)["configuredAudienceModelArn"])


def get(client: Any, arn: str) -> dict[str, Any]:
    model: dict[str, Any] = client.get_configured_audience_model(configuredAudienceModelArn=arn)
    model.pop("ResponseMetadata")
    return model


def start(client: Any, name: str, model_arn: str, **extra: Any) -> str:
    response = client.start_audience_generation_job(
        name=name, configuredAudienceModelArn=model_arn, seedAudience=SEED, **extra
    )
    return str(response["audienceGenerationJobArn"])


def tags_of(client: Any, arn: str) -> dict[str, str]:
    return dict(client.list_tags_for_resource(resourceArn=arn)["tags"])


def names_listed(client: Any) -> list[str]:
    pages = client.get_paginator("list_configured_audience_models").paginate()
    return [model["name"] for page in pages for model in page["configuredAudienceModels"]]


# --------------------------------------------------------------------------- the model


def test_the_double_serves_what_the_loaded_model_has() -> None:
    modeled = set(service_model().operation_names)
    assert set(NEW_OPERATIONS) <= modeled
    assert served_operations() == IMPLEMENTED_OPERATIONS
    put = service_model().operation_model("PutConfiguredAudienceModelPolicy")
    assert "ConflictException" not in {shape.name for shape in put.error_shapes}
    update = service_model().operation_model("UpdateConfiguredAudienceModel").input_shape
    assert set(update.members) == {
        "configuredAudienceModelArn",
        "audienceModelArn",
        "outputConfig",
        "sharedAudienceMetrics",
        "minMatchingSeedSize",
        "audienceSizeConfig",
        "description",
    }


class _ModelWithout:
    """The loaded service model, less some operations (as an older botocore's may be)."""

    def __init__(self, model: Any, missing: tuple[str, ...]) -> None:
        self._model, self._missing = model, missing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @property
    def operation_names(self) -> list[str]:
        return [name for name in self._model.operation_names if name not in self._missing]


def test_a_model_without_the_new_operations_still_serves_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    older = _ModelWithout(service_model(), NEW_OPERATIONS)
    monkeypatch.setattr(cleanrooms_ml_endpoint, "service_model", lambda: older)
    cleanrooms_ml_endpoint._routes.cache_clear()
    try:
        assert set(served_operations()).isdisjoint(NEW_OPERATIONS)
        with CleanRoomsMLEndpoint(create_duration=0.0) as double:
            client = make_client(double)
            job = start(client, "still-served", double.default_model_arn)
            assert client.get_audience_generation_job(audienceGenerationJobArn=job)["status"]
            listing = failure(client.list_configured_audience_models)
            assert listing[:2] == ("UnknownOperationException", 404)
            with pytest.raises(ValueError, match="unknown operation"):
                double.inject("CreateConfiguredAudienceModel", Fault.throttle())
            assert double.internal_errors == []
    finally:
        cleanrooms_ml_endpoint._routes.cache_clear()


# --------------------------------------------------------------------------- happy paths


def test_create_get_list_update_delete(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    sizes = {"audienceSizeType": "ABSOLUTE", "audienceSizeBins": [1000, 5000]}
    arn = create(
        client,
        "lookalikes",
        description="first",
        minMatchingSeedSize=25,
        audienceSizeConfig=sizes,
        childResourceTagOnCreatePolicy="FROM_PARENT_RESOURCE",
        tags={"team": "ads"},
    )
    assert arn.startswith(f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/")
    model = get(client, arn)
    created = model.pop("createTime")
    assert model.pop("updateTime") == created and created.tzinfo is not None
    assert model == {
        "configuredAudienceModelArn": arn,
        "name": "lookalikes",
        "audienceModelArn": AUDIENCE_MODEL_ARN,
        "outputConfig": OUTPUT,
        "description": "first",
        "status": "ACTIVE",
        "sharedAudienceMetrics": ["ALL"],
        "minMatchingSeedSize": 25,
        "audienceSizeConfig": sizes,
        "tags": {"team": "ads"},
        "childResourceTagOnCreatePolicy": "FROM_PARENT_RESOURCE",
    }
    assert names_listed(client) == ["model-1", "lookalikes"]

    endpoint.add_audience_model(OTHER_AUDIENCE_MODEL_ARN)
    new_output = {**OUTPUT, "destination": {"s3Destination": {"s3Uri": "s3://audiences/v2/"}}}
    updated = client.update_configured_audience_model(
        configuredAudienceModelArn=arn,
        audienceModelArn=OTHER_AUDIENCE_MODEL_ARN,
        outputConfig=new_output,
        sharedAudienceMetrics=["NONE"],
        minMatchingSeedSize=500_000,
        audienceSizeConfig={"audienceSizeType": "PERCENTAGE", "audienceSizeBins": [5]},
        description="",
    )
    assert updated["configuredAudienceModelArn"] == arn
    after = get(client, arn)
    assert after["createTime"] == created and after["updateTime"] >= created
    assert (after["name"], after["childResourceTagOnCreatePolicy"]) == (
        "lookalikes",
        "FROM_PARENT_RESOURCE",
    )
    assert after["audienceModelArn"] == OTHER_AUDIENCE_MODEL_ARN
    assert after["outputConfig"] == new_output and after["sharedAudienceMetrics"] == ["NONE"]
    assert after["minMatchingSeedSize"] == 500_000 and after["description"] == ""
    assert after["audienceSizeConfig"] == {
        "audienceSizeType": "PERCENTAGE",
        "audienceSizeBins": [5],
    }

    client.delete_configured_audience_model(configuredAudienceModelArn=arn)
    assert failure(lambda: get(client, arn))[:2] == ("ResourceNotFoundException", 404)
    delete_again = failure(
        lambda: client.delete_configured_audience_model(configuredAudienceModelArn=arn)
    )
    assert delete_again[:2] == ("ResourceNotFoundException", 404)
    assert names_listed(client) == ["model-1"]
    assert set(endpoint.configured_audience_models) == {endpoint.default_model_arn}


def test_a_minimal_model_reports_the_documented_default_seed_size(client: Any) -> None:
    model = get(client, create(client, "minimal"))
    assert model["minMatchingSeedSize"] == 500  # "The default value is 500."
    assert model["tags"] == {}
    assert not {"description", "audienceSizeConfig", "childResourceTagOnCreatePolicy"} & set(model)


def test_list_pages_as_the_job_list_does(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arns = [create(client, f"model-{i}") for i in range(2, 6)]
    first = client.list_configured_audience_models()
    assert len(first["configuredAudienceModels"]) == 3 and first["nextToken"]
    second = client.list_configured_audience_models(nextToken=first["nextToken"])
    assert "nextToken" not in second
    listed = first["configuredAudienceModels"] + second["configuredAudienceModels"]
    assert [m["configuredAudienceModelArn"] for m in listed] == [endpoint.default_model_arn, *arns]
    summary = service_model().shape_for("ConfiguredAudienceModelSummary")
    assert all(set(m) == set(summary.members) - {"description"} for m in listed)
    assert all(m["status"] == "ACTIVE" for m in listed)
    everything = client.list_configured_audience_models(maxResults=100)
    assert len(everything["configuredAudienceModels"]) == 5 and "nextToken" not in everything
    code, status, message = failure(
        lambda: client.list_configured_audience_models(nextToken="forged")
    )
    assert (code, status) == ("ValidationException", 400) and "nextToken" in message


def test_timestamps_are_iso8601_on_the_wire(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = create(client, "wire")
    path = "/configured-audience-model/" + urllib.parse.quote(arn, safe="")
    status, _, document = raw(endpoint, "GET", path)
    assert status == 200 and document["createTime"].endswith("Z") and "T" in document["createTime"]


def test_a_registered_model_is_a_model_like_any_other(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    default = get(client, endpoint.default_model_arn)
    assert (default["name"], default["status"]) == ("model-1", "ACTIVE")
    assert default["audienceModelArn"] == endpoint.default_audience_model_arn == AUDIENCE_MODEL_ARN
    other = endpoint.default_model_arn.replace("model-1", "model-2")
    endpoint.add_configured_audience_model(other, tags={"k": "v"}, name="registered")
    assert get(client, other)["name"] == "registered" and tags_of(client, other) == {"k": "v"}
    assert names_listed(client) == ["model-1", "registered"]
    with pytest.raises(ValueError, match="length less than or equal to 63"):
        endpoint.add_configured_audience_model(other, name="n" * 64)
    with pytest.raises(ValueError, match="already named 'model-1'"):
        endpoint.add_configured_audience_model(other, name="model-1")
    assert get(client, other)["name"] == "registered", "a refused registration changes nothing"
    with pytest.raises(ValueError, match="pattern"):
        endpoint.add_audience_model(endpoint.default_model_arn)


# --------------------------------------------------------------------------- service rules


def test_names_are_unique_per_account(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = create(client, "unique")
    assert failure(lambda: create(client, "unique"))[:2] == ("ConflictException", 409)
    assert failure(lambda: create(client, "model-1"))[0] == "ConflictException"  # registered
    client.delete_configured_audience_model(configuredAudienceModelArn=arn)
    assert create(client, "unique") != arn
    assert len(endpoint.configured_audience_models) == 2


def test_concurrent_creates_of_one_name_make_one_model(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    def attempt(name: str) -> str:
        try:
            create(client, name)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "created"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, ["twin"] * 6))
    assert sorted(outcomes) == ["ConflictException"] * 5 + ["created"]
    assert names_listed(client) == ["model-1", "twin"]


def test_an_unknown_audience_model_is_not_found(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    missing = AUDIENCE_MODEL_ARN.replace("audience-model-1", "never-trained")
    created = failure(lambda: create(client, "orphan", audienceModelArn=missing))
    assert created[:2] == ("ResourceNotFoundException", 404) and missing in created[2]
    arn = create(client, "kept")
    updated = failure(
        lambda: client.update_configured_audience_model(
            configuredAudienceModelArn=arn, audienceModelArn=missing, description="changed"
        )
    )
    assert updated[0] == "ResourceNotFoundException"
    assert get(client, arn)["audienceModelArn"] == AUDIENCE_MODEL_ARN
    assert "description" not in get(client, arn), "a refused update changes nothing"
    assert names_listed(client) == ["model-1", "kept"]


def test_unknown_configured_models_are_not_found(client: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: get(client, MISSING_MODEL_ARN),
        lambda: client.update_configured_audience_model(
            configuredAudienceModelArn=MISSING_MODEL_ARN, description="x"
        ),
        lambda: client.delete_configured_audience_model(
            configuredAudienceModelArn=MISSING_MODEL_ARN
        ),
        lambda: client.put_configured_audience_model_policy(
            configuredAudienceModelArn=MISSING_MODEL_ARN,
            configuredAudienceModelPolicy=policy_document(),
        ),
        lambda: client.get_configured_audience_model_policy(
            configuredAudienceModelArn=MISSING_MODEL_ARN
        ),
        lambda: client.delete_configured_audience_model_policy(
            configuredAudienceModelArn=MISSING_MODEL_ARN
        ),
        lambda: tags_of(client, MISSING_MODEL_ARN),
    ]
    assert {failure(call)[:2] for call in calls} == {("ResourceNotFoundException", 404)}


def test_update_changes_one_member_and_leaves_the_others(client: Any) -> None:
    arn = create(client, "partial", description="kept", minMatchingSeedSize=100)
    before = get(client, arn)
    client.update_configured_audience_model(
        configuredAudienceModelArn=arn, sharedAudienceMetrics=["NONE"]
    )
    after = get(client, arn)
    assert after.pop("sharedAudienceMetrics") == ["NONE"]
    before.pop("sharedAudienceMetrics")
    assert after.pop("updateTime") >= before.pop("updateTime")
    assert after == before


def test_create_only_members_cannot_reach_update(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    """Update's input has neither name nor childResourceTagOnCreatePolicy: botocore cannot send
    them, and a hand-made request carrying them is refused without changing anything."""
    arn = create(client, "fixed", childResourceTagOnCreatePolicy="NONE")
    for member, value in (("name", "renamed"), ("childResourceTagOnCreatePolicy", "NONE")):
        with pytest.raises(ParamValidationError, match=member):
            client.update_configured_audience_model(
                configuredAudienceModelArn=arn, **{member: value}
            )
        with pytest.raises(KeyError, match=member):  # the serializer knows no such member
            make_client(endpoint, validate=False).update_configured_audience_model(
                configuredAudienceModelArn=arn, **{member: value}
            )
    body = json.dumps({"name": "renamed", "description": "sneaked"}).encode()
    path = "/configured-audience-model/" + urllib.parse.quote(arn, safe="")
    status, headers, document = raw(endpoint, "PATCH", path, body)
    assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert "Unknown member 'name'" in document["message"]
    model = get(client, arn)
    assert (model["name"], model["childResourceTagOnCreatePolicy"]) == ("fixed", "NONE")
    assert "description" not in model
    assert [name for name, _ in endpoint.calls].count("UpdateConfiguredAudienceModel") == 1


# --------------------------------------------------------------------------- validation


def _create_unchecked(name: str = "invalid", **changes: Any) -> Callable[[Any], Any]:
    return lambda c: create(c, name, **changes)


def _put_unchecked(policy: str | None = None, **changes: Any) -> Callable[[Any], Any]:
    return lambda c: c.put_configured_audience_model_policy(
        configuredAudienceModelArn=DEFAULT_MODEL_ARN,
        configuredAudienceModelPolicy=policy if policy is not None else policy_document(),
        **changes,
    )


VALIDATION_CASES: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "name too long": (_create_unchecked(name="n" * 64), "'name'", "less than or equal to 63"),
    "no metrics": (
        _create_unchecked(sharedAudienceMetrics=[]),
        "sharedAudienceMetrics",
        "length greater than or equal to 1",
    ),
    "two metrics": (
        _create_unchecked(sharedAudienceMetrics=["ALL", "NONE"]),
        "sharedAudienceMetrics",
        "length less than or equal to 1",
    ),
    "unknown metric": (
        _create_unchecked(sharedAudienceMetrics=["SOME"]),
        "sharedAudienceMetrics[0]",
        "enum value set",
    ),
    "seed size too small": (
        _create_unchecked(minMatchingSeedSize=24),
        "minMatchingSeedSize",
        "value greater than or equal to 25",
    ),
    "seed size too large": (
        _create_unchecked(minMatchingSeedSize=500_001),
        "minMatchingSeedSize",
        "value less than or equal to 500000",
    ),
    "too many bins": (
        _create_unchecked(
            audienceSizeConfig={"audienceSizeType": "ABSOLUTE", "audienceSizeBins": [1] * 26}
        ),
        "audienceSizeConfig.audienceSizeBins",
        "length less than or equal to 25",
    ),
    "bin missing type": (
        _create_unchecked(audienceSizeConfig={"audienceSizeBins": [10]}),
        "audienceSizeConfig.audienceSizeType",
        "must not be null",
    ),
    "not an s3 uri": (
        _create_unchecked(
            outputConfig={**OUTPUT, "destination": {"s3Destination": {"s3Uri": "https://x"}}}
        ),
        "outputConfig.destination.s3Destination.s3Uri",
        "pattern",
    ),
    "not a role": (
        _create_unchecked(
            outputConfig={**OUTPUT, "roleArn": f"arn:aws:iam::{ACCOUNT}:user/writer"}
        ),
        "outputConfig.roleArn",
        "pattern",
    ),
    "not an audience model": (
        _create_unchecked(audienceModelArn=MISSING_MODEL_ARN),
        "audienceModelArn",
        "pattern",
    ),
    "unknown tag policy": (
        _create_unchecked(childResourceTagOnCreatePolicy="ALWAYS"),
        "childResourceTagOnCreatePolicy",
        "enum value set",
    ),
    "update seed size": (
        lambda c: c.update_configured_audience_model(
            configuredAudienceModelArn=DEFAULT_MODEL_ARN, minMatchingSeedSize=0
        ),
        "minMatchingSeedSize",
        "greater than or equal to 25",
    ),
    "list page size": (
        lambda c: c.list_configured_audience_models(maxResults=0),
        "maxResults",
        "greater than or equal to 1",
    ),
    "hash pattern": (
        _put_unchecked(previousPolicyHash="Z" * 64),
        "previousPolicyHash",
        "pattern",
    ),
    "hash too short": (
        _put_unchecked(previousPolicyHash="a" * 63),
        "previousPolicyHash",
        "length greater than or equal to 64",
    ),
    "policy too long": (
        _put_unchecked(policy="x" * 20_481),
        "configuredAudienceModelPolicy",
        "length less than or equal to 20480",
    ),
    "existence condition": (
        _put_unchecked(policyExistenceCondition="MAYBE"),
        "policyExistenceCondition",
        "enum value set",
    ),
    "policy not json": (
        _put_unchecked(policy="{not json"),
        "configuredAudienceModelPolicy",
        "not valid JSON",
    ),
    "policy not an object": (
        _put_unchecked(policy="[]"),
        "configuredAudienceModelPolicy",
        "JSON object",
    ),
}


@pytest.mark.parametrize("case", VALIDATION_CASES)
def test_invalid_input_is_a_validation_exception(endpoint: CleanRoomsMLEndpoint, case: str) -> None:
    call, member, rule = VALIDATION_CASES[case]
    code, status, message = failure(lambda: call(make_client(endpoint, validate=False)))
    assert (code, status) == ("ValidationException", 400)
    assert member in message and rule in message
    assert list(endpoint.configured_audience_models) == [endpoint.default_model_arn]
    default = endpoint.configured_audience_models[endpoint.default_model_arn]
    assert default.policy is None and default.params["minMatchingSeedSize"] == 500


# --------------------------------------------------------------------------- the resource policy


def test_policy_put_get_and_hash_checks(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = create(client, "shared")
    first = policy_document("111122223333")
    put = client.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn,
        configuredAudienceModelPolicy=first,
        policyExistenceCondition="POLICY_MUST_NOT_EXIST",
    )
    assert put["configuredAudienceModelPolicy"] == first
    assert put["policyHash"] == hashlib.sha256(first.encode()).hexdigest()
    got = client.get_configured_audience_model_policy(configuredAudienceModelArn=arn)
    assert (got["configuredAudienceModelArn"], got["configuredAudienceModelPolicy"]) == (arn, first)
    assert got["policyHash"] == put["policyHash"]

    second = policy_document("111122223333", "444455556666")
    replaced = client.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn,
        configuredAudienceModelPolicy=second,
        previousPolicyHash=got["policyHash"],
        policyExistenceCondition="POLICY_MUST_EXIST",
    )
    assert replaced["policyHash"] != put["policyHash"]

    code, status, message = failure(
        lambda: client.put_configured_audience_model_policy(
            configuredAudienceModelArn=arn,
            configuredAudienceModelPolicy=policy_document("777788889999"),
            previousPolicyHash=put["policyHash"],  # stale: the policy changed since
        )
    )
    assert (code, status) == ("ValidationException", 400)
    assert put["policyHash"] in message and replaced["policyHash"] in message
    current = client.get_configured_audience_model_policy(configuredAudienceModelArn=arn)
    assert current["configuredAudienceModelPolicy"] == second

    refused = failure(
        lambda: client.put_configured_audience_model_policy(
            configuredAudienceModelArn=arn,
            configuredAudienceModelPolicy=first,
            policyExistenceCondition="POLICY_MUST_NOT_EXIST",
        )
    )
    assert refused[:2] == ("ValidationException", 400) and "POLICY_MUST_NOT_EXIST" in refused[2]
    same = client.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn, configuredAudienceModelPolicy=second
    )
    assert same["policyHash"] == replaced["policyHash"], "no condition: a plain overwrite"


def test_conditions_on_a_model_without_a_policy(client: Any) -> None:
    arn = create(client, "bare")
    stale = failure(
        lambda: client.put_configured_audience_model_policy(
            configuredAudienceModelArn=arn,
            configuredAudienceModelPolicy=policy_document(),
            previousPolicyHash="0" * 64,
        )
    )
    assert stale[:2] == ("ValidationException", 400) and "no policy" in stale[2]
    must_exist = failure(
        lambda: client.put_configured_audience_model_policy(
            configuredAudienceModelArn=arn,
            configuredAudienceModelPolicy=policy_document(),
            policyExistenceCondition="POLICY_MUST_EXIST",
        )
    )
    assert must_exist[:2] == ("ValidationException", 400) and "POLICY_MUST_EXIST" in must_exist[2]
    missing = failure(
        lambda: client.get_configured_audience_model_policy(configuredAudienceModelArn=arn)
    )
    assert missing[:2] == ("ResourceNotFoundException", 404)


def test_policy_delete_and_model_delete(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = create(client, "policed")
    client.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn, configuredAudienceModelPolicy=policy_document()
    )
    client.delete_configured_audience_model_policy(configuredAudienceModelArn=arn)

    def get_policy(model_arn: str = arn) -> Any:
        return client.get_configured_audience_model_policy(configuredAudienceModelArn=model_arn)

    assert failure(get_policy)[:2] == ("ResourceNotFoundException", 404)
    again = failure(
        lambda: client.delete_configured_audience_model_policy(configuredAudienceModelArn=arn)
    )
    assert again[:2] == ("ResourceNotFoundException", 404)

    client.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn, configuredAudienceModelPolicy=policy_document()
    )
    client.delete_configured_audience_model(configuredAudienceModelArn=arn)
    assert failure(get_policy)[0] == "ResourceNotFoundException"
    reborn = create(client, "policed")
    assert failure(lambda: get_policy(reborn))[0] == "ResourceNotFoundException"
    assert endpoint.configured_audience_models[reborn].policy is None


def test_concurrent_puts_with_one_hash_let_one_win(client: Any) -> None:
    arn = create(client, "contended")
    base = client.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn, configuredAudienceModelPolicy=policy_document()
    )["policyHash"]

    def attempt(account: str) -> str:
        try:
            client.put_configured_audience_model_policy(
                configuredAudienceModelArn=arn,
                configuredAudienceModelPolicy=policy_document(account),
                previousPolicyHash=base,
            )
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return account

    accounts = [f"{i:012d}" for i in range(1, 7)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, accounts))
    (winner,) = [outcome for outcome in outcomes if outcome in accounts]
    assert outcomes.count("ValidationException") == 5
    policy = client.get_configured_audience_model_policy(configuredAudienceModelArn=arn)
    assert policy["configuredAudienceModelPolicy"] == policy_document(winner)


# --------------------------------------------------------------------------- tags


def test_tags_of_a_configured_model(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    arn = create(client, "tagged", tags={"team": "ads"})
    client.tag_resource(resourceArn=arn, tags={"env": "test"})
    assert tags_of(client, arn) == {"team": "ads", "env": "test"}
    client.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert tags_of(client, arn) == {"env": "test"} == get(client, arn)["tags"]
    client.update_configured_audience_model(configuredAudienceModelArn=arn, description="d")
    assert tags_of(client, arn) == {"env": "test"}, "Update leaves tags alone"
    client.tag_resource(resourceArn=AUDIENCE_MODEL_ARN, tags={"kind": "audience-model"})
    assert tags_of(client, AUDIENCE_MODEL_ARN) == {"kind": "audience-model"}
    client.delete_configured_audience_model(configuredAudienceModelArn=arn)
    assert failure(lambda: tags_of(client, arn))[:2] == ("ResourceNotFoundException", 404)
    assert failure(lambda: client.tag_resource(resourceArn=arn, tags={"a": "b"}))[0] == (
        "ResourceNotFoundException"
    )


def test_reserved_keys_and_fifty_tags(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    reserved = failure(lambda: create(client, "reserved", tags={"AWS:owner": "me"}))
    assert reserved[:2] == ("ValidationException", 400) and "reserved" in reserved[2]
    fifty = {f"k{i}": "v" for i in range(50)}
    too_many = failure(lambda: create(client, "too-many", tags={**fifty, "k50": "v"}))
    assert too_many[:2] == ("ValidationException", 400) and "at most 50" in too_many[2]
    assert names_listed(client) == ["model-1"]
    arn = create(client, "fifty", tags=fifty)
    assert failure(lambda: client.tag_resource(resourceArn=arn, tags={"one-more": "v"}))[0] == (
        "ValidationException"
    )
    assert failure(lambda: client.tag_resource(resourceArn=arn, tags={"aws:x": "y"}))[0] == (
        "ValidationException"
    )
    assert failure(lambda: client.untag_resource(resourceArn=arn, tagKeys=["aws:x"]))[0] == (
        "ValidationException"
    )
    client.tag_resource(resourceArn=arn, tags={"k0": "replaced"})
    assert tags_of(client, arn)["k0"] == "replaced" and len(tags_of(client, arn)) == 50


# --------------------------------------------------------------------------- jobs on API models


def test_a_job_starts_on_a_model_created_through_the_api(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    arn = create(client, "for-jobs", tags={"model-only": "yes"})
    job = start(client, "job-on-api-model", arn, tags={"team": "job"})
    described = client.get_audience_generation_job(audienceGenerationJobArn=job)
    assert described["status"] == "ACTIVE" and described["configuredAudienceModelArn"] == arn
    assert tags_of(client, job) == {"team": "job"}, "no FROM_PARENT_RESOURCE: no model tags"
    listed = client.list_audience_generation_jobs(configuredAudienceModelArn=arn)
    assert [j["audienceGenerationJobArn"] for j in listed["audienceGenerationJobs"]] == [job]
    assert start(client, "on-the-default", endpoint.default_model_arn)

    client.delete_configured_audience_model(configuredAudienceModelArn=arn)
    code = failure(lambda: start(client, "after-delete", arn))[:2]
    assert code == ("ResourceNotFoundException", 404)
    assert client.get_audience_generation_job(audienceGenerationJobArn=job)["status"] == "ACTIVE"


def test_from_parent_resource_gives_the_model_tags_to_jobs(client: Any) -> None:
    arn = create(
        client,
        "parent",
        tags={"cost-center": "42", "team": "model"},
        childResourceTagOnCreatePolicy="FROM_PARENT_RESOURCE",
    )
    first = start(client, "child-1", arn, tags={"team": "job"})
    assert tags_of(client, first) == {"cost-center": "42", "team": "job"}
    client.tag_resource(resourceArn=arn, tags={"added": "later"})
    second = start(client, "child-2", arn)
    assert tags_of(client, second) == {"cost-center": "42", "team": "model", "added": "later"}
    assert tags_of(client, first) == {"cost-center": "42", "team": "job"}, "given once, at start"
    none = create(client, "no-parent-tags", tags={"x": "y"}, childResourceTagOnCreatePolicy="NONE")
    assert tags_of(client, start(client, "child-3", none)) == {}


def test_the_model_tags_count_against_the_jobs_fifty(client: Any) -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    arn = create(client, "full", tags=fifty, childResourceTagOnCreatePolicy="FROM_PARENT_RESOURCE")
    assert failure(lambda: start(client, "one-too-many", arn, tags={"extra": "v"}))[0] == (
        "ValidationException"
    )
    assert len(tags_of(client, start(client, "overrides", arn, tags={"k0": "job"}))) == 50


def test_deleting_a_model_in_use_can_be_refused(client: Any) -> None:
    with CleanRoomsMLEndpoint(
        create_duration=0.0, delete_duration=0.0, refuse_deleting_models_in_use=True
    ) as strict:
        strict_client = make_client(strict)
        arn = create(strict_client, "in-use")
        job = start(strict_client, "user", arn)
        refused = failure(
            lambda: strict_client.delete_configured_audience_model(configuredAudienceModelArn=arn)
        )
        assert refused[:2] == ("ConflictException", 409) and "1 job" in refused[2]
        strict_client.delete_audience_generation_job(audienceGenerationJobArn=job)
        strict_client.delete_configured_audience_model(configuredAudienceModelArn=arn)
        assert strict.internal_errors == []


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("operation", NEW_OPERATIONS)
def test_every_new_operation_takes_faults(endpoint: CleanRoomsMLEndpoint, operation: str) -> None:
    endpoint.inject(operation, Fault.access_denied())
    arn = endpoint.default_model_arn
    no_retry = make_client(endpoint, attempts=1)
    calls: dict[str, Callable[[], Any]] = {
        "CreateConfiguredAudienceModel": lambda: create(no_retry, "faulty"),
        "GetConfiguredAudienceModel": lambda: get(no_retry, arn),
        "UpdateConfiguredAudienceModel": lambda: no_retry.update_configured_audience_model(
            configuredAudienceModelArn=arn, description="x"
        ),
        "DeleteConfiguredAudienceModel": lambda: no_retry.delete_configured_audience_model(
            configuredAudienceModelArn=arn
        ),
        "ListConfiguredAudienceModels": no_retry.list_configured_audience_models,
        "PutConfiguredAudienceModelPolicy": lambda: no_retry.put_configured_audience_model_policy(
            configuredAudienceModelArn=arn, configuredAudienceModelPolicy=policy_document()
        ),
        "GetConfiguredAudienceModelPolicy": lambda: no_retry.get_configured_audience_model_policy(
            configuredAudienceModelArn=arn
        ),
        "DeleteConfiguredAudienceModelPolicy": lambda: (
            no_retry.delete_configured_audience_model_policy(configuredAudienceModelArn=arn)
        ),
    }
    assert failure(calls[operation])[:2] == ("AccessDeniedException", 403)
    assert [name for name, _ in endpoint.calls] == [operation]
    (model,) = endpoint.configured_audience_models.values()
    assert model.arn == arn and model.policy is None and "description" not in model.params


def test_a_throttled_create_is_retried_once(endpoint: CleanRoomsMLEndpoint, client: Any) -> None:
    endpoint.inject("CreateConfiguredAudienceModel", Fault.throttle(), times=1)
    create(client, "throttled")
    assert len(endpoint.calls_of("CreateConfiguredAudienceModel")) == 2
    assert names_listed(client) == ["model-1", "throttled"]


def test_a_lost_create_response_meets_a_conflict_on_retry(endpoint: CleanRoomsMLEndpoint) -> None:
    """Create is marked idempotent but has no client token: the retry finds its own model."""
    endpoint.inject("CreateConfiguredAudienceModel", Fault.after_success(503))
    retrying = make_client(endpoint, attempts=3)
    assert failure(lambda: create(retrying, "retried"))[:2] == ("ConflictException", 409)
    assert names_listed(retrying) == ["model-1", "retried"]


def test_a_lost_policy_response_makes_the_retry_stale(endpoint: CleanRoomsMLEndpoint) -> None:
    """A retried conditional Put fails although its first attempt succeeded: callers must
    compare the current policy with theirs before calling it a concurrent change."""
    retrying = make_client(endpoint, attempts=2)
    arn = create(retrying, "lost-put")
    base = retrying.put_configured_audience_model_policy(
        configuredAudienceModelArn=arn, configuredAudienceModelPolicy=policy_document()
    )["policyHash"]
    endpoint.inject("PutConfiguredAudienceModelPolicy", Fault.after_success())
    wanted = policy_document("444455556666")
    stale = failure(
        lambda: retrying.put_configured_audience_model_policy(
            configuredAudienceModelArn=arn,
            configuredAudienceModelPolicy=wanted,
            previousPolicyHash=base,
        )
    )
    assert stale[:2] == ("ValidationException", 400)
    current = retrying.get_configured_audience_model_policy(configuredAudienceModelArn=arn)
    assert current["configuredAudienceModelPolicy"] == wanted


def test_a_lost_delete_response_is_not_found_on_retry(
    endpoint: CleanRoomsMLEndpoint, client: Any
) -> None:
    arn = create(client, "deleted-anyway")
    endpoint.inject("DeleteConfiguredAudienceModel", Fault.after_success())
    code = failure(lambda: client.delete_configured_audience_model(configuredAudienceModelArn=arn))
    assert code[0] == "ResourceNotFoundException" and arn not in endpoint.configured_audience_models
