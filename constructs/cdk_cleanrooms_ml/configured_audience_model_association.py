"""``ConfiguredAudienceModelAssociation``: a configured audience model associated with an AWS Clean
Rooms collaboration, through one of the account's memberships, in a CDK stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aws_cdk import Fn, IResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_cleanrooms_ml import validation
from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.provider import CleanRoomsMLProvider
from cdk_cleanrooms_ml.resource_base import (
    GrantableResource,
    ImportedResource,
    ManagedResource,
    check_removal_policy,
    stack_facts,
)
from cdk_cleanrooms_ml.validation import check_member, check_model_region, check_tags, is_unresolved

RESOURCE_TYPE = "Custom::CleanRoomsConfiguredAudienceModelAssociation"
READ_ACTIONS = (
    "cleanrooms:GetConfiguredAudienceModelAssociation",
    "cleanrooms:ListTagsForResource",
)
_SERVICE = "cleanrooms"
"""The association is a Clean Rooms resource, not a Clean Rooms ML one (botocore's name)."""
_CREATE = "CreateConfiguredAudienceModelAssociation"

_USER_NAMES = {
    "MembershipIdentifier": "membership_id",
    "ConfiguredAudienceModelArn": "configured_audience_model_arn",
    "ConfiguredAudienceModelAssociationName": "name",
    "ManageResourcePolicies": "manage_resource_policies",
    "Description": "description",
    "Tags": "tags",
}
"""Template property paths (the handler's messages) -> the names the user wrote."""


class IConfiguredAudienceModelAssociation(IResource, Protocol):
    """A configured audience model association, defined in this app or imported."""

    @property
    def configured_audience_model_association_arn(self) -> str:
        """The association's ARN."""
        ...

    @property
    def configured_audience_model_association_id(self) -> str:
        """The association's id (the last part of its ARN)."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this association to ``grantee``."""
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this association and its tags."""
        ...


class ConfiguredAudienceModelAssociationBase(GrantableResource):
    """What defined and imported associations share: the ARN, the id and the grants."""

    @property
    def configured_audience_model_association_arn(self) -> str:
        raise NotImplementedError

    @property
    def configured_audience_model_association_id(self) -> str:
        raise NotImplementedError

    _READ_ACTIONS = READ_ACTIONS

    @property
    def _grant_arn(self) -> str:
        return self.configured_audience_model_association_arn


class _ImportedConfiguredAudienceModelAssociation(
    ConfiguredAudienceModelAssociationBase, ImportedResource
):
    @property
    def configured_audience_model_association_arn(self) -> str:
        return self._imported_arn

    @property
    def configured_audience_model_association_id(self) -> str:
        arn = self._imported_arn
        if is_unresolved(arn):
            # membership/<membership id>/configuredaudiencemodelassociation/<id>
            return Fn.select(3, Fn.split("/", arn))
        return arn.rsplit("/", 1)[-1]


class ConfiguredAudienceModelAssociation(ConfiguredAudienceModelAssociationBase, ManagedResource):
    """A configured audience model associated with an AWS Clean Rooms collaboration, through one
    of the account's memberships: the collaboration's members can then generate audiences with it.

    CloudFormation has no resource type for it: a custom resource
    (``Custom::CleanRoomsConfiguredAudienceModelAssociation``) backed by the stack's shared handler
    creates it, tags it and deletes it with the stack. A change of ``name`` or ``description``
    is made in place (UpdateConfiguredAudienceModelAssociation), as is a change of tags; a change
    of ``membership_id``, ``configured_audience_model_arn`` or ``manage_resource_policies``
    replaces it (a new one is created, then the old one deleted).

    Tags: the ``tags`` prop, the stack's own tags and ``Tags.of(scope).add(...)`` all reach it, with
    CDK's precedence, as for ``AudienceGenerationJob``. Its ``node.default_child`` is its
    ``CfnResource``, and ``apply_removal_policy`` works on it.
    """

    _RESOURCE_TYPE = RESOURCE_TYPE
    _NOUN = "a configured audience model association"

    @check_argument_types
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        membership_id: str,
        configured_audience_model_arn: str,
        manage_resource_policies: bool,
        name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param membership_id: id of the account's membership in the collaboration to associate
            the model with (``CfnMembership.attr_membership_identifier``, or the id as a string).
            A change replaces the association.
        :param configured_audience_model_arn: ARN of the configured audience model to associate,
            one of the stack's account and Region (a token is fine). A change replaces the
            association.
        :param manage_resource_policies: whether Clean Rooms manages the configured audience
            model's resource policy for the collaboration (``True``: it adds, and on delete
            removes, the statements that let the collaboration use the model; the handler is
            allowed to change that policy) or the model's owner does (``False``). Required by the
            API. A change replaces the association.
        :param name: the association's name, 1 to 100 characters, unique in the membership.
            Changed in place. Default (or ``""``): a unique name the handler generates from the
            stack and the construct.
        :param description: a description, at most 255 characters. Changed in place.
            Default: none.
        :param tags: tags for it, merged with the stack's tags and ``Tags.of(...)``. Changed in
            place. Default: no tags of its own.
        :param removal_policy: what happens to it when it leaves the stack; ``RETAIN`` keeps it.
            Default: RemovalPolicy.DESTROY.
        """
        check_removal_policy(removal_policy, self._NOUN)
        if tags:
            check_tags(tags)
        _check_member(membership_id, "membershipIdentifier", "membership_id")
        _check_member(
            configured_audience_model_arn,
            "configuredAudienceModelArn",
            "configured_audience_model_arn",
        )
        if name:
            _check_member(name, "configuredAudienceModelAssociationName", "name")
        if description is not None:
            _check_member(description, "description", "description")
        super().__init__(scope, id)
        provider = CleanRoomsMLProvider.of(self)

        optional: dict[str, Any] = {
            # "" is no name, to the handler too: it generates one.
            "ConfiguredAudienceModelAssociationName": name or None,
            "Description": description,
        }
        properties: dict[str, Any] = {
            "MembershipIdentifier": membership_id,
            "ConfiguredAudienceModelArn": configured_audience_model_arn,
            "ManageResourcePolicies": manage_resource_policies,
            **{key: value for key, value in optional.items() if value is not None},
        }
        _check(properties)
        facts = stack_facts(self, provider)
        check_model_region(
            configured_audience_model_arn,
            facts.region,
            name="configured_audience_model_arn",
            why="a member associates its own configured audience model, in the collaboration's "
            "Region",
            stack_account=facts.account,
        )
        if name and not is_unresolved(name):
            facts.pinned_names.claim_in_membership(
                RESOURCE_TYPE, name, membership_id, lambda: self.node.path
            )
        # Only an association that passed its checks reaches the handler's policy.
        provider.allow_configured_audience_model_association(
            membership_id,
            configured_audience_model_arn,
            manage_resource_policies=manage_resource_policies,
        )
        self._create_resource(provider, properties, tags=tags, removal_policy=removal_policy)

    @staticmethod
    @check_argument_types
    def from_configured_audience_model_association_arn(
        scope: Construct, id: str, configured_audience_model_association_arn: str
    ) -> IConfiguredAudienceModelAssociation:
        """Refer to an association outside this app (or in another stack) by its ARN."""
        return _ImportedConfiguredAudienceModelAssociation(
            scope, id, configured_audience_model_association_arn
        )

    @property
    def configured_audience_model_association_arn(self) -> str:
        """The association's ARN (a token: ``Fn::GetAtt`` on the custom resource)."""
        return self._attribute("ConfiguredAudienceModelAssociationArn")

    @property
    def configured_audience_model_association_id(self) -> str:
        """The association's id (a token: ``Fn::GetAtt`` on the custom resource)."""
        return self._attribute("ConfiguredAudienceModelAssociationId")


def _check_member(value: Any, member: str, name: str) -> None:
    """The service model's rules of a request member, at the user's line."""
    check_member(value, _CREATE, member, name, service=_SERVICE)


def _check(properties: Mapping[str, Any]) -> None:
    """The handler's own checks of the rendered properties (the user's names in messages)."""
    validation.check_resource(RESOURCE_TYPE, properties, user_names=_USER_NAMES)
