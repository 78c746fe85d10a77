"""The lifecycle every kind gets: create, update, delete under the CDK Provider framework.

``on_event`` makes the first attempt at what CloudFormation asked for; ``is_complete``, polled by
the framework's waiter, then finishes the work: it creates a resource whose create had to wait
(a full quota, throttling), waits for ACTIVE, updates in place, re-applies tags, waits for a
deletion to end. What it needs to know travels in the ``HandlerState`` (``state``) that
``on_event`` returns and the framework passes on, unchanged, to every poll.

Rules that keep every resource accounted for, whatever its kind:
- once a resource exists, its ARN (or a pending id that names it) is the physical id CloudFormation
  gets;
- a create that may or may not have happened is settled by the resource's name, never by a second
  resource; ``on_event`` never fails after such a create: it reports the pending id and lets the
  waiter decide;
- no create after the request's deadline, and none for a request CloudFormation no longer awaits
  (a cancelled create, a redelivered request already answered): such a waiter removes what it
  made, unless CloudFormation holds it;
- Delete touches only resources whose ownership tag names this stack resource (by ARN: unless the
  tag names another one), and a sweep only the resource that a failed replacement itself made.

A kind (``kind.Kind``) says which calls do what; nothing here knows one kind from another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from . import aws, identity, limits, long_wait, properties
from .errors import (
    Failure,
    HandlerError,
    InvocationBudgetExceeded,
    classify,
    error_code,
    failed,
    forget_sensitive,
    is_transient,
    reason,
    remember_sensitive,
)
from .kind import Kind
from .properties import OWNER_TAG_KEY, InvalidPropertyError, Properties
from .state import HandlerState, Sweep

logger = logging.getLogger()
logger.setLevel(logging.INFO)
# botocore logs request bodies (SQL, tags) at DEBUG: keep it above that whatever the root level.
logging.getLogger("botocore").setLevel(logging.WARNING)

PATIENCE_SECONDS = (1.0, 2.0, 4.0)
"""Waits between retries of a read ``on_event`` cannot decide without (botocore retries first)."""

_CALL_ERRORS = (ClientError, BotoCoreError)


def on_event(kind: Kind, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    _log_event("on_event", event)
    aws.begin_invocation(context)
    forget_sensitive()
    handlers = {"Create": _on_create, "Update": _on_update, "Delete": _on_delete}
    try:
        return handlers[event["RequestType"]](kind, event)
    except (HandlerError, InvalidPropertyError) as error:
        raise HandlerError(_reason(kind, error, event)) from error


def is_complete(kind: Kind, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    aws.begin_invocation(context)
    forget_sensitive()
    state = HandlerState.load(event.get("HandlerState"))
    steps = {"start": _await_start, "update": _await_update, "delete": _await_delete}
    try:
        step = steps.get(state.action) if state else None
        return step(kind, event, state) if step and state else {"IsComplete": True}
    except (HandlerError, InvalidPropertyError) as error:
        raise HandlerError(_reason(kind, error, event)) from error


def _on_create(kind: Kind, event: Mapping[str, Any]) -> dict[str, Any]:
    props = _parse(kind, event["ResourceProperties"])
    name = props.name or _generated_name(event)
    return _start(kind, event, props, name)


def _on_update(kind: Kind, event: Mapping[str, Any]) -> dict[str, Any]:
    old, new = event.get("OldResourceProperties") or {}, event["ResourceProperties"]
    physical_id = event["PhysicalResourceId"]
    changes = properties.replacing_changes(kind, old, new)
    if kind.is_arn(physical_id) and _rolling_back(event):
        # A rollback returns to the resource CloudFormation holds: in place whatever its tag
        # says. A job's properties may be ones an earlier release accepted, of which only the
        # tags are read; a kind that updates in place gets its old properties back. A resource
        # the failed replacement itself made is swept up.
        return _update_in_place(
            kind,
            event,
            properties.declared_tags(new),
            deadline=limits.DEFAULT_WAIT_TIMEOUT_SECONDS,
            wait=0,
            sweep=bool(changes),
            rollback=True,
        )
    props = _parse(kind, new)
    pending = identity.pending_name(physical_id)
    if pending is not None:
        # A create still owed (a failed replacement left its pending id, e.g. under
        # --no-rollback): the same resource if its name still applies, else a new one (the
        # pending id is cleaned up).
        name = props.name or (pending if not changes else _generated_name(event))
        held = {"held_name": pending, "held_request": identity.pending_request(physical_id)}
        return _start(kind, event, props, name, replaces=physical_id, **held)
    unset = properties.unset_members(kind, old, new)
    if kind.is_arn(physical_id) and (
        not changes or (not unset and _made_from(kind, event, physical_id, new))
    ):
        # Tags, in-place members and handler settings change in place. So does a return to the
        # properties the resource was made from, which is already what is wanted.
        return _update_in_place(
            kind,
            event,
            props.tags,
            deadline=props.request_timeout_seconds,
            wait=props.wait,
            sweep=bool(changes),
            long_wait=_hands_over(event, props),
        )
    if props.name is not None and props.name == old.get(kind.name_property):
        raise HandlerError(
            f"{kind.name_property}: changing {', '.join(changes)} needs a new {kind.noun}, and "
            f"{kind.noun} names are unique {kind.names_unique}, so the new {kind.noun} cannot "
            f"reuse {kind.name_property} {props.name!r}. Change {kind.name_property} as well, "
            "or remove it to let the handler generate a unique name."
        )
    return _start(kind, event, props, props.name or _generated_name(event), replaces=physical_id)


def _update_in_place(
    kind: Kind,
    event: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    deadline: int,
    wait: int,
    sweep: bool,
    rollback: bool = False,
    long_wait: bool = False,
) -> dict[str, Any]:
    """Keep the resource, move its tags and in-place members within ``deadline`` seconds; if
    ``wait``, wait for ACTIVE.

    ``sweep``: also delete the resource a failed replacement of this physical id made.
    ``rollback``: this Update rolls a failed one back.
    ``long_wait``: hand the wait for ACTIVE to a new WaitCondition (``long_wait``).
    """
    physical_id = event["PhysicalResourceId"]
    old = event.get("OldResourceProperties") or {}
    applied = _apply_tags(kind, physical_id, properties.declared_tags(old), tags)
    updated = _apply_update(kind, event)
    state = HandlerState.begin(
        "update",
        deadline,
        tags=dict(tags),
        tags_applied=applied,
        updated=updated,
        wait=wait,
        rollback=rollback,
        long_wait=long_wait,
    )
    if not (applied and updated) or kind.converge is not None:
        # The waiter finishes later, unless CloudFormation has moved on by then (the rollback
        # of a cancelled update restores the resource itself): this is the baseline it compares
        # with.
        _, state.stack_status = _awaited(event, state)
    if sweep:
        state.sweep = _leftover_of(kind, event, old)
    return {"PhysicalResourceId": physical_id, "HandlerState": state.dump()}


def _rolling_back(event: Mapping[str, Any]) -> bool:
    """Whether the stack is rolling an update back (so this Update returns to a held resource)."""
    try:
        stack = _patiently(aws.stack_status, event["StackId"], what="DescribeStacks")
    except _Transient:
        return False
    return stack is not None and stack[0].startswith("UPDATE_ROLLBACK")


def _on_delete(kind: Kind, event: Mapping[str, Any]) -> dict[str, Any]:
    physical_id = event["PhysicalResourceId"]
    state = HandlerState.begin("delete", limits.DELETE_TIMEOUT_SECONDS)
    result: dict[str, Any] = {"PhysicalResourceId": physical_id}
    if physical_id == identity.CREATE_FAILED_MARKER:
        # on_event failed before any create could have happened (the framework answers this
        # Delete itself; the handler is as safe without it).
        return result
    if kind.operations.delete is None:
        # Nothing to wait for: a create this Delete ends (pending, cancelled) starts nothing
        # once CloudFormation no longer awaits it.
        if kind.is_arn(physical_id):
            _left_in_place(kind, physical_id, "its stack resource was deleted")
        return result
    if kind.is_arn(physical_id) or identity.pending_name(physical_id):
        _delete_step(kind, event)
    else:
        # The id CloudFormation makes up for a create it cancelled: that create's resource, if
        # it made one, is found by its ownership tag (its waiter removes it too).
        state.sweep = _cancelled_create_of(kind, event)
        _sweep_step(kind, event, state.sweep)
    return {**result, "HandlerState": state.dump()}


# ------------------------------------------------------------------------------------ create


def _start(
    kind: Kind,
    event: Mapping[str, Any],
    props: Properties,
    name: str,
    *,
    replaces: str | None = None,
    held_name: str | None = None,
    held_request: str = "",
) -> dict[str, Any]:
    """Create the resource (or adopt the one this request made); a pending id when that must
    wait.

    The stack's status now is the baseline against which the waiter tells whether CloudFormation
    still awaits this request. When CloudFormation cannot tell now, the create is left to the
    waiter.
    """
    hands_over, wait = _hands_over(event, props), props.wait
    if props.wait_condition_handle and not hands_over:
        # A replacement whose WaitCondition stays (its handle unchanged, having had its answer)
        # waits here, for as long as one request may.
        wait = props.request_timeout_seconds
    state = HandlerState.begin(
        "start",
        props.request_timeout_seconds,
        wait=wait,
        long_wait=hands_over,
        name=name,
        replacing=replaces is not None,
        replaces=replaces,
        held_name=held_name,
        held_request=held_request,
    )
    try:
        request: dict[str, Any] | None = _create_request(kind, event, state, props)
    except _CALL_ERRORS as error:
        if not is_transient(error):
            raise
        logger.info("Reading what the request needs must wait: %s", error_code(error))
        request = None  # the waiter builds it again
    awaited, state.stack_status = _awaited(event, state)
    if awaited is False:
        raise HandlerError(
            "CloudFormation no longer awaits this request (it was answered or cancelled): "
            "nothing was started."
        )
    arn = (
        _create_or_adopt(kind, event, state, request, final=False)
        if awaited and request is not None
        else None
    )
    result: dict[str, Any] = {
        "PhysicalResourceId": arn or identity.pending_id(name, event["RequestId"]),
        "HandlerState": state.dump(),
    }
    if arn:
        result["Data"] = kind.attributes(arn, name)
    return result


def _create_request(
    kind: Kind, event: Mapping[str, Any], state: HandlerState, props: Properties
) -> dict[str, Any]:
    stack_id, logical_id = event["StackId"], event["LogicalResourceId"]
    configuration = properties.configuration_digest(kind, event["ResourceProperties"], stack_id)
    owner = identity.owner_tag(
        stack_id, logical_id, configuration, request_id=event["RequestId"], replaces=state.replaces
    )
    request = props.create_request(
        name=state.name, tags={**props.tags, **owner} if kind.tagged else {}
    )
    if kind.resolve is not None:
        request, sensitive = kind.resolve(aws, event["ResourceProperties"], request)
        remember_sensitive(sensitive)
    properties.check_request(request, aws.input_shape(kind.service, kind.operations.create))
    return request


def _create_or_adopt(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    request: Mapping[str, Any],
    *,
    final: bool,
) -> str | None:
    """Create the resource, or find the one this request made; None: try again later.

    A refusal that proves nothing was made is raised at once. One after which a resource may
    exist (the name is taken but the resource cannot be found, or not looked up) is raised only
    when ``final``: ``on_event`` leaves it to the waiter, so that the pending id names the
    resource if there is one.
    """
    name = request[kind.name_member]
    try:
        response = aws.call(kind.service, kind.operations.create, **request)
    except _CALL_ERRORS as error:
        failure = classify(error)
        if failure is Failure.CONFLICT:
            return _settle_conflict(kind, event, state, name, error, final=final)
        if failure is Failure.TRANSIENT:
            logger.info("Creating %s %r must wait: %s", kind.noun, name, error_code(error))
            return None
        raise HandlerError(
            failed(kind.operations.create, error, f"{kind.noun} {name!r}")
        ) from error
    arn = kind.arn_of({**request, **aws.unwrapped(kind, response)})
    logger.info("%s %s %r: %s", kind.made.capitalize(), kind.noun, name, arn)
    return arn


def _settle_conflict(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    name: str,
    conflict: Exception,
    *,
    final: bool,
) -> str | None:
    """After ConflictException from the create: the resource this request made, by its name.

    The name may be held by a resource an earlier attempt of this request made (its answer
    lost): adopt it. One someone else holds is a clear error. None at all means the conflict is
    of another kind: after a short patience for the listing, fail with the service's own message.
    """
    try:
        for delay in (*PATIENCE_SECONDS, None):
            found = _find_own(kind, event, state, name, narrow=False)
            if found is not None:
                return kind.arn_of(found)
            if delay is None or not final:
                break
            _sleep_within_budget(delay)
    except HandlerError:
        if final:
            raise
        return None
    except (_NameFreeingUp, *_CALL_ERRORS):
        return None  # transient, or the name is freeing up: tried again on the next poll
    if not final:
        return None
    raise HandlerError(failed(kind.operations.create, conflict, f"{kind.noun} {name!r}"))


def _find_own(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    name: str,
    *,
    narrow: bool = True,
) -> dict[str, Any] | None:
    """The resource named ``name`` if this request made it (or CloudFormation holds it by name).

    None when there is none; ``_NameFreeingUp`` when the one holding it is being deleted. A
    transient failure of the lookup is raised as the botocore error (try again later); any other
    is a HandlerError naming the operation. One someone else made is a clear error. With
    ``narrow``, the kind's ``list_filter`` narrows the listing (fewer pages per poll).
    """
    raw = event["ResourceProperties"]
    filters = {**kind.list_scope(raw), **(kind.list_filter(raw) if narrow else {})}
    operation = kind.operations.list
    try:
        arn = aws.find_arn(kind, name, filters)
        operation = kind.read_operation
        found = aws.get(kind, arn) if arn else None
    except _CALL_ERRORS as error:
        if is_transient(error):
            logger.warning("Looking up %s %r must wait: %s", kind.noun, name, error_code(error))
            raise
        raise HandlerError(failed(operation, error, f"looking up {kind.noun} {name!r}")) from error
    if found is None:
        return None
    if found.get("status") in kind.deleting:
        raise _NameFreeingUp(name)
    if _made_by_request(kind, event, state, name, found):
        logger.info("%s %r exists (an earlier attempt made it): %s", kind.title, name, arn)
        return found
    raise HandlerError(
        f"{kind.name_property}: {kind.a_noun} named {name!r} already exists "
        f"{kind.names_unique.replace('per ', 'in this ')} ({arn}) and this request did not make "
        f"it with these properties. {kind.title} names are unique {kind.names_unique}: set "
        f"another {kind.name_property}, or remove {kind.name_property} to let the handler "
        "generate a unique one."
    )


def _made_by_request(
    kind: Kind, event: Mapping[str, Any], state: HandlerState, name: str, found: Mapping[str, Any]
) -> bool:
    """Whether this request (or the create owed by the pending id it holds) made ``found``.

    A tagged kind's ownership tag says so. An untagged kind's resource (an export) must have the
    request's members and either the name this request generates, the name of the pending id
    CloudFormation holds, or (a name pinned in the template) a create time after CloudFormation
    sent this request: a resource of that name made earlier is someone else's.
    """
    raw = event["ResourceProperties"]
    if not kind.tagged:
        return _describes(kind, raw, found) and (
            name in (_generated_name(event), state.held_name) or _made_during_request(event, found)
        )
    owner = identity.ownership(found.get("tags") or {})
    return (
        owner.names(event["StackId"], event["LogicalResourceId"])
        and owner.configuration == properties.configuration_digest(kind, raw, event["StackId"])
        and (
            owner.request == identity.request_digest(event["RequestId"])
            or (name == state.held_name and owner.request == (state.held_request or owner.request))
        )
    )


def _describes(kind: Kind, raw: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """Whether ``found`` has the create request's members that ``raw`` gives (name and tags
    aside), as the service reports them back."""
    request = _parse(kind, raw).request
    members = set(_create_shape(kind).members) - {kind.name_member, "tags"}
    return all(found.get(member) == request.get(member) for member in members)


CLOCK_TOLERANCE = timedelta(seconds=2)
"""How much earlier than CloudFormation's record of a request a resource it made may seem made
(CloudFormation's and the service's clocks and roundings differ): an export of a pinned name made
less than this before the request, with the request's members, is taken for the request's."""


def _made_during_request(event: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """Whether ``found`` was made after CloudFormation sent this request: the stack resource
    went to ``<REQUEST>_IN_PROGRESS`` then, and a redelivery does not move it. A failed read
    of the stack resource is raised (the caller tries again)."""
    created = found.get("createTime")
    resource = aws.stack_resource(event["StackId"], event["LogicalResourceId"])
    if resource is None or not isinstance(created, datetime):
        return False
    began = resource.get("LastUpdatedTimestamp")
    in_progress = f"{str(event['RequestType']).upper()}_IN_PROGRESS"
    return (
        resource.get("ResourceStatus") == in_progress
        and isinstance(began, datetime)
        and created >= began - CLOCK_TOLERANCE
    )


def _await_start(kind: Kind, event: Mapping[str, Any], state: HandlerState) -> dict[str, Any]:
    props = properties.parse(kind, event["ResourceProperties"], _create_shape(kind))
    name = state.name
    physical_id = event["PhysicalResourceId"]
    found: dict[str, Any] | None = None
    arn = physical_id if kind.is_arn(physical_id) else None
    if arn is None:
        # The framework passes every poll the same event, so a resource an earlier poll made is
        # found by its name first (List, Get) rather than by another create.
        try:
            found = _find_own(kind, event, state, name)
        except (_NameFreeingUp, *_CALL_ERRORS):
            return _not_yet(kind, event, state, _quota_message(kind, name, props))
        arn = kind.arn_of(found) if found else None
    awaited, _ = _awaited(event, state)
    if awaited is False:
        return _abandon(kind, event, state, arn)
    if arn is None:
        # No create past the deadline, and none while it is unknown whether the request is
        # awaited.
        _check_deadline(kind, event, state, _quota_message(kind, name, props))
        if awaited is None:
            return {"IsComplete": False}
        try:
            request = _create_request(kind, event, state, props)
        except _CALL_ERRORS as error:
            if not is_transient(error):
                raise
            return _not_yet(kind, event, state, _quota_message(kind, name, props))
        arn = _create_or_adopt(kind, event, state, request, final=True)
        if arn is None:
            return _not_yet(kind, event, state, _quota_message(kind, name, props))
        if _awaited(event, state)[0] is False:  # cancelled while it was being made
            return _abandon(kind, event, state, arn)
    return _await_active(kind, event, state, arn, name, found)


def _await_active(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    arn: str,
    name: str,
    found: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Complete once the resource is ACTIVE (and the kind's ``converge`` is done); fail if it
    failed. The state's ``wait`` is the WaitTimeoutSeconds to wait for ACTIVE, 0 without
    WaitForCompletion or for a kind that does not wait (then complete once it exists)."""
    if state.wait:
        found = found or _poll(kind, event, state, arn)
        if found is None:
            return {"IsComplete": False}
        status = found.get("status")
        if status in kind.creating:
            return _not_yet(kind, event, state, _still_creating(kind, event, state, arn, status))
        if status != "ACTIVE":
            _fail(
                kind,
                event,
                state,
                f"{kind.title} {arn} ended {status}: {_status_details(found)}",
                arn=arn,
            )
        logger.info("%s %s is ACTIVE", kind.title, arn)
    try:
        converged = _converge(kind, event, state, arn)
    except HandlerError as error:
        _fail(kind, event, state, str(error), arn=arn)  # a failed replacement is removed
    if not converged:
        return _not_yet(
            kind, event, state, f"{kind.title} {arn} could not be finished: throttled.", arn=arn
        )
    if state.long_wait and not _long_wait_started(kind, event, state, arn, name):
        return _not_yet(
            kind,
            event,
            state,
            f"The wait for {kind.noun} {arn} to end could not be started: throttled.",
            arn=arn,
        )
    if kind.data is not None and found is None:  # its Data is read from it
        found = _poll(kind, event, state, arn)
        if found is None:
            return {"IsComplete": False}
    return _completed(kind, arn, name, found)


