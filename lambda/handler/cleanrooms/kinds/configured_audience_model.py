"""``Custom::CleanRoomsMLConfiguredAudienceModel``: a configured audience model and its policy.

Created, read, updated and deleted synchronously (its status is ACTIVE at once). Update changes
``outputConfig``, ``audienceModelArn``, ``sharedAudienceMetrics``, ``minMatchingSeedSize``,
``audienceSizeConfig`` and ``description`` in place; a new ``Name`` or
``ChildResourceTagOnCreatePolicy`` needs a new model (the engine replaces it), and so does
removing ``MinMatchingSeedSize`` or ``AudienceSizeConfig`` (Update cannot unset them); a removed
``Description`` is updated to "".

Its resource policy is the template property ``ConfiguredAudienceModelPolicy``, a policy document
whose statements may leave out ``Resource`` (the model's own ARN is filled in). ``converge`` puts
it with PutConfiguredAudienceModelPolicy, replaces it with ``previousPolicyHash`` only while it is
still what this stack put, and deletes it once the property is gone: a policy changed outside
CloudFormation is never overwritten silently.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..engine.errors import Failure, HandlerError, classify, is_transient
from ..engine.kind import Api, Kind, Operations
from ..engine.properties import InvalidPropertyError, without_skipped

RESOURCE_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
POLICY = "ConfiguredAudienceModelPolicy"

logger = logging.getLogger(__name__)

ARN_PATTERN = re.compile(
    r"arn:aws[-a-z]*:cleanrooms-ml:[-a-z0-9]+:[0-9]{12}:configured-audience-model/[-a-zA-Z0-9_/.]+"
)
_SERVICE = "cleanroomsml"


MAX_POLICY_LENGTH = 20480
"""Characters of the policy as PutConfiguredAudienceModelPolicy takes it (the model's
``ResourcePolicy`` maximum; a test holds the two equal)."""


def check_policy(policy: Any, skip: Callable[[Any], bool]) -> None:
    """A resource policy document: statements that name an effect, a principal and actions, at
    most ``MAX_POLICY_LENGTH`` characters once the model's ARN is filled in. Parts for which
    ``skip`` is true (unresolved at synth) count as empty."""
    if policy is None or skip(policy):
        return
    if not isinstance(policy, Mapping):
        raise InvalidPropertyError(f"{POLICY}: must be a policy document (an object)")
    statements = policy.get("Statement")
    if skip(statements):
        return
    if not isinstance(statements, list) or not statements:
        raise InvalidPropertyError(f"{POLICY}.Statement: must be a non-empty list of statements")
    for index, statement in enumerate(statements):
        if skip(statement):
            continue
        where = f"{POLICY}.Statement[{index}]"
        if not isinstance(statement, Mapping):
            raise InvalidPropertyError(f"{where}: must be an object")
        for one_of in (("Effect",), ("Principal", "NotPrincipal"), ("Action", "NotAction")):
            if not any(key in statement for key in one_of):
                raise InvalidPropertyError(f"{where}: must name {' or '.join(one_of)}")
    known = without_skipped(policy, skip)
    size = len(policy_document({POLICY: known}, "") or "")  # the ARN adds to it: at least this
    if size > MAX_POLICY_LENGTH:
        raise InvalidPropertyError(
            f"{POLICY}: must be at most {MAX_POLICY_LENGTH} characters as JSON, got at least {size}"
        )


def _rules(raw: Mapping[str, Any], skip: Callable[[Any], bool]) -> None:
    check_policy(raw.get(POLICY), skip)


def policy_document(raw: Mapping[str, Any] | None, arn: str) -> str | None:
    """The policy ``raw`` declares, as PutConfiguredAudienceModelPolicy takes it (JSON text),
    with the model's ARN as ``Resource`` of every statement that names none; None without one."""
    policy = (raw or {}).get(POLICY)
    if not isinstance(policy, Mapping):
        return None
    statements = [
        statement
        if "Resource" in statement or "NotResource" in statement
        else {**statement, "Resource": arn}
        for statement in policy.get("Statement") or []
        if isinstance(statement, Mapping)
    ]
    return json.dumps({**policy, "Statement": statements}, separators=(",", ":"))


