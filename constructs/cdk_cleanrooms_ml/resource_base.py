"""What every construct of this library repeats: the custom resource, its tags and removal policy.

A construct that defines a Clean Rooms ML resource derives from ``ManagedResource`` (besides its own
``...Base`` with the grants) and ends its ``__init__`` with ``_create_resource``: one
``CfnResource`` with the id ``Resource`` (so it is the construct's ``node.default_child``, as on any
L2), served by the stack's one ``CleanRoomsMLProvider``, its ``Tags`` merged from the ``tags`` prop,
the stack's tags and ``Tags.of(...)``. An import derives from ``ImportedResource``.

Every call into aws-cdk-lib is a round trip to Node: what runs per resource is kept to the few
calls that make the resource; what is per stack is read once (``stack_facts``).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jsii
from aws_cdk import (
    CfnResource,
    ITaggableV2,
    RemovalPolicy,
    Resource,
    Stack,
    TagManager,
    TagType,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_cleanrooms_ml import long_wait
from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.provider import CleanRoomsMLProvider
from cdk_cleanrooms_ml.validation import PinnedNames, is_unresolved, waits_beyond_the_hour

RoleLike = iam.IRole | str
"""A role as an ``iam.IRole`` or as a role ARN."""


def check_removal_policy(policy: RemovalPolicy, noun: str) -> None:
    """Refuse what the handler cannot do: DESTROY and RETAIN only (``noun`` has no snapshot)."""
    if policy not in (RemovalPolicy.DESTROY, RemovalPolicy.RETAIN):
        raise ValueError(
            "removal_policy: must be RemovalPolicy.DESTROY or RemovalPolicy.RETAIN "
            f"({noun} has no snapshot), got {policy}"
        )


class GrantableResource(Resource):
    """What defined and imported resources of a kind share: grants on the resource's ARN.

    Subclasses name the ARN (``_grant_arn``) and the read actions (``_READ_ACTIONS``).
    """

    _READ_ACTIONS: ClassVar[tuple[str, ...]]

    @property
    def _grant_arn(self) -> str:
        raise NotImplementedError

    @check_argument_types
    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this resource to ``grantee``."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self._grant_arn]
        )

    @check_argument_types
    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this resource and its tags (the kind's read actions)."""
        return self.grant(grantee, *self._READ_ACTIONS)