def _still_creating(
    kind: Kind, event: Mapping[str, Any], state: HandlerState, arn: str, status: Any
) -> str:
    """Why the wait for ACTIVE failed, and what to do about it."""
    if (event.get("ResourceProperties") or {}).get("WaitConditionHandle"):
        # A replacement whose WaitCondition stayed: the change was in a value it refers to.
        return (
            f"{kind.title} {arn} is still {status} after {state.wait} seconds. This replacement "
            "kept its WaitCondition (what changed is a value the template refers to, which "
            "synth cannot see), so it waited within the custom resource, as long as one request "
            "may. Change one of its own properties too (its description), which gives it a new "
            "WaitCondition, or set wait_for_completion=False."
        )
    return (
        f"{kind.title} {arn} is still {status} after WaitTimeoutSeconds={state.wait}. "
        "Raise wait_timeout, or set wait_for_completion=False to not wait for ACTIVE."
    )


def _hands_over(event: Mapping[str, Any], props: Properties) -> bool:
    """Whether this request hands the wait for ACTIVE to a WaitCondition (a long wait).

    Only to a new one: a create's, or an update's whose WaitConditionHandle changed (the
    construct makes a new WaitCondition whenever the resource may be replaced). A rollback
    returns to a WaitCondition that has had its answer.
    """
    if not props.wait_condition_handle:
        return False
    old = event.get("OldResourceProperties") or {}
    return event["RequestType"] == "Create" or (
        old.get("WaitConditionHandle") != props.wait_condition_handle
    )