def _converge(
    api: Api,
    arn: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    rollback: bool,
) -> bool:
    """Bring the model's policy from what ``old`` declared (None: a new model) to ``new``'s.

    An update that keeps the template's policy leaves the model's alone. Statements added outside
    CloudFormation (Clean Rooms adds one for an association that manages resource policies) are
    kept: the stack replaces only the statements it put. A policy from which a statement the
    stack put was changed or removed outside CloudFormation is never overwritten: an update of
    the template's policy fails over it, naming the model; a rollback goes on without touching it
    (the failed update did not change it either).
    """
    declared = policy_document(new, arn)
    previous = policy_document(old, arn)
    if old is not None and not rollback and _same(previous, declared):
        # The template's policy did not change: the model's is left as it is, whoever changed
        # it since.
        return True
    current, current_hash = _current_policy(api, arn)
    desired = _merged(current, previous, declared)
    if rollback and current is not None and previous is None:
        # The failed update declared no policy: whether it removed the stack's statements (and
        # kept those added outside) or never ran cannot be told from the policy. Left as it is.
        desired = _CONFLICT
    if desired is _CONFLICT:
        if rollback:
            logger.warning(
                "The policy of %s was changed outside CloudFormation: left as it is", arn
            )
            return True
        raise HandlerError(
            f"{POLICY}: the resource policy of configured audience model {arn} was changed "
            "outside CloudFormation (a statement this stack put was changed or removed); it is "
            "not overwritten. Restore it or delete it by hand, or declare it, then retry."
        )
    if _same(current, desired):
        return True
    if desired is None:
        try:
            api.call(
                _SERVICE, "DeleteConfiguredAudienceModelPolicy", configuredAudienceModelArn=arn
            )
        except ClientError as error:
            # botocore retries a Delete whose answer was lost (a 5xx after it happened): the
            # retry finds no policy, which is what is wanted.
            if classify(error) is not Failure.NOT_FOUND:
                raise
        return True
    condition: dict[str, str] = (
        {"previousPolicyHash": str(current_hash)}
        if current is not None
        else {"policyExistenceCondition": "POLICY_MUST_NOT_EXIST"}
    )
    try:
        api.call(
            _SERVICE,
            "PutConfiguredAudienceModelPolicy",
            configuredAudienceModelArn=arn,
            configuredAudienceModelPolicy=desired,
            **condition,
        )
    except ClientError as error:
        # botocore retries a Put whose answer was lost (a 5xx after it happened); the retry's
        # condition no longer holds, so the service refuses it. Done if the policy now is the
        # one wanted; else (refused, or changed meanwhile) the refusal is the answer.
        if is_transient(error) or not _same(_current_policy(api, arn)[0], desired):
            raise
    return True


_CONFLICT = "<changed outside CloudFormation>"


def _merged(current: str | None, previous: str | None, declared: str | None) -> str | None:
    """The policy to put: ``declared``'s statements plus those of ``current`` that the stack did
    not put (``previous`` holds those); ``_CONFLICT`` when one the stack put is no longer there
    as it put it. None: no policy at all."""
    if current is None:
        return declared
    try:
        now = json.loads(current)
    except ValueError:
        return declared if _same(current, previous) else _CONFLICT
    put = _statements(previous)
    held = _statements(current)
    if any(statement not in held for statement in put):
        return _CONFLICT
    outside = [statement for statement in held if statement not in put]
    wanted = _statements(declared)
    statements = wanted + [statement for statement in outside if statement not in wanted]
    if not statements:
        return None
    document = json.loads(declared) if declared is not None else now
    return json.dumps({**document, "Statement": statements}, separators=(",", ":"))


def _statements(policy: str | None) -> list[Any]:
    if policy is None:
        return []
    statements = json.loads(policy).get("Statement") or []
    return list(statements) if isinstance(statements, list) else [statements]


def _current_policy(api: Api, arn: str) -> tuple[str | None, str | None]:
    try:
        response = api.call(
            _SERVICE, "GetConfiguredAudienceModelPolicy", configuredAudienceModelArn=arn
        )
    except ClientError as error:
        if classify(error) is Failure.NOT_FOUND:
            return None, None  # no policy (the model itself was just read)
        raise
    return response.get("configuredAudienceModelPolicy"), response.get("policyHash")


def _same(first: str | None, second: str | None) -> bool:
    """Whether two policy texts say the same (the service may store them reformatted)."""
    if first is None or second is None:
        return first is second
    try:
        return bool(json.loads(first) == json.loads(second))
    except ValueError:
        return first == second


KIND = Kind(
    resource_type=RESOURCE_TYPE,
    noun="configured audience model",
    service=_SERVICE,
    operations=Operations(
        create="CreateConfiguredAudienceModel",
        get="GetConfiguredAudienceModel",
        list="ListConfiguredAudienceModels",
        delete="DeleteConfiguredAudienceModel",
        update="UpdateConfiguredAudienceModel",
    ),
    arn_member="configuredAudienceModelArn",
    list_member="configuredAudienceModels",
    arn_pattern=ARN_PATTERN,
    attributes=lambda arn, name: {"ConfiguredAudienceModelArn": arn, "Name": name},
    in_place=frozenset(
        {
            "AudienceModelArn",
            "OutputConfig",
            "SharedAudienceMetrics",
            "MinMatchingSeedSize",
            "AudienceSizeConfig",
            "Description",
            POLICY,
        }
    ),
    cleared={"Description": ""},
    extra_properties=frozenset({POLICY}),
    rules=_rules,
    converge=_converge,
)
