"""The Clean Rooms double (configured audience model associations), through real boto3
``cleanrooms`` clients: botocore's serializers, parsers and retries run against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.standard
import cleanrooms_endpoint
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cleanrooms_endpoint import (
    IMPLEMENTED_OPERATIONS,
    CleanRoomsEndpoint,
    CleanRoomsFault,
    served_operations,
)
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from local_endpoint import local_endpoint

ACCOUNT = "123456789012"
OTHER_MEMBERSHIP = "a1b2c3d4-0000-4000-8000-000000000002"
UNKNOWN_MEMBERSHIP = "a1b2c3d4-0000-4000-8000-00000000dead"
MISSING_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/missing"


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLEANROOMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0
    )


@pytest.fixture
def ml() -> Iterator[CleanRoomsMLEndpoint]:
    with CleanRoomsMLEndpoint() as double:
        yield double


@pytest.fixture
def endpoint(ml: CleanRoomsMLEndpoint) -> Iterator[CleanRoomsEndpoint]:
    with CleanRoomsEndpoint(ml=ml) as double:
        double.add_membership(OTHER_MEMBERSHIP)
        yield double
        assert double.internal_errors == []


def make_client(endpoint: CleanRoomsEndpoint, *, validate: bool = True, attempts: int = 2) -> Any:
    config = Config(
        parameter_validation=validate, retries={"mode": "standard", "total_max_attempts": attempts}
    )
    return boto3.client(
        "cleanrooms",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=endpoint.url,
        config=config,
    )


@pytest.fixture
def client(endpoint: CleanRoomsEndpoint) -> Any:
    return make_client(endpoint)


def failure(call: Callable[[], Any]) -> tuple[str, int, dict[str, Any]]:
    """(error code, HTTP status, error document) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    document = {**response["Error"], **{k: v for k, v in response.items() if k != "Error"}}
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], document


def associate(client: Any, membership: str, name: str, model_arn: str, **extra: Any) -> Any:
    response = client.create_configured_audience_model_association(
        membershipIdentifier=membership,
        configuredAudienceModelArn=model_arn,
        configuredAudienceModelAssociationName=name,
        manageResourcePolicies=True,
        **extra,
    )
    return response["configuredAudienceModelAssociation"]


def get(client: Any, membership: str, association_id: str) -> Any:
    return client.get_configured_audience_model_association(
        membershipIdentifier=membership, configuredAudienceModelAssociationIdentifier=association_id
    )["configuredAudienceModelAssociation"]


def names(client: Any, membership: str) -> list[str]:
    pages = client.get_paginator("list_configured_audience_model_associations").paginate(
        membershipIdentifier=membership
    )
    return [
        a["name"] for page in pages for a in page["configuredAudienceModelAssociationSummaries"]
    ]


# --------------------------------------------------------------------------- the model, wiring


def test_the_double_serves_what_the_model_has() -> None:
    assert served_operations() == IMPLEMENTED_OPERATIONS


def test_local_endpoint_points_boto3_at_it_by_the_service_id() -> None:
    with local_endpoint() as ml:
        double = cleanrooms_endpoint.running()
        assert double is not None and double.ml is ml
        client = boto3.client("cleanrooms")  # endpoint from AWS_ENDPOINT_URL_CLEANROOMS only
        model = ml.default_model_arn
        made = associate(client, double.default_membership_id, "via-env", model)
        (call,) = double.calls_of("CreateConfiguredAudienceModelAssociation")
        assert call["configuredAudienceModelAssociationName"] == "via-env"
        assert made["arn"] in double.associations
    assert cleanrooms_endpoint.running() is None


# --------------------------------------------------------------------------- happy paths