def _long_wait_started(
    kind: Kind, event: Mapping[str, Any], state: HandlerState, arn: str, name: str
) -> bool:
    """Start the long wait for ``arn`` (once: a second start of the same one is a no-op); False
    when that must be tried again on the next poll. Its WaitCondition then waits for ACTIVE."""
    props = properties.parse(kind, event["ResourceProperties"], _create_shape(kind))
    if _awaited(event, state)[0] is False:
        return True  # no one waits for it: the WaitCondition is gone, or will be
    try:
        long_wait.start(kind, event, arn, name, props)
    except _CALL_ERRORS as error:
        if is_transient(error):
            logger.info("Starting the long wait must wait: %s", error_code(error))
            return False
        raise HandlerError(
            failed("StartExecution", error, f"the long wait for {kind.noun} {arn}")
        ) from error
    return True


def _converge(kind: Kind, event: Mapping[str, Any], state: HandlerState, arn: str) -> bool:
    """Run the kind's ``converge`` hook (if any) for this request: True once it is done."""
    if kind.converge is None:
        return True
    in_place = state.action == "update"
    old = (event.get("OldResourceProperties") or {}) if in_place else None
    if in_place and _awaited(event, state)[0] is False:
        # A cancelled update: its rollback restores what this one would change; changing it
        # now could undo the rollback's work.
        raise HandlerError(
            f"CloudFormation no longer awaits this update of {kind.noun} {arn} (it was "
            "cancelled): it is left as the rollback sets it."
        )
    try:
        return kind.converge(aws, arn, old, event["ResourceProperties"], rollback=state.rollback)
    except _CALL_ERRORS as error:
        if is_transient(error):
            logger.info("Finishing %s %s must wait: %s", kind.noun, arn, error_code(error))
            return False
        operation = getattr(error, "operation_name", None) or "Finishing"
        raise HandlerError(failed(operation, error, f"{kind.noun} {arn}")) from error


