"""The ConfiguredAudienceModelAssociation kind through the real Provider framework, against the
local Clean Rooms double (linked to the Clean Rooms ML one for the configured model).

A kind of the ``cleanrooms`` service, named by membership and id rather than by its ARN: create
(and adoption of a create whose answer was lost), in-place updates of name and description,
replacement, tags, cancellation, deletion of only what it owns, and bad input before any call.
"""

from __future__ import annotations

import json
from typing import Any

import index
import pytest
from cleanrooms.engine import aws
from cleanrooms.kinds.configured_audience_model_association import KIND as ASSOCIATION
from cleanrooms_endpoint import CleanRoomsEndpoint, CleanRoomsFault, running
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from cloudformation import Stack
from provider_runtime import RealProviderFramework

CREATE = "CreateConfiguredAudienceModelAssociation"
UPDATE = "UpdateConfiguredAudienceModelAssociation"
DELETE = "DeleteConfiguredAudienceModelAssociation"
CONFIGURED = "arn:aws:cleanrooms-ml:us-east-1:123456789012:configured-audience-model/lookalikes"


@pytest.fixture
def cleanrooms(endpoint: CleanRoomsMLEndpoint) -> CleanRoomsEndpoint:
    double = running()
    assert double is not None, "local_endpoint() runs one"
    endpoint.add_configured_audience_model(CONFIGURED)
    return double


@pytest.fixture
def associations(cleanrooms: CleanRoomsEndpoint) -> Stack:
    return Stack(
        RealProviderFramework(index, query_interval=0.01, total_timeout=30),
        resource_type=ASSOCIATION.resource_type,
    )


