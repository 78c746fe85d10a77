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
from cleanrooms.engine.identity import pending_name
from cleanrooms.kinds.configured_audience_model_association import KIND as ASSOCIATION
from cleanrooms_endpoint import CleanRoomsEndpoint, CleanRoomsFault, running
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from cloudformation import Stack
from cloudformation_endpoint import CloudFormationFault
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


def someone_elses(cleanrooms: CleanRoomsEndpoint, name: str) -> str:
    """An association created outside CloudFormation, in the default membership: its ARN."""
    created = aws.client("cleanrooms").create_configured_audience_model_association(
        membershipIdentifier=cleanrooms.default_membership_id,
        configuredAudienceModelArn=CONFIGURED,
        configuredAudienceModelAssociationName=name,
        manageResourcePolicies=False,
    )
    return str(created["configuredAudienceModelAssociation"]["arn"])


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
    theirs = someone_elses(cleanrooms, "lookalikes")

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


# ----------------------------------------------------------- redelivery, rollbacks, deletes


def test_a_redelivered_create_leaves_one_association_and_both_answers_name_it(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    props = association_properties(cleanrooms, Description="first")
    first = associations.begin_create("InCollaboration", props)
    second = associations.redeliver(first)  # the same event (same RequestId) once more

    answered = associations.wait_open(first)
    late = associations.wait_open(second)

    assert answered.ok and late.ok, (answered.reason, late.reason)
    arn = answered.physical_id
    assert ASSOCIATION.is_arn(arn)
    assert (late.physical_id, late.data) == (arn, answered.data)
    assert first.request.ignored == [late], "CloudFormation took the first answer"
    assert list(cleanrooms.associations) == [arn]
    assert cleanrooms.associations[arn].description == "first"


def test_an_update_failing_after_the_rename_is_rolled_back_in_place(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    """The Update renamed it and changed its tags, then the waiter's read was refused: the
    rollback (old and new swapped) puts name, description and tags back on the same one."""
    old = association_properties(
        cleanrooms, ConfiguredAudienceModelAssociationName="first", Description="one"
    )
    arn = associations.create("InCollaboration", old).physical_id
    new = {
        **old,
        "ConfiguredAudienceModelAssociationName": "second",
        "Description": "two",
        "Tags": [{"Key": "team", "Value": "ai"}],
    }
    cleanrooms.inject(
        "GetConfiguredAudienceModelAssociation", CleanRoomsFault.access_denied("no Get for you")
    )

    updated, rollback = associations.update("InCollaboration", new)

    assert not updated.ok
    assert "AccessDeniedException: no Get for you" in updated.reason, updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == arn and associations.physical_ids["InCollaboration"] == arn
    assert list(cleanrooms.associations) == [arn], "restored in place, nothing new"
    record = cleanrooms.associations[arn]
    assert (record.name, record.description) == ("first", "one")
    assert record.tags["team"] == "ml"
    assert [
        (call.get("name"), call.get("description")) for call in cleanrooms.calls_of(UPDATE)
    ] == [("second", "two"), ("first", "one")]
    assert len(cleanrooms.calls_of(CREATE)) == 1 and cleanrooms.calls_of(DELETE) == []


def test_a_replacement_refused_by_the_service_rolls_back_to_the_old_association(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    props = association_properties(cleanrooms, Description="kept")
    old = associations.create("InCollaboration", props).physical_id
    missing = CONFIGURED.replace("lookalikes", "never-configured")

    updated, rollback = associations.update(
        "InCollaboration", {**props, "ConfiguredAudienceModelArn": missing}
    )

    assert not updated.ok
    assert "ResourceNotFoundException" in updated.reason and missing in updated.reason, (
        updated.reason
    )
    assert rollback is not None and rollback.ok and rollback.physical_id == old, rollback
    assert list(cleanrooms.associations) == [old]
    assert cleanrooms.associations[old].configured_audience_model_arn == CONFIGURED
    assert cleanrooms.calls_of(DELETE) == []


def test_a_replacement_failing_after_it_was_made_is_swept_by_the_rollback(
    associations: Stack, cleanrooms: CleanRoomsEndpoint, endpoint: CleanRoomsMLEndpoint
) -> None:
    """The new association (in another membership) exists when the waiter fails: CloudFormation
    sends no Delete for it, so the rollback must remove it, and only it."""
    other_membership = "1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1"
    cleanrooms.add_membership(other_membership)
    props = association_properties(cleanrooms)
    old = associations.create("InCollaboration", props).physical_id
    waiter = associations.begin_update(
        "InCollaboration", {**props, "MembershipIdentifier": other_membership}
    )
    (new,) = set(cleanrooms.associations) - {old}  # on_event made it; the waiter is to run
    assert associations.cloudformation is not None
    associations.cloudformation.inject(
        "DescribeStackResource", CloudFormationFault.access_denied(), times=None
    )

    failed = associations.wait_open(waiter)
    associations.cloudformation.clear_faults()
    assert new in cleanrooms.associations, "the failed waiter left it for the rollback"
    rollback = associations.follow_up(waiter)

    assert failed.status == "FAILED" and failed.physical_id == new, failed
    assert rollback is not None and rollback.ok and rollback.physical_id == old, rollback
    assert list(cleanrooms.associations) == [old], "nothing of the replacement is left"
    assert associations.physical_ids["InCollaboration"] == old


def test_delete_after_a_failed_create_deletes_nothing(
    associations: Stack, cleanrooms: CleanRoomsEndpoint
) -> None:
    theirs = someone_elses(cleanrooms, "lookalikes")
    kept = associations.create("Kept", association_properties(cleanrooms)).physical_id
    props = association_properties(cleanrooms, ConfiguredAudienceModelAssociationName="lookalikes")

    created = associations.create("InCollaboration", props)
    rollback = associations.rollback_create("InCollaboration", created, props)
    again = associations.framework.deliver(
        associations.event(
            "Delete", "InCollaboration", props, PhysicalResourceId=created.physical_id
        )
    )

    assert not created.ok and "already exists in this membership" in created.reason
    assert pending_name(created.physical_id) == "lookalikes", "the name it could not have"
    assert rollback.ok and again.ok, (rollback.reason, again.reason)
    assert set(cleanrooms.associations) == {theirs, kept}
    assert cleanrooms.calls_of(DELETE) == []