def _quota_message(kind: Kind, name: str, props: Properties) -> str:
    within = f"WaitTimeoutSeconds={props.wait_timeout_seconds}"
    if props.request_timeout_seconds < props.wait_timeout_seconds:
        within = f"{props.request_timeout_seconds} seconds (as long as one request may take)"
    return (
        f"{kind.title} {name!r} could not be {kind.made} within {within}: the account's quota of "
        f"{kind.noun}s in progress stayed full, the service kept throttling, or the {kind.noun} "
        f"could not be looked up. Retry the deployment when {kind.noun}s have finished."
    )


# ------------------------------------------------------- whether CloudFormation still waits


def _awaited(event: Mapping[str, Any], state: HandlerState) -> tuple[bool | None, list[str] | None]:
    """Whether CloudFormation still awaits this request (None: cannot tell now), and the stack's
    status and operation (as ``aws.stack_status`` gives them).

    It does while this stack resource is CREATE_ or UPDATE_IN_PROGRESS (as the request's type)
    and the stack is still in the in-progress status and the operation it was in when the request
    arrived (``on_event`` records them in the state): a cancelled create, a rollback or a later
    deployment changes one of them.
    """
    stack_id, logical_id = event["StackId"], event["LogicalResourceId"]
    try:
        resource = aws.stack_resource(stack_id, logical_id)
        stack = aws.stack_status(stack_id) if resource else None
    except _CALL_ERRORS as error:
        if is_transient(error):
            logger.info("CloudFormation cannot tell now: %s", error_code(error))
            return None, None
        raise HandlerError(
            failed("DescribeStackResource", error, "asking CloudFormation about this request")
        ) from error
    if resource is None or stack is None:
        return False, None
    now = list(stack)
    baseline = state.stack_status or now
    in_progress = f"{str(event['RequestType']).upper()}_IN_PROGRESS"
    awaited = (
        resource.get("ResourceStatus") == in_progress
        and now == list(baseline)
        and now[0].endswith("_IN_PROGRESS")
    )
    return awaited, now