def association_properties(cleanrooms: CleanRoomsEndpoint, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "MembershipIdentifier": cleanrooms.default_membership_id,
        "ConfiguredAudienceModelArn": CONFIGURED,
        "ManageResourcePolicies": True,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def test_create_reports_the_arn_and_id_and_delete_removes_it(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    created = associations.create(
        "InCollaboration", association_properties(cleanrooms, Description="first")
    )

    assert created.ok, created.reason
    arn = associations.physical_ids["InCollaboration"]
    assert ASSOCIATION.is_arn(arn)
    data = associations.data["InCollaboration"]
    assert data["ConfiguredAudienceModelAssociationArn"] == arn
    assert data["ConfiguredAudienceModelAssociationId"] == arn.rsplit("/", 1)[-1]
    record = cleanrooms.associations[arn]
    assert record.name.startswith("Jobs-InCollaboration-")  # generated: unique per membership
    assert record.manage_resource_policies is True and record.description == "first"
    assert record.tags["team"] == "ml"

    deleted = associations.delete("InCollaboration")

    assert deleted.ok, deleted.reason
    assert arn not in cleanrooms.associations


def test_name_and_description_change_in_place(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    props = association_properties(
        cleanrooms, ConfiguredAudienceModelAssociationName="first", Description="one"
    )
    arn = associations.create("InCollaboration", props).physical_id

    renamed, _ = associations.update(
        "InCollaboration",
        {**props, "ConfiguredAudienceModelAssociationName": "second", "Description": "two"},
    )
    assert renamed.ok, renamed.reason
    assert associations.physical_ids["InCollaboration"] == arn
    assert (cleanrooms.associations[arn].name, cleanrooms.associations[arn].description) == (
        "second",
        "two",
    )

    without_description = {key: value for key, value in props.items() if key != "Description"}
    cleared, _ = associations.update(
        "InCollaboration",
        {**without_description, "ConfiguredAudienceModelAssociationName": "second"},
    )
    assert cleared.ok, cleared.reason
    assert associations.physical_ids["InCollaboration"] == arn
    assert not cleanrooms.associations[arn].description
    assert [call.get("description") for call in cleanrooms.calls_of(UPDATE)] == ["two", ""]


def test_another_configured_model_replaces_it_and_cleanup_deletes_the_old(
    associations: Stack, cleanrooms: CleanRoomsEndpoint, endpoint: CleanRoomsMLEndpoint
) -> None:
    other = CONFIGURED.replace("lookalikes", "retrained")
    endpoint.add_configured_audience_model(other)
    props = association_properties(cleanrooms)
    old = associations.create("InCollaboration", props).physical_id

    replaced, cleanup = associations.update(
        "InCollaboration", {**props, "ConfiguredAudienceModelArn": other}
    )

    assert replaced.ok, replaced.reason
    new = associations.physical_ids["InCollaboration"]
    assert new != old and cleanup is not None and cleanup.ok
    assert list(cleanrooms.associations) == [new]


def test_a_create_whose_answer_was_lost_adopts_the_association(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    cleanrooms.inject(CREATE, CleanRoomsFault.after_success(), times=None)

    created = associations.create("InCollaboration", association_properties(cleanrooms))

    cleanrooms.clear_faults()
    assert created.ok, created.reason
    assert list(cleanrooms.associations) == [associations.physical_ids["InCollaboration"]]


def test_a_name_someone_else_holds_in_the_membership_is_a_clear_failure(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    theirs = aws.client("cleanrooms").create_configured_audience_model_association(
        membershipIdentifier=cleanrooms.default_membership_id,
        configuredAudienceModelArn=CONFIGURED,
        configuredAudienceModelAssociationName="lookalikes",
        manageResourcePolicies=False,
    )["configuredAudienceModelAssociation"]["arn"]

    created = associations.create(
        "InCollaboration",
        association_properties(cleanrooms, ConfiguredAudienceModelAssociationName="lookalikes"),
    )

    assert not created.ok
    assert created.reason.startswith(
        "ConfiguredAudienceModelAssociationName: a configured audience model association named "
        "'lookalikes' already exists in this membership"
    ), created.reason
    assert list(cleanrooms.associations) == [theirs]


def test_a_cancelled_create_leaves_no_association(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    props = association_properties(cleanrooms)
    waiter = associations.begin_create("InCollaboration", props)

    deleted = associations.cancel_create("InCollaboration", props, waiter)
    associations.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert cleanrooms.associations == {}


def test_tags_change_in_place(associations: Stack, cleanrooms: CleanRoomsEndpoint) -> None:
    props = association_properties(cleanrooms)
    arn = associations.create("InCollaboration", props).physical_id

    updated, _ = associations.update(
        "InCollaboration", {**props, "Tags": [{"Key": "stage", "Value": "prod"}]}
    )

    assert updated.ok, updated.reason
    tags = cleanrooms.associations[arn].tags
    assert tags.get("stage") == "prod" and "team" not in tags


def test_delete_of_an_association_another_resource_owns_deletes_nothing(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    arn = associations.create("InCollaboration", association_properties(cleanrooms)).physical_id
    aws.client("cleanrooms").tag_resource(
        resourceArn=arn, tags={"cdk-cleanrooms-ml:owner": "0123456789abcdef0123/x/y/"}
    )

    deleted = associations.delete("InCollaboration")

    assert not deleted.ok
    assert "carries the ownership tag of another stack resource" in deleted.reason
    assert arn in cleanrooms.associations


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MembershipIdentifier": "not-a-membership"}, "MembershipIdentifier: must be 36"),
        ({"ManageResourcePolicies": "maybe"}, "ManageResourcePolicies: must be true or false"),
        ({"ConfiguredAudienceModelArn": None}, "ConfiguredAudienceModelArn: required"),
        ({"Descripton": "x"}, "Descripton: unknown property (did you mean Description?)"),
        (
            {"ConfiguredAudienceModelAssociationName": "   "},
            "ConfiguredAudienceModelAssociationName: must match the pattern",
        ),
    ],
)
def test_bad_input_is_refused_before_any_call(
    associations: Stack, cleanrooms: CleanRoomsEndpoint, overrides: dict[str, Any], message: str
) -> None:
    created = associations.create(
        "InCollaboration", association_properties(cleanrooms, **overrides)
    )

    assert not created.ok
    assert created.reason.startswith(message), created.reason
    assert cleanrooms.calls_of(CREATE) == []
    assert len(json.dumps(created.reason)) < 1100
