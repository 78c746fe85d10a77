"""What a resource kind declares; the engine (``lifecycle``) does everything else with it.

A kind is data plus, at most, two small hooks: which API operations create, read, list, update and
delete it, where its ARN and status are, which properties change in place, and any rule the service
model does not carry. Nothing here calls AWS: a hook that must (the configured audience model's
resource policy) is handed the engine's one client module, ``api``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Api(Protocol):
    """The part of ``engine.aws`` a kind's hook may use."""

    def call(self, service: str, operation: str, **parameters: Any) -> dict[str, Any]: ...


class Resolve(Protocol):
    """Complete the create ``request`` with what the template must not hold (a secret's values),
    read at run time through ``api``: the request to send, and the values no message or log may
    quote. A transient failure is raised as the botocore error (the engine tries again later);
    any other as a ``HandlerError`` that names what was read but none of its values."""

    def __call__(
        self, api: Api, raw: Mapping[str, Any], request: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]: ...


@dataclass(frozen=True)
class Operations:
    """The API operations of a kind, by their names in the service model."""

    create: str
    get: str | None
    """None for a kind the API cannot read one by one (an export): ``list`` reads it then."""
    list: str
    delete: str | None
    """None for a kind the API cannot delete (an export): a Delete leaves it, and says so."""
    update: str | None = None
    """Changes the kind's ``in_place`` properties; None: only tags change in place."""


Rules = Callable[[Mapping[str, Any], Callable[[Any], bool]], None]
"""Checks of the template properties the service model does not carry: ``(raw, skip)``, raising
``properties.InvalidPropertyError`` naming the property. ``skip`` tells unresolved values (at
synth)."""


class Converge(Protocol):
    """Bring what only the kind knows about (a resource policy) from the ``old`` properties (None
    on create) to the ``new`` ones, for the resource at ``arn``: True when done, False to try again
    on the next poll. Called after every create and update until it returns True; must be
    idempotent. In a ``rollback`` it must not fail over what the failed update never changed."""

    def __call__(
        self,
        api: Api,
        arn: str,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any],
        *,
        rollback: bool,
    ) -> bool: ...


@dataclass(frozen=True)
class Kind:
    """One resource type the handler serves (see the module's docstring)."""

    resource_type: str
    """The custom resource type, ``Custom::CleanRoomsML...``: ``index`` dispatches on it."""
    noun: str
    """How messages name one resource: ``job``, ``configured audience model``."""
    service: str
    """The boto3 service name: ``cleanroomsml``, ``cleanrooms``."""
    operations: Operations
    arn_member: str | None
    """The ARN's member in the create and Get responses and the list summaries:
    ``audienceGenerationJobArn``; also what identifies it in a request, unless ``identify``.
    None for a kind without ARNs: its ``handle`` is its physical id."""
    list_member: str
    """The list response's member holding the summaries: ``audienceGenerationJobs``."""
    arn_pattern: re.Pattern[str]
    attributes: Callable[[str, str], dict[str, str]]
    """``(arn, name)`` -> the ``Data`` CloudFormation's GetAtt reads."""
    identify: Callable[[str], dict[str, str]] | None = None
    """The request members that identify the resource at an ARN (Get, Update, Delete), for a kind
    whose requests do not take the ARN itself (an association: its membership and its id)."""
    response_member: str | None = None
    """The member of the create and Get responses that holds the resource, if they wrap it."""
    name_property: str = "Name"
    """The template property of the name (the handler generates one when it is absent)."""
    name_member: str = "name"
    """The name's member in the create request."""
    names_unique: str = "per account"
    """Where names are unique, for messages: ``per account``, ``per membership``."""
    update_name_member: str | None = None
    """The name's member in the update request, for a kind whose name changes in place."""
    list_scope: Callable[[Mapping[str, Any]], dict[str, Any]] = field(default=lambda raw: {})
    """List parameters the list operation requires, from the template properties (a membership)."""
    tags_in_get: bool = True
    """Whether the Get response carries the tags; if not, ListTagsForResource reads them."""
    made: str = "created"
    """How messages say the create operation made one: ``started`` (a job), ``created``."""
    in_place: frozenset[str] = frozenset()
    """Template properties the update operation (or ``converge``) changes without replacing."""
    cleared: Mapping[str, Any] = field(default_factory=dict)
    """In-place members the update operation unsets by a value (``{"Description": ""}``): left
    out, such a member is updated to it rather than replacing the resource."""
    creating: frozenset[str] = frozenset()
    """Statuses of a resource still being created; empty for a kind whose create is synchronous."""
    deleting: frozenset[str] = frozenset()
    """Statuses of a resource being deleted; empty for a kind whose delete is synchronous."""
    waits: bool = False
    """Whether ``WaitForCompletion``/``WaitTimeoutSeconds`` apply: wait for ACTIVE after create."""
    extra_properties: frozenset[str] = frozenset()
    """Template properties that are no member of the create request (``converge`` reads them)."""
    sensitive_properties: frozenset[str] = frozenset()
    """Properties no message may quote, beyond what the service model marks sensitive."""
    rules: Rules | None = None
    resolve: Resolve | None = None
    converge: Converge | None = None
    list_filter: Callable[[Mapping[str, Any]], dict[str, Any]] = field(default=lambda raw: {})
    """List parameters that narrow the search for one resource by name (fewer pages)."""
    handle: Callable[[Mapping[str, Any]], str] | None = None
    """For a kind without ARNs (an export, known by its name only): the physical id that stands
    for its ARN, from its create request or list summary; ``identify`` reads it back, and the
    members it gives find the resource in the list."""
    tagged: bool = True
    """Whether the resource takes tags. The ownership tag proves which request made one; an
    untagged resource is the request's when it has the request's members and the name this
    request generated, or (a pinned name) was made after CloudFormation sent the request."""
    data: Callable[[Mapping[str, Any]], dict[str, str]] | None = None
    """``Data`` read from the resource as Get (or List) reports it, beyond ``attributes``: the
    engine reads the resource before it completes (an export's output location)."""

    def identifiers(self, arn: str) -> dict[str, str]:
        """What identifies the resource at ``arn`` in its Get, Update and Delete requests."""
        if self.identify is not None:
            return self.identify(arn)
        return {self._arn_member: arn}

    def arn_of(self, resource: Mapping[str, Any]) -> str:
        """The ARN (or ``handle``) of a resource as a create request and response, a Get
        response or a list summary hold it."""
        if self.handle is not None:
            return self.handle(resource)
        return str(resource[self._arn_member])

    @property
    def _arn_member(self) -> str:
        if self.arn_member is None:
            raise TypeError(f"Kind {self.resource_type}: no arn_member needs identify and handle")
        return self.arn_member

    @property
    def read_operation(self) -> str:
        """The operation that reads one resource: Get, or List for a kind without one."""
        return self.operations.get or self.operations.list

    def is_arn(self, physical_id: str | None) -> bool:
        return bool(physical_id) and self.arn_pattern.fullmatch(physical_id or "") is not None

    @property
    def a_noun(self) -> str:
        """The noun with its article: ``a job``, ``an audience model``."""
        return f"{'an' if self.noun[:1] in 'aeiou' else 'a'} {self.noun}"

    @property
    def title(self) -> str:
        """The noun at the start of a sentence."""
        return self.noun[:1].upper() + self.noun[1:]
