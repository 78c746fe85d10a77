"""``ConfiguredAudienceModel``: an AWS Clean Rooms ML configured audience model in a CDK stack."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol

import jsii
from aws_cdk import IResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct, IValidation

from cdk_cleanrooms_ml import validation
from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.audience_destination import AudienceDestination
from cdk_cleanrooms_ml.audience_size import AudienceSizeConfig
from cdk_cleanrooms_ml.provider import CleanRoomsMLProvider
from cdk_cleanrooms_ml.resource_base import (
    GrantableResource,
    ImportedResource,
    ManagedResource,
    check_removal_policy,
    stack_facts,
)
from cdk_cleanrooms_ml.validation import check_member, check_model_region, check_tags, is_unresolved

RESOURCE_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
READ_ACTIONS = (
    "cleanrooms-ml:GetConfiguredAudienceModel",
    "cleanrooms-ml:GetConfiguredAudienceModelPolicy",
    "cleanrooms-ml:ListTagsForResource",
)
_CREATE = "CreateConfiguredAudienceModel"

_USER_NAMES = {
    "AudienceModelArn": "audience_model_arn",
    "OutputConfig": "output_config",
    "OutputConfig.Destination": "output_config.s3_uri",
    "OutputConfig.Destination.S3Destination": "output_config.s3_uri",
    "OutputConfig.Destination.S3Destination.S3Uri": "output_config.s3_uri",
    "OutputConfig.RoleArn": "output_config.role",
    "SharedAudienceMetrics": "shared_audience_metrics",
    "MinMatchingSeedSize": "min_matching_seed_size",
    "AudienceSizeConfig": "audience_size_config",
    "AudienceSizeConfig.AudienceSizeType": "audience_size_config.audience_size_type",
    "AudienceSizeConfig.AudienceSizeBins": "audience_size_config.audience_size_bins",
    "ChildResourceTagOnCreatePolicy": "child_resource_tag_on_create_policy",
    "Name": "name",
    "Description": "description",
    "Tags": "tags",
    "ConfiguredAudienceModelPolicy": "add_to_resource_policy",
}
"""Template property paths (the handler's messages) -> the names the user wrote."""


class SharedAudienceMetrics(str, enum.Enum):
    """Whether the metrics of the audiences jobs generate are shared (``sharedAudienceMetrics``)."""

    ALL = "ALL"
    NONE = "NONE"


class TagOnCreatePolicy(str, enum.Enum):
    """Which tags the jobs started on a configured audience model get from it."""

    FROM_PARENT_RESOURCE = "FROM_PARENT_RESOURCE"
    """The configured audience model's tags, overridden by those of the job's own request."""
    NONE = "NONE"
    """Only the tags of the job's own request."""


class IConfiguredAudienceModel(IResource, Protocol):
    """A configured audience model, defined in this app or imported."""

    @property
    def configured_audience_model_arn(self) -> str:
        """The configured audience model's ARN."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this configured audience model to ``grantee``."""
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this configured audience model, its policy and its tags."""
        ...

    def add_to_resource_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToResourcePolicyResult:
        """Add ``statement`` to the resource policy, if it is this app's to change."""
        ...


class ConfiguredAudienceModelBase(GrantableResource):
    """What defined and imported configured audience models share: the ARN and the grants."""

    @property
    def configured_audience_model_arn(self) -> str:
        raise NotImplementedError

    @check_argument_types
    def add_to_resource_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToResourcePolicyResult:
        """An imported configured audience model's policy is not this app's: nothing is added."""
        return iam.AddToResourcePolicyResult(statement_added=False)

    _READ_ACTIONS = READ_ACTIONS

    @property
    def _grant_arn(self) -> str:
        return self.configured_audience_model_arn


class _ImportedConfiguredAudienceModel(ConfiguredAudienceModelBase, ImportedResource):
    @property
    def configured_audience_model_arn(self) -> str:
        return self._imported_arn


class ConfiguredAudienceModel(ConfiguredAudienceModelBase, ManagedResource):
    """An AWS Clean Rooms ML configured audience model: an audience model, set up to generate
    audiences of given sizes into an S3 location.

    CloudFormation has no resource type for it: a custom resource
    (``Custom::CleanRoomsMLConfiguredAudienceModel``) backed by the stack's shared handler creates
    it, tags it, keeps its resource policy (``add_to_resource_policy``) and deletes it with the
    stack. A change of ``name`` or ``child_resource_tag_on_create_policy`` replaces it (a new one
    is created, then the old one deleted); every other change, tags included, is made in place.

    Tags: the ``tags`` prop, the stack's own tags and ``Tags.of(scope).add(...)`` all reach it, with
    CDK's precedence, as for ``AudienceGenerationJob``. Its ``node.default_child`` is its
    ``CfnResource``, and ``apply_removal_policy`` works on it.
    """

    _RESOURCE_TYPE = RESOURCE_TYPE
    _NOUN = "a configured audience model"

    @check_argument_types
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        audience_model_arn: str,
        output_config: AudienceDestination,
        shared_audience_metrics: SharedAudienceMetrics | str,
        min_matching_seed_size: int | None = None,
        audience_size_config: AudienceSizeConfig | None = None,
        child_resource_tag_on_create_policy: TagOnCreatePolicy | str | None = None,
        name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param audience_model_arn: ARN of the audience model to configure, one of the stack's
            account and Region (a token is fine). Changed in place.
        :param output_config: where generated audiences go and the role that writes them
            (``AudienceDestination.from_s3`` or ``.from_bucket``). Changed in place.
        :param shared_audience_metrics: whether the metrics of generated audiences are shared
            (``SharedAudienceMetrics.ALL``) or not (``.NONE``). Changed in place.
        :param min_matching_seed_size: the fewest seed audience members that must match the
            audience model's training data for a job to run, 25 to 500000 (a number token is
            taken too). Changed in place. Default: not sent (the service's default).
        :param audience_size_config: the audience sizes jobs may generate. Changed in place.
            Default: not sent (the service's default).
        :param child_resource_tag_on_create_policy: whether jobs started on this configured
            audience model get its tags (``TagOnCreatePolicy.FROM_PARENT_RESOURCE``) or not
            (``.NONE``). A change replaces the configured audience model.
            Default: not sent (the service's default).
        :param name: the configured audience model's name, 1 to 63 characters. A change replaces
            it; two configured audience models of the app in one account and Region cannot pin
            the same name. Default (or ``""``): a unique name the handler generates from the
            stack and the construct (a new one on each replacement).
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
        check_member(audience_model_arn, _CREATE, "audienceModelArn", "audience_model_arn")
        metrics = _value(shared_audience_metrics, SharedAudienceMetrics, "shared_audience_metrics")
        tag_policy = (
            None
            if child_resource_tag_on_create_policy is None
            else _value(
                child_resource_tag_on_create_policy,
                TagOnCreatePolicy,
                "child_resource_tag_on_create_policy",
            )
        )
        if min_matching_seed_size is not None:
            check_member(
                min_matching_seed_size, _CREATE, "minMatchingSeedSize", "min_matching_seed_size"
            )
        if name:
            check_member(name, _CREATE, "name", "name")
        if description is not None:
            check_member(description, _CREATE, "description", "description")
        super().__init__(scope, id)
        destination = output_config.bind(self)
        provider = CleanRoomsMLProvider.of(self)

        optional: dict[str, Any] = {
            "MinMatchingSeedSize": min_matching_seed_size,
            "AudienceSizeConfig": (
                None if audience_size_config is None else audience_size_config._render()
            ),
            "ChildResourceTagOnCreatePolicy": tag_policy,
            # "" is no name, to the handler too: it generates one.
            "Name": name or None,
            "Description": description,
        }
        properties: dict[str, Any] = {
            "AudienceModelArn": audience_model_arn,
            "OutputConfig": destination.properties,
            "SharedAudienceMetrics": [metrics],
            **{key: value for key, value in optional.items() if value is not None},
        }
        _check(properties)
        facts = stack_facts(self, provider)
        check_model_region(
            audience_model_arn,
            facts.region,
            name="audience_model_arn",
            why="an audience model is configured in its own account and Region",
            stack_account=facts.account,
        )
        self._pin_name(name, facts)
        # Only a configured audience model that passed its checks reaches the handler's policy.
        provider.allow_configured_audience_model(audience_model_arn, destination.role_arn)
        # Rendered at synth, from the statements added by then; absent while it has none.
        self._policy = iam.PolicyDocument()
        properties["ConfiguredAudienceModelPolicy"] = self._policy
        self.node.add_validation(_PolicyRules(self, self._policy))
        self._create_resource(provider, properties, tags=tags, removal_policy=removal_policy)
        for grant in destination.grants:
            # The service may check the role's access to the destination when it is created.
            grant.apply_before(self._resource)

    @staticmethod
    @check_argument_types
    def from_configured_audience_model_arn(
        scope: Construct, id: str, configured_audience_model_arn: str
    ) -> IConfiguredAudienceModel:
        """Refer to a configured audience model outside this app (or in another stack) by its ARN.

        Its resource policy is not this app's: ``add_to_resource_policy`` adds nothing to it.
        """
        return _ImportedConfiguredAudienceModel(scope, id, configured_audience_model_arn)

    @property
    def configured_audience_model_arn(self) -> str:
        """The configured audience model's ARN (a token: ``Fn::GetAtt`` on the custom resource).

        A job of the same stack may use it: the handler's permission to start jobs on it is then
        scoped to the configured audience models of the stack's account and Region (its own ARN
        would make a dependency cycle).
        """
        return self._attribute("ConfiguredAudienceModelArn", arn=True)

    @check_argument_types
    def add_to_resource_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToResourcePolicyResult:
        """Add ``statement`` to the configured audience model's resource policy.

        The policy is the ``ConfiguredAudienceModelPolicy`` property, a policy document rendered at
        synth from every statement added; the handler puts it (PutConfiguredAudienceModelPolicy),
        and removes it once no statement is left. A statement names a principal and actions, and
        may leave out ``Resource``: the handler fills in the configured audience model's own ARN
        (its ARN token cannot be named inside its own properties, a dependency cycle). To let
        another account start jobs on it, the Clean Rooms ML guide's statement also names
        ``audience-generation-job/*`` of this account: give both ARNs yourself, with
        ``Stack.format_arn``, in that case.
        """
        if not statement.has_principal:
            raise ValueError(
                "add_to_resource_policy: a statement of a resource policy must name a principal "
                "(iam.AccountPrincipal, iam.ServicePrincipal, ...), got none"
            )
        if not (statement.actions or statement.not_actions):
            raise ValueError(
                "add_to_resource_policy: a statement must name its actions "
                "(actions=['cleanrooms-ml:StartAudienceGenerationJob'], ...), got none"
            )
        self._policy.add_statements(statement)
        return iam.AddToResourcePolicyResult(statement_added=True, policy_dependable=self)


def _value(value: enum.Enum | str, kind: type[enum.Enum], name: str) -> str:
    """The API's string for an enum member or a string, which must be a member's (or a token)."""
    allowed = [str(member.value) for member in kind]
    text = str(value.value) if isinstance(value, enum.Enum) else value
    if text not in allowed and not is_unresolved(text):
        raise ValueError(f"{name}: must be one of {', '.join(allowed)}, got {text!r}")
    return text


def _check(properties: Mapping[str, Any]) -> None:
    """The handler's own checks of the rendered properties (the user's names in messages)."""
    validation.check_resource(RESOURCE_TYPE, properties, user_names=_USER_NAMES)


@jsii.implements(IValidation)
class _PolicyRules:
    """The handler's rules of the resource policy, on the statements added by synth time.

    Values CloudFormation resolves at deploy (``Fn::Join`` of a principal's ARN) count as empty,
    so the size checked is a lower bound: synth refuses only a policy the handler surely would.
    """

    def __init__(self, scope: Construct, policy: iam.PolicyDocument) -> None:
        self._scope = scope
        self._policy = policy

    def validate(self) -> list[str]:
        if self._policy.is_empty:
            return []
        document = _without_intrinsics(Stack.of(self._scope).resolve(self._policy))
        rules = validation.handler_module("kinds.configured_audience_model")
        try:
            rules.check_policy(document, is_unresolved)
        except ValueError as error:
            return [f"add_to_resource_policy: {error}"]
        return []


def _without_intrinsics(value: Any) -> Any:
    """``value`` with every CloudFormation intrinsic (``Ref``, ``Fn::...``) as ""."""
    if isinstance(value, Mapping):
        if (len(value) == 1 and next(iter(value)) in ("Ref", "Condition")) or any(
            str(key).startswith("Fn::") for key in value
        ):
            return ""
        return {key: _without_intrinsics(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_intrinsics(item) for item in value]
    return value