@jsii.implements(ITaggableV2)
class ManagedResource(Resource):
    """A Clean Rooms ML resource defined in this app, made and deleted by the stack's handler.

    Subclasses set ``_RESOURCE_TYPE`` and ``_NOUN`` and end their ``__init__`` with
    ``_create_resource``.
    """

    _RESOURCE_TYPE: ClassVar[str]
    """The custom resource type: ``Custom::CleanRoomsML...``."""
    _NOUN: ClassVar[str]
    """One resource, with its article, in messages: ``a job``."""
    _TAGGABLE: ClassVar[bool] = True
    """False for a kind the API cannot tag (an export): no ``Tags`` property, and ``Tags.of``
    tags do not reach it."""
    _LONG_WAIT_READ: ClassVar[tuple[str, str | None] | None] = None
    """For a kind that may wait beyond the hour: the action that reads one, and the resource type
    in its ARNs (None: the action is a List, on ``*``)."""

    def _create_resource(
        self,
        provider: CleanRoomsMLProvider,
        properties: Mapping[str, Any],
        *,
        tags: Mapping[str, str] | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        """The custom resource: ``ServiceToken``, ``properties``, then the merged ``Tags``.

        ``properties`` are the PascalCase request the handler gets, without ``Tags``; ``tags`` the
        ``tags`` prop. The tags' rules are checked at synth, once ``Tags.of(...)`` set them all.
        """
        self._provider = provider
        self._attributes: dict[str, str] = {}
        self._tag_manager = TagManager(
            TagType.KEY_VALUE, self._RESOURCE_TYPE, {**provider.stack_tags, **(tags or {})}
        )
        if self._TAGGABLE:
            provider.check_tags_at_synth(self, self._tag_manager, tags or {})
        # The CloudFormation resource itself, not a CustomResource around it: with the id
        # "Resource" it is this construct's default child, as on any L2 (and keeps the logical id
        # a CustomResource's "Resource/Default" had). ServiceTimeout is left at CloudFormation's
        # default, 3600 s, its maximum: the provider framework's own limit (55 minutes) fits.
        self._resource = CfnResource(
            self,
            "Resource",
            type=self._RESOURCE_TYPE,
            properties={
                "ServiceToken": provider.service_token,
                **properties,
                **({"Tags": self._tag_manager.rendered_tags} if self._TAGGABLE else {}),
            },
        )
        if removal_policy is not RemovalPolicy.DESTROY:
            # DESTROY is CloudFormation's default: one call into jsii fewer per resource.
            self._resource.apply_removal_policy(removal_policy)
        self._wait_condition: CfnResource | None = None
        if self._LONG_WAIT_READ is not None and waits_beyond_the_hour(properties):
            provider.allow_long_wait(*self._LONG_WAIT_READ)
            self._wait_condition = long_wait.add_wait_condition(self, self._resource, properties)
        long_wait.depend_on_waits(self._resource, properties)

    @property
    def _completion(self) -> CfnResource:
        """What completes when the resource is ready: its WaitCondition, if it waits beyond the
        hour, else its custom resource."""
        return self._wait_condition or self._resource

    def _attribute(self, name: str, *, arn: bool = False) -> str:
        """``Fn::GetAtt`` of the resource as a string token, made once.

        An ``arn`` is recorded with the provider: its permissions for other resources of the stack
        that use it are scoped by ARN pattern (naming it would make a dependency cycle).
        """
        value = self._attributes.get(name)
        if value is None:
            value = self._resource.get_att(name).to_string()
            if arn:
                self._provider.note_own_arn(value)
                if self._wait_condition is not None:
                    long_wait.note_wait(value, self._wait_condition)
            self._attributes[name] = value
        return value

    def _pin_name(self, name: str | None, facts: StackFacts) -> None:
        """Refuse a ``name`` that another resource of this kind pins in the same environment."""
        if name and not is_unresolved(name):
            facts.pinned_names.claim(
                self._RESOURCE_TYPE, name, facts.account, facts.region, lambda: self.node.path
            )

    @check_argument_types
    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        """What happens to the resource when it leaves the stack: DESTROY or RETAIN, no SNAPSHOT."""
        check_removal_policy(policy, self._NOUN)
        super().apply_removal_policy(policy)

    @property
    def cdk_tag_manager(self) -> TagManager:
        """Tag manager through which ``Tags.of(...)`` reaches the resource."""
        return self._tag_manager


class ImportedResource(Resource):
    """An existing resource, referred to by its ARN: its account and Region are the ARN's."""

    def __init__(self, scope: Construct, id: str, arn: str) -> None:
        super().__init__(scope, id, environment_from_arn=arn)
        self._imported_arn = arn


@dataclass(frozen=True)
class StackFacts:
    """What resources need to know of their stack, read once per stack: each read is a jsii call."""

    account: str | None
    """None when it is a token (an environment-agnostic stack)."""
    region: str | None
    """None when it is a token."""
    pinned_names: PinnedNames
    """The names pinned by the resources of the whole app."""


_STACK_FACTS: weakref.WeakKeyDictionary[CleanRoomsMLProvider, StackFacts] = (
    weakref.WeakKeyDictionary()
)
"""Per stack, keyed by its provider: every resource has that already, at no jsii call."""
_PINNED_NAMES: weakref.WeakKeyDictionary[Any, PinnedNames] = weakref.WeakKeyDictionary()
"""Per app, keyed by the root of its construct tree."""


def stack_facts(scope: Construct, provider: CleanRoomsMLProvider) -> StackFacts:
    """The facts of the stack of ``scope``, whose provider is ``provider``."""
    facts = _STACK_FACTS.get(provider)
    if facts is None:
        stack = Stack.of(scope)
        account, region = stack.account, stack.region
        facts = StackFacts(
            account=None if is_unresolved(account) else account,
            region=None if is_unresolved(region) else region,
            pinned_names=_PINNED_NAMES.setdefault(stack.node.root, PinnedNames()),
        )
        _STACK_FACTS[provider] = facts
    return facts


def role_to_grant(scope: Construct, role: RoleLike, bucket: s3.IBucket, id: str) -> iam.IRole:
    """The role to grant access to ``bucket`` to, for the resource ``scope``: where the grant goes.

    A role ARN is imported into ``scope`` (with ``id``), so the grant's policy is the resource's.
    So is the policy for a role of another stack than the resource's and the bucket's: granting on
    that role directly would put a statement naming the bucket into the role's stack while the
    resource names the role, a cycle between the stacks. It is imported by name, which keeps a
    role path right.
    """
    if isinstance(role, str):
        return iam.Role.from_role_arn(scope, id, role)
    role_stack = role.stack
    if role_stack is Stack.of(scope) or role_stack is bucket.stack:
        return role
    return iam.Role.from_role_name(scope, id, role.role_name)