def _abandon(
    kind: Kind, event: Mapping[str, Any], state: HandlerState, arn: str | None
) -> dict[str, Any]:
    """End a waiter that CloudFormation no longer awaits, removing the resource it made.

    The resource stays if CloudFormation holds it (a redelivery's other waiter answered with it):
    the answer is then that resource. Until it is being deleted the waiter keeps polling; its
    answer goes to a closed request.
    """
    if arn is None:
        raise HandlerError(
            "CloudFormation no longer awaits this request (it was answered or cancelled): "
            "nothing was started."
        )
    name = state.name
    try:
        resource = aws.stack_resource(event["StackId"], event["LogicalResourceId"])
    except _CALL_ERRORS as error:
        logger.info("Whether CloudFormation holds %s: %s", arn, error_code(error))
        return _keep_removing(kind, state, arn, None)
    status = str((resource or {}).get("ResourceStatus", "DELETE_COMPLETE"))
    holder = (resource or {}).get("PhysicalResourceId")
    if (
        identity.names(holder, arn, name)
        and not status.endswith("_FAILED")
        and not status.startswith("DELETE_")
    ):
        logger.info(
            "%s %s is held by the stack (%s): another delivery answered", kind.title, arn, status
        )
        return _completed(kind, arn, name)
    if kind.operations.delete is None:
        raise HandlerError(
            "CloudFormation no longer awaits this request (it was answered or cancelled): "
            f"{_left_in_place(kind, arn, 'its create was cancelled')}"
        )
    done, found = _delete_arn_step(kind, event, arn, owned=True)
    if done or (found is not None and found.get("status") in kind.deleting):
        raise HandlerError(
            f"CloudFormation no longer awaits this request (it was answered or cancelled): "
            f"{kind.noun} {arn}, which it had started, is being deleted."
        )
    return _keep_removing(kind, state, arn, found)


def _left_in_place(kind: Kind, arn: str, why: str) -> str:
    """Say (and log) that ``arn`` of a kind the API cannot delete stays, with what it reports
    (an export's output location, where its files stay), read on a best-effort basis."""
    found = None
    try:
        found = aws.get(kind, arn)
    except _CALL_ERRORS as error:
        logger.info("Reading %s %s failed: %s", kind.noun, arn, error_code(error))
    data = kind.data(found) if kind.data is not None and found is not None else {}
    details = ", ".join(f"{key} {value}" for key, value in data.items() if value)
    message = (
        f"{kind.title} {arn} is left in place, with what it made"
        f"{f' ({details})' if details else ''}: the API cannot delete it ({why})."
    )
    logger.warning("%s", message)
    return message


def _keep_removing(
    kind: Kind, state: HandlerState, arn: str, found: Mapping[str, Any] | None
) -> dict[str, Any]:
    if time.time() >= state.removal_deadline:
        raise HandlerError(
            f"CloudFormation no longer awaits this request, and {kind.noun} {arn}, which it had "
            f"started, could not be deleted; its last state: {_describe(found)}. Delete it by "
            "hand."
        )
    return {"IsComplete": False}


# ------------------------------------------------------------------------- update in place


def _await_update(kind: Kind, event: Mapping[str, Any], state: HandlerState) -> dict[str, Any]:
    arn = str(event["PhysicalResourceId"])
    if not (state.tags_applied and state.updated):
        awaited, _ = _awaited(event, state)
        if awaited is False:
            raise HandlerError(
                f"CloudFormation no longer awaits this update of {kind.noun} {arn} (it was "
                "cancelled): it is left as the rollback sets it."
            )
        old = event.get("OldResourceProperties") or {}
        tags = state.tags
        if (
            not awaited
            or not _apply_tags(kind, arn, properties.declared_tags(old), tags)
            or not _apply_update(kind, event)
        ):
            return _not_yet(
                kind, event, state, f"{kind.title} {arn} could not be updated: throttled."
            )
    found = _poll(kind, event, state, arn)
    if found is None:
        return {"IsComplete": False}
    if (
        state.sweep
        and not _sweep_step(kind, event, state.sweep)
        and time.time() < state.removal_deadline
    ):
        return {"IsComplete": False}
    # WaitForCompletion may have been turned on by this update: ACTIVE is awaited then too.
    return _await_active(kind, event, state, arn, str(found.get("name", "")), found)