def test_create_get_update_list_delete(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    membership = endpoint.default_membership_id
    made = associate(client, membership, "lookalikes", ml.default_model_arn, description="first")
    arn = made["arn"]
    assert arn == (
        f"arn:aws:cleanrooms:us-east-1:{ACCOUNT}:membership/{membership}"
        f"/configuredaudiencemodelassociation/{made['id']}"
    )
    assert len(arn) > 100, "longer than the tag operations' cap in the model"
    found = get(client, membership, made["id"])
    assert found == made
    assert found["createTime"] == found["updateTime"] and found["createTime"].tzinfo is not None
    assert (found["name"], found["description"], found["manageResourcePolicies"]) == (
        "lookalikes",
        "first",
        True,
    )
    assert (
        found["membershipArn"] == f"arn:aws:cleanrooms:us-east-1:{ACCOUNT}:membership/{membership}"
    )
    assert found["collaborationArn"].endswith(f":collaboration/{found['collaborationId']}")
    assert found["configuredAudienceModelArn"] == ml.default_model_arn

    updated = client.update_configured_audience_model_association(
        membershipIdentifier=membership,
        configuredAudienceModelAssociationIdentifier=made["id"],
        name="renamed",
        description="second",
    )["configuredAudienceModelAssociation"]
    assert (updated["name"], updated["description"], updated["arn"]) == ("renamed", "second", arn)
    assert updated["updateTime"] >= updated["createTime"]
    assert get(client, membership, made["id"]) == updated

    (summary,) = client.list_configured_audience_model_associations(
        membershipIdentifier=membership
    )["configuredAudienceModelAssociationSummaries"]
    assert summary["arn"] == arn and "manageResourcePolicies" not in summary
    assert names(client, OTHER_MEMBERSHIP) == []

    answer = client.delete_configured_audience_model_association(
        membershipIdentifier=membership, configuredAudienceModelAssociationIdentifier=made["id"]
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    code, status, error = failure(lambda: get(client, membership, made["id"]))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert error["resourceId"] == made["id"]
    assert endpoint.associations == {}


def test_names_are_unique_per_membership(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    membership = endpoint.default_membership_id
    first = associate(client, membership, "taken", ml.default_model_arn)
    code, status, error = failure(
        lambda: associate(client, membership, "taken", ml.default_model_arn)
    )
    assert (code, status, error["reason"]) == ("ConflictException", 409, "ALREADY_EXISTS")
    assert associate(client, OTHER_MEMBERSHIP, "taken", ml.default_model_arn)
    second = associate(client, membership, "free", ml.default_model_arn)
    renamed = failure(
        lambda: client.update_configured_audience_model_association(
            membershipIdentifier=membership,
            configuredAudienceModelAssociationIdentifier=second["id"],
            name="taken",
        )
    )
    assert renamed[0] == "ConflictException"
    assert get(client, membership, second["id"])["name"] == "free"
    client.update_configured_audience_model_association(
        membershipIdentifier=membership,
        configuredAudienceModelAssociationIdentifier=first["id"],
        name="taken",
        description="same name is no conflict with itself",
    )


def test_memberships_must_be_registered(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    code, status, error = failure(
        lambda: associate(client, UNKNOWN_MEMBERSHIP, "x", ml.default_model_arn)
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert (error["resourceId"], error["resourceType"]) == (UNKNOWN_MEMBERSHIP, "MEMBERSHIP")
    listing = failure(
        lambda: client.list_configured_audience_model_associations(
            membershipIdentifier=UNKNOWN_MEMBERSHIP
        )
    )
    assert listing[0] == "ResourceNotFoundException"
    made = associate(client, endpoint.default_membership_id, "mine", ml.default_model_arn)
    elsewhere = failure(lambda: get(client, OTHER_MEMBERSHIP, made["id"]))
    assert elsewhere[0] == "ResourceNotFoundException", "an id is found in its membership only"
    arn = endpoint.add_membership(UNKNOWN_MEMBERSHIP, collaboration_id=OTHER_MEMBERSHIP)
    assert arn.endswith(f":membership/{UNKNOWN_MEMBERSHIP}")
    joined = associate(client, UNKNOWN_MEMBERSHIP, "x", ml.default_model_arn)
    assert joined["collaborationId"] == OTHER_MEMBERSHIP
    with pytest.raises(ValueError, match="pattern"):
        endpoint.add_membership("not-a-uuid")


def test_the_configured_model_must_exist_in_the_linked_ml_double(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    membership = endpoint.default_membership_id
    code, status, error = failure(lambda: associate(client, membership, "x", MISSING_MODEL))
    assert (code, status, error["resourceId"]) == ("ResourceNotFoundException", 404, MISSING_MODEL)
    ml.add_configured_audience_model(MISSING_MODEL)
    assert (
        associate(client, membership, "x", MISSING_MODEL)["configuredAudienceModelArn"]
        == MISSING_MODEL
    )


def test_without_a_linked_ml_double_any_model_arn_is_taken() -> None:
    with CleanRoomsEndpoint() as double:
        client = make_client(double)
        made = associate(client, double.default_membership_id, "x", MISSING_MODEL)
        assert made["configuredAudienceModelArn"] == MISSING_MODEL


def test_list_pages_as_the_model_says(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    membership = endpoint.default_membership_id
    for index in range(4):
        associate(client, membership, f"a{index}", ml.default_model_arn)
    first = client.list_configured_audience_model_associations(membershipIdentifier=membership)
    key = "configuredAudienceModelAssociationSummaries"
    assert [a["name"] for a in first[key]] == ["a0", "a1", "a2"]
    rest = client.list_configured_audience_model_associations(
        membershipIdentifier=membership, nextToken=first["nextToken"]
    )
    assert [a["name"] for a in rest[key]] == ["a3"] and "nextToken" not in rest
    pages = client.get_paginator("list_configured_audience_model_associations").paginate(
        membershipIdentifier=membership, PaginationConfig={"PageSize": 1}
    )
    assert [len(page[key]) for page in pages] == [1, 1, 1, 1]
    forged = failure(
        lambda: client.list_configured_audience_model_associations(
            membershipIdentifier=membership, nextToken="forged"
        )
    )
    assert forged[:2] == ("ValidationException", 400)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, m: associate(c, "not-a-uuid", "x", m),
        lambda c, m: associate(c, cleanrooms_endpoint.DEFAULT_MEMBERSHIP_ID, "n" * 101, m),
        lambda c, m: associate(c, cleanrooms_endpoint.DEFAULT_MEMBERSHIP_ID, "x", "arn:aws:s3:::b"),
        lambda c, m: associate(
            c, cleanrooms_endpoint.DEFAULT_MEMBERSHIP_ID, "x", m, description="d" * 256
        ),
        lambda c, m: c.list_configured_audience_model_associations(
            membershipIdentifier=cleanrooms_endpoint.DEFAULT_MEMBERSHIP_ID, maxResults=0
        ),
        lambda c, m: c.create_configured_audience_model_association(
            membershipIdentifier=cleanrooms_endpoint.DEFAULT_MEMBERSHIP_ID,
            configuredAudienceModelArn=m,
            configuredAudienceModelAssociationName="x",
        ),
        lambda c, m: c.list_tags_for_resource(resourceArn="arn:aws:cleanrooms-ml:x"),
    ],
    ids=[
        "membership",
        "long-name",
        "model-arn",
        "description",
        "page",
        "missing-member",
        "tag-arn",
    ],
)
def test_invalid_input_is_a_validation_exception(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, call: Callable[[Any, str], Any]
) -> None:
    client = make_client(endpoint, validate=False)
    code, status, error = failure(lambda: call(client, ml.default_model_arn))
    assert (code, status) == ("ValidationException", 400) and error["Message"]
    assert endpoint.associations == {}


def test_unknown_routes_are_404(endpoint: CleanRoomsEndpoint) -> None:
    status, _, _ = endpoint.handle_request("GET", "/no/such/route", b"")
    assert status == 404
    status, headers, _ = endpoint.handle_request("GET", "/collaborations", b"")
    assert (status, headers["x-amzn-ErrorType"]) == (404, "UnknownOperationException")


# --------------------------------------------------------------------------- tags


def test_tags_of_a_160_character_association_arn(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    made = associate(
        client, endpoint.default_membership_id, "t", ml.default_model_arn, tags={"a": "1"}
    )
    arn = made["arn"]
    assert len(arn) > 150
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}
    client.tag_resource(resourceArn=arn, tags={"b": "2", "a": "replaced"})
    client.untag_resource(resourceArn=arn, tagKeys=["b"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "replaced"}
    assert endpoint.associations[arn].tags == {"a": "replaced"}
    reserved = failure(lambda: client.tag_resource(resourceArn=arn, tags={"aws:x": "1"}))
    assert reserved[:2] == ("ValidationException", 400)
    too_many = failure(
        lambda: client.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    )
    assert too_many[0] == "ValidationException"
    unknown = arn[: -len(made["id"])] + "00000000-0000-4000-8000-000000000000"
    assert failure(lambda: client.list_tags_for_resource(resourceArn=unknown))[:2] == (
        "ResourceNotFoundException",
        404,
    )


# --------------------------------------------------------------------------- faults


def test_a_throttled_create_is_retried_and_makes_one(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    endpoint.inject("CreateConfiguredAudienceModelAssociation", CleanRoomsFault.throttle())
    associate(client, endpoint.default_membership_id, "once", ml.default_model_arn)
    assert len(endpoint.calls_of("CreateConfiguredAudienceModelAssociation")) == 2
    assert len(endpoint.associations) == 1


def test_a_lost_create_answer(endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint) -> None:
    membership = endpoint.default_membership_id
    endpoint.inject("CreateConfiguredAudienceModelAssociation", CleanRoomsFault.after_success())
    lost = failure(
        lambda: associate(make_client(endpoint, attempts=1), membership, "l", ml.default_model_arn)
    )
    assert lost[:2] == ("InternalServerException", 500)
    assert len(endpoint.associations) == 1, "made, though its answer was lost"
    endpoint.inject("CreateConfiguredAudienceModelAssociation", CleanRoomsFault.after_success())
    retried = failure(
        lambda: associate(make_client(endpoint), membership, "m", ml.default_model_arn)
    )
    assert retried[0] == "ConflictException", "the retry meets its own first attempt"


def test_a_lost_delete_answer_is_not_found_on_retry(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, client: Any
) -> None:
    membership = endpoint.default_membership_id
    made = associate(client, membership, "d", ml.default_model_arn)
    endpoint.inject("DeleteConfiguredAudienceModelAssociation", CleanRoomsFault.after_success())
    code = failure(
        lambda: client.delete_configured_audience_model_association(
            membershipIdentifier=membership, configuredAudienceModelAssociationIdentifier=made["id"]
        )
    )
    assert code[0] == "ResourceNotFoundException" and endpoint.associations == {}


@pytest.mark.parametrize("operation", IMPLEMENTED_OPERATIONS)
def test_every_operation_takes_faults(
    endpoint: CleanRoomsEndpoint, ml: CleanRoomsMLEndpoint, operation: str
) -> None:
    membership = endpoint.default_membership_id
    made = associate(make_client(endpoint), membership, "f", ml.default_model_arn)
    ids = {
        "membershipIdentifier": membership,
        "configuredAudienceModelAssociationIdentifier": made["id"],
    }
    no_retry = make_client(endpoint, attempts=1)
    calls: dict[str, Callable[[], Any]] = {
        "CreateConfiguredAudienceModelAssociation": lambda: associate(
            no_retry, membership, "g", ml.default_model_arn
        ),
        "GetConfiguredAudienceModelAssociation": lambda: get(no_retry, membership, made["id"]),
        "UpdateConfiguredAudienceModelAssociation": lambda: (
            no_retry.update_configured_audience_model_association(**ids, description="d")
        ),
        "DeleteConfiguredAudienceModelAssociation": lambda: (
            no_retry.delete_configured_audience_model_association(**ids)
        ),
        "ListConfiguredAudienceModelAssociations": lambda: (
            no_retry.list_configured_audience_model_associations(membershipIdentifier=membership)
        ),
        "TagResource": lambda: no_retry.tag_resource(resourceArn=made["arn"], tags={"k": "v"}),
        "UntagResource": lambda: no_retry.untag_resource(resourceArn=made["arn"], tagKeys=["k"]),
        "ListTagsForResource": lambda: no_retry.list_tags_for_resource(resourceArn=made["arn"]),
    }
    endpoint.inject(operation, CleanRoomsFault.throttle(), times=1)
    assert failure(calls[operation])[:2] == ("ThrottlingException", 429)
    endpoint.inject(operation, CleanRoomsFault.access_denied(), times=1)
    assert failure(calls[operation])[:2] == ("AccessDeniedException", 403)
    endpoint.inject(operation, CleanRoomsFault.server_error(), times=None)
    assert failure(calls[operation])[:2] == ("InternalServerException", 500)
    endpoint.clear_faults()
    calls[operation]()
    assert len(endpoint.calls_of(operation)) == 4 + (
        operation == "CreateConfiguredAudienceModelAssociation"
    )
    expected = {
        "CreateConfiguredAudienceModelAssociation": 2,
        "DeleteConfiguredAudienceModelAssociation": 0,
    }
    assert len(endpoint.associations) == expected.get(operation, 1), "refused calls change nothing"