def _apply_update(kind: Kind, event: Mapping[str, Any]) -> bool:
    """Send the kind's update operation when an in-place member changed; False: throttled."""
    old, new = event.get("OldResourceProperties") or {}, event["ResourceProperties"]
    changed = set(properties.in_place_changes(kind, old, new)) - kind.extra_properties
    if kind.operations.update is None or not changed:
        return True
    arn = str(event["PhysicalResourceId"])
    props = properties.parse(kind, new, _create_shape(kind))
    shape = aws.input_shape(kind.service, kind.operations.update)
    request: dict[str, Any] = kind.identifiers(arn)
    request.update({key: value for key, value in props.request.items() if key in shape.members})
    if kind.update_name_member and props.name:
        request[kind.update_name_member] = props.name
    for key in changed & kind.cleared.keys() - new.keys():
        request[key[:1].lower() + key[1:]] = kind.cleared[key]
    try:
        aws.call(kind.service, kind.operations.update, **request)
    except _CALL_ERRORS as error:
        if is_transient(error):
            return False
        raise HandlerError(failed(kind.operations.update, error, f"{kind.noun} {arn}")) from error
    logger.info("Updated %s %s in place: %s", kind.noun, arn, sorted(changed))
    return True


# ------------------------------------------------------------------------------------ delete


def _await_delete(kind: Kind, event: Mapping[str, Any], state: HandlerState) -> dict[str, Any]:
    past_deadline = time.time() >= state.deadline
    if state.sweep:
        if _sweep_step(kind, event, state.sweep, send_delete=not past_deadline):
            return {"IsComplete": True}
        if past_deadline:
            raise HandlerError(
                f"The {kind.noun}s a cancelled create of this resource started were not deleted "
                "before the wait timed out; see the handler's log for their ARNs."
            )
        return {"IsComplete": False}
    # Past the deadline no new Delete is sent; one in flight may settle (into DELETE_FAILED and
    # its reason, say) for a short grace, so the failure reports how the last attempt ended.
    done, found = _delete_step(kind, event, send_delete=not past_deadline)
    if done:
        return {"IsComplete": True}
    settling = found is not None and found.get("status") in kind.deleting
    if past_deadline and not (
        settling and time.time() < state.deadline + limits.SETTLE_GRACE_SECONDS
    ):
        raise HandlerError(
            f"{kind.title} {event['PhysicalResourceId']} was not deleted before the wait timed "
            f"out; its last state: {_describe(found)}{_refusal(kind, found)}. Delete it by hand, "
            "then retry."
        )
    return {"IsComplete": False}


def _refusal(kind: Kind, found: Mapping[str, Any] | None) -> str:
    """Why the service refuses to delete it now, from one last Delete (as the reason's end).

    Refusals are retried until the deadline without their message; the failure must show it.
    """
    if found is None or found.get("status") in kind.deleting:
        return ""
    try:
        aws.delete(kind, kind.arn_of(found))
    except _CALL_ERRORS as error:
        return f"; {failed(kind.operations.delete or 'Delete', error)}"
    return f"; a last {kind.operations.delete} was accepted: it may yet go"


def _delete_step(
    kind: Kind, event: Mapping[str, Any], *, send_delete: bool = True
) -> tuple[bool, dict[str, Any] | None]:
    """One step toward the resource of the physical id being gone: (True once it is; it as read).

    By ARN: CloudFormation holds it, so it goes unless its ownership tag names another stack
    resource (then the delete fails, naming it). By pending id: only one this resource made, and
    not one the stack holds by ARN by now (an update from the pending id adopted it).
    """
    physical_id = event["PhysicalResourceId"]
    if kind.is_arn(physical_id):
        return _delete_arn_step(kind, event, physical_id, owned=False, send_delete=send_delete)
    name = identity.pending_name(physical_id) or ""
    request = identity.pending_request(physical_id)
    try:
        arn = aws.find_arn(kind, name, kind.list_scope(event.get("ResourceProperties") or {}))
        if arn is None:
            return True, None
        resource = aws.stack_resource(event["StackId"], event["LogicalResourceId"])
    except _CALL_ERRORS as error:
        return _delete_failure(kind, physical_id, error)
    if resource is not None and resource.get("PhysicalResourceId") == arn:
        logger.info("Not deleting %s: the stack holds it by its ARN now", arn)
        return True, None
    return _delete_arn_step(kind, event, arn, owned=True, request=request, send_delete=send_delete)


def _delete_arn_step(
    kind: Kind,
    event: Mapping[str, Any],
    arn: str,
    *,
    owned: bool,
    request: str = "",
    send_delete: bool = True,
) -> tuple[bool, dict[str, Any] | None]:
    """Send the kind's delete for ``arn`` unless it is going or gone.

    ``owned``: only if its ownership tag names this resource (and ``request``, if given, made
    it); else unless the tag names another resource.
    """
    found: dict[str, Any] | None = None
    try:
        found = aws.get(kind, arn)
        if found is None:
            return True, None
        owner = identity.ownership(found.get("tags") or {})
        started_by = owner.names(event["StackId"], event["LogicalResourceId"]) and (
            owner.request == (request or owner.request)
        )
        if not started_by:
            if owned:
                logger.warning("Not deleting %s: another resource or request made it", arn)
                return True, found
            if owner.owner:
                raise HandlerError(
                    f"{kind.title} {arn} carries the ownership tag of another stack resource "
                    f"({OWNER_TAG_KEY}); it is not deleted. Remove it from this "
                    "stack with RemovalPolicy.RETAIN, or delete it by hand, then retry."
                )
        if found.get("status") in kind.deleting or not send_delete:
            return False, found
        aws.delete(kind, arn)
        logger.info("Deleting %s %s (was %s)", kind.noun, arn, found.get("status"))
        if not kind.deleting:  # deleted at once: say so now rather than on the next poll
            return aws.get(kind, arn) is None, found
        return False, found
    except _CALL_ERRORS as error:
        if classify(error) is Failure.NOT_FOUND:
            return True, found
        return _delete_failure(kind, arn, error, found)


def _delete_failure(
    kind: Kind, what: str, error: Exception, found: dict[str, Any] | None = None
) -> tuple[bool, dict[str, Any] | None]:
    if classify(error) in (Failure.CONFLICT, Failure.TRANSIENT):
        logger.info("Delete must wait: %s", error_code(error))
        return False, found
    raise HandlerError(failed("Deleting", error, f"{kind.noun} {what}")) from error


def _describe(found: Mapping[str, Any] | None) -> str:
    if found is None:
        return "unknown (the service did not answer)"
    details = found.get("statusDetails") or {}
    return " ".join(
        str(part)
        for part in (found.get("status"), details.get("statusCode"), details.get("message"))
        if part
    )


# ------------------------------------------------------------------------------------ sweeps


def _leftover_of(kind: Kind, event: Mapping[str, Any], failed_props: Mapping[str, Any]) -> Sweep:
    """How to recognise the resource a failed replacement of this physical id made."""
    return Sweep(
        config=properties.configuration_digest(kind, failed_props, event["StackId"]),
        name=failed_props.get(kind.name_property),
        prefix=identity.generated_name_prefix(event["StackId"], event["LogicalResourceId"]),
        replaces=identity.replaced_digest(event["PhysicalResourceId"]),
        scope=kind.list_scope(failed_props),
    )


def _cancelled_create_of(kind: Kind, event: Mapping[str, Any]) -> Sweep:
    """How to recognise the resource a cancelled create of this resource made.

    Made by a Create (nothing replaced) from these properties, within the framework's wait: one
    kept from an earlier life of this logical id (RemovalPolicy.RETAIN) is older. One this Delete
    claimed on an earlier attempt (its claim tag) is its own at any age: the retry of a Delete
    that failed, an hour later, still finds it.
    """
    props = event.get("ResourceProperties") or {}
    since = time.time() - limits.DELETE_TIMEOUT_SECONDS - limits.SETTLE_GRACE_SECONDS
    return Sweep(
        config=properties.configuration_digest(kind, props, event["StackId"]),
        name=props.get(kind.name_property),
        prefix=identity.generated_name_prefix(event["StackId"], event["LogicalResourceId"]),
        replaces="",
        since=max(since, _operation_began(event["StackId"]) or since),
        claim=identity.claim(event["PhysicalResourceId"]),
        scope=kind.list_scope(props),
    )


def _operation_began(stack_id: str) -> float | None:
    """When the stack's current operation began (the cancelled create was part of it), less the
    clock tolerance; None when CloudFormation cannot say now. A resource this stack resource made
    in an earlier operation (one RemovalPolicy.RETAIN kept, less than an hour ago) is older."""
    try:
        stack = _patiently(aws.stack_status, stack_id, what="DescribeStacks")
    except HandlerError:
        return None
    if not stack or not stack[1]:
        return None
    try:
        began = datetime.fromisoformat(stack[1])
    except ValueError:
        return None
    return (began - CLOCK_TOLERANCE).timestamp()


def _sweep_step(
    kind: Kind, event: Mapping[str, Any], sweep: Sweep, *, send_delete: bool = True
) -> bool:
    """Delete what ``sweep`` describes; True once nothing of it is left but going resources.

    Best effort in a rollback: that must not fail over it, so at the deadline the caller moves on
    and the resource's ARN stays in the log. Nothing of a kind the API cannot delete.
    """
    if kind.operations.delete is None:
        return True
    current = event["PhysicalResourceId"]

    def candidate(name: str) -> bool:
        return name == sweep.name or name.startswith(sweep.prefix)

    done = True
    try:
        for arn in aws.find_arns(kind, candidate, sweep.scope):
            found = None if arn == current else aws.get(kind, arn)
            if (
                found is None
                or found.get("status") in kind.deleting
                or not _left_by(event, found, sweep)
            ):
                continue
            done = False
            if send_delete:
                _claim(kind, found, sweep)
                _send_sweep_delete(kind, arn)
    except _CALL_ERRORS as error:
        logger.warning("Looking for %ss to sweep failed: %s", kind.noun, error_code(error))
        return False
    return done


def _left_by(event: Mapping[str, Any], found: Mapping[str, Any], sweep: Sweep) -> bool:
    tags = found.get("tags") or {}
    owner = identity.ownership(tags)
    created = found.get("createTime")
    claimed = bool(sweep.claim) and tags.get(identity.CLAIM_TAG_KEY) == sweep.claim
    return (
        owner.names(event["StackId"], event["LogicalResourceId"])
        and bool(owner.request)
        and owner.configuration == sweep.config
        and owner.replaces == sweep.replaces
        and (
            claimed
            or sweep.since is None
            or created is None
            or created.timestamp() >= float(sweep.since)
        )
    )


def _claim(kind: Kind, found: Mapping[str, Any], sweep: Sweep) -> None:
    """Tag it as the sweep's own, once (best effort: one with 50 tags cannot take it)."""
    if not sweep.claim or (found.get("tags") or {}).get(identity.CLAIM_TAG_KEY) == sweep.claim:
        return
    arn = kind.arn_of(found)
    try:
        aws.call(
            kind.service, "TagResource", resourceArn=arn, tags={identity.CLAIM_TAG_KEY: sweep.claim}
        )
    except _CALL_ERRORS as error:
        logger.warning("Claiming %s %s failed: %s", kind.noun, arn, error_code(error))


def _send_sweep_delete(kind: Kind, arn: str) -> None:
    try:
        aws.delete(kind, arn)
        logger.info("Removing %s %s, which no stack resource holds", kind.noun, arn)
    except ClientError as error:
        logger.warning("%s %s must wait: %s", kind.title, arn, error_code(error))


# -------------------------------------------------------------------------------------- tags


def _apply_tags(
    kind: Kind, arn: str, declared: Mapping[str, str], desired: Mapping[str, str]
) -> bool:
    """Move the resource's tags from what the template declared to what it declares now."""
    to_set, to_remove = properties.tag_changes(declared, desired)
    try:
        if to_remove:
            aws.call(kind.service, "UntagResource", resourceArn=arn, tagKeys=to_remove)
        if to_set:
            aws.call(kind.service, "TagResource", resourceArn=arn, tags=to_set)
    except _CALL_ERRORS as error:
        if is_transient(error):
            return False
        raise HandlerError(failed("Tagging", error, f"{kind.noun} {arn}")) from error
    logger.info("Tags of %s: set %s, removed %s", arn, sorted(to_set), to_remove)
    return True


# ------------------------------------------------------------------------------------ shared


def _create_shape(kind: Kind) -> Any:
    return aws.input_shape(kind.service, kind.operations.create)


def _parse(kind: Kind, raw: Mapping[str, Any]) -> Properties:
    return properties.parse(kind, raw, _create_shape(kind))


def _generated_name(event: Mapping[str, Any]) -> str:
    return identity.generated_name(event["StackId"], event["LogicalResourceId"], event["RequestId"])


def _made_from(kind: Kind, event: Mapping[str, Any], arn: str, raw: Mapping[str, Any]) -> bool:
    """Whether the resource at ``arn`` was made by this resource from exactly these properties."""
    found = _patiently(aws.get, kind, arn, what=f"Reading {kind.noun} {arn}")
    if found is None:
        return False
    if not kind.tagged:  # CloudFormation holds it by this physical id: this resource made it
        return _describes(kind, raw, found)
    owner = identity.ownership(found.get("tags") or {})
    return owner.names(
        event["StackId"], event["LogicalResourceId"]
    ) and owner.configuration == properties.configuration_digest(kind, raw, event["StackId"])


def _poll(
    kind: Kind, event: Mapping[str, Any], state: HandlerState, arn: str
) -> dict[str, Any] | None:
    """The resource, or None when the service could not answer now (the framework polls again)."""
    try:
        found = aws.get(kind, arn)
    except _CALL_ERRORS as error:
        if not is_transient(error):
            raise HandlerError(failed(kind.read_operation, error, f"{kind.noun} {arn}")) from error
        _check_deadline(
            kind, event, state, f"{kind.title} {arn} could not be read before the wait timed out."
        )
        return None
    if found is None:
        _fail(
            kind,
            event,
            state,
            f"{kind.title} {arn} no longer exists: it was deleted outside CloudFormation.",
        )
    return found


def _not_yet(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    message: str,
    *,
    arn: str | None = None,
) -> dict[str, Any]:
    """Not complete: poll again, unless the deadline has passed (then fail with ``message``)."""
    _check_deadline(kind, event, state, message, arn=arn)
    return {"IsComplete": False}


def _fail(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    message: str,
    *,
    arn: str | None = None,
) -> NoReturn:
    if state.replacing and arn and kind.operations.delete is None:
        _left_in_place(kind, arn, "it failed to replace another")
    elif state.replacing and arn:
        # CloudFormation keeps the old resource after a failed replacement and sends no Delete
        # for this one. If it cannot go now (still being created, throttled), the rollback
        # Update sweeps it up (see ``_sweep_step``).
        try:
            aws.delete(kind, arn)
            logger.info("Removing the failed replacement %s %s", kind.noun, arn)
        except _CALL_ERRORS as error:
            logger.warning(
                "The failed replacement %s %s cannot be removed now (%s): the rollback will",
                kind.noun,
                arn,
                error_code(error),
            )
    raise HandlerError(message)


def _check_deadline(
    kind: Kind,
    event: Mapping[str, Any],
    state: HandlerState,
    message: str,
    *,
    arn: str | None = None,
) -> None:
    if time.time() >= state.deadline:
        _fail(kind, event, state, message, arn=arn)


def _completed(
    kind: Kind, arn: str, name: str, found: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    data = kind.attributes(arn, name)
    if kind.data is not None and found is not None:
        data.update(kind.data(found))
    return {"IsComplete": True, "PhysicalResourceId": arn, "Data": data}


def _status_details(found: Mapping[str, Any]) -> str:
    details = found.get("statusDetails") or {}
    return f"{details.get('statusCode', 'no status code')}: {details.get('message', 'no message')}"


class _Transient(HandlerError):
    """A read that kept failing transiently through ``_patiently``."""


class _NameFreeingUp(Exception):
    """The resource holding a name is being deleted: the name frees up soon."""


def _patiently(call: Any, *args: Any, what: str) -> Any:
    """``call(*args)``, retried while the service throttles (beyond botocore's own retries).

    A non-transient failure is a HandlerError naming ``what``; a transient one that outlasts the
    patience (or the invocation's budget) is ``_Transient``.
    """
    for delay in (*PATIENCE_SECONDS, None):
        try:
            return call(*args)
        except _CALL_ERRORS as error:
            if not is_transient(error):
                raise HandlerError(failed(what, error)) from error
            if delay is None or aws.budget_left() < delay:
                raise _Transient(failed(what, error)) from error
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _sleep_within_budget(seconds: float) -> None:
    if aws.budget_left() < seconds:
        raise InvocationBudgetExceeded()
    time.sleep(seconds)


def _reason(kind: Kind, error: Exception, event: Mapping[str, Any]) -> str:
    """The failure's message for CloudFormation, without any value the template marks sensitive."""
    shape = _create_shape(kind)
    secrets = [
        value
        for key in ("ResourceProperties", "OldResourceProperties")
        for value in properties.sensitive_values(kind, event.get(key) or {}, shape)
    ]
    return reason(str(error), secrets)


def _log_event(entry: str, event: Mapping[str, Any]) -> None:
    # Never the properties (SQL text and parameters) nor the presigned ResponseURL.
    logger.info(
        "%s %s %r physical id %r",
        entry,
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("PhysicalResourceId"),
    )
