"""Handler of ``Custom::CleanRoomsMLAudienceGenerationJob`` for the CDK Provider framework.

``on_event`` makes the first attempt at what CloudFormation asked for; ``is_complete``, polled by
the framework's waiter, then finishes the work: it starts a job whose Start had to wait (quota of
jobs in progress, throttling), waits for ACTIVE, re-applies tags, waits for a deletion to end. What
it needs to know travels in the ``HandlerState`` key that ``on_event`` returns and the framework
passes on, unchanged, to every poll.

Rules that keep every job accounted for:
- once a job exists, its ARN (or a pending id that names it) is the physical id CloudFormation gets;
- a Start that may or may not have happened is settled by the job's name, never by a second job;
  ``on_event`` never fails after such a Start: it reports the pending id and lets the waiter decide;
- no Start after the request's deadline, and none for a request CloudFormation no longer awaits
  (a cancelled create, a redelivered request already answered): such a waiter removes what it
  started, unless CloudFormation holds it;
- Delete touches only jobs whose ownership tag names this stack resource (by ARN: unless the tag
  names another one), and a sweep only the job that a failed replacement itself started.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import cleanrooms_ml
import job_identity
from botocore.exceptions import BotoCoreError, ClientError
from job_properties import (
    DEFAULT_WAIT_TIMEOUT_SECONDS,
    DELETE_TIMEOUT_SECONDS,
    OWNER_TAG_KEY,
    InvalidPropertyError,
    JobProperties,
    check_known_properties,
    check_request,
    configuration_digest,
    job_defining_changes,
    parse_properties,
    parse_tags,
    replaces_job,
    tag_changes,
)

logger = logging.getLogger()
logger.setLevel(logging.INFO)
# botocore logs request bodies (SQL, tags) at DEBUG: keep it above that whatever the root level.
logging.getLogger("botocore").setLevel(logging.WARNING)

MAX_REASON_LENGTH = 1000
"""Bytes of the reason once JSON-escaped: CloudFormation takes 4096 for the whole response, and the
framework adds its own lines, the ids and Data."""

SETTLE_GRACE_SECONDS = 30.0
"""After its deadline a Delete may settle this long; the framework's own limit is a minute off."""
PATIENCE_SECONDS = (1.0, 2.0, 4.0)
"""Waits between retries of a read ``on_event`` cannot decide without (botocore retries first)."""
MIN_SCRUBBED_LENGTH = 4
"""Sensitive values at least this long are masked wherever they stand in a reason; shorter ones
only as whole words (masking every "7" would mangle the ARNs a reason must name)."""

_CREATING = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})
_DELETING = frozenset({"DELETE_PENDING", "DELETE_IN_PROGRESS"})
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


class HandlerError(Exception):
    """A failure reported to CloudFormation, with a message a person can act on."""


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    _log_event("on_event", event)
    cleanrooms_ml.begin_invocation(context)
    handlers = {"Create": on_create, "Update": on_update, "Delete": on_delete}
    try:
        return handlers[event["RequestType"]](event)
    except (HandlerError, InvalidPropertyError) as error:
        raise HandlerError(_reason(error, event)) from error


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    cleanrooms_ml.begin_invocation(context)
    state = event.get("HandlerState") or {}
    steps = {"start": _await_start, "tags": _await_tags, "delete": _await_delete}
    try:
        step = steps.get(state.get("action", ""))
        return step(event, state) if step else {"IsComplete": True}
    except (HandlerError, InvalidPropertyError) as error:
        raise HandlerError(_reason(error, event)) from error


def on_create(event: Mapping[str, Any]) -> dict[str, Any]:
    props = _parse(event["ResourceProperties"])
    name = props.name or _generated_name(event)
    return _start(event, props, name)


def on_update(event: Mapping[str, Any]) -> dict[str, Any]:
    old, new = event.get("OldResourceProperties") or {}, event["ResourceProperties"]
    physical_id = event["PhysicalResourceId"]
    replacing = replaces_job(old, new)
    if job_identity.is_job_arn(physical_id) and _rolling_back(event):
        # A rollback returns to the job CloudFormation holds: in place whatever its tag says, and
        # with properties an earlier release may have accepted, of which only the tags are read.
        # A job the failed replacement itself started is swept up.
        return _update_in_place(
            event,
            _declared_tags(new),
            deadline=DEFAULT_WAIT_TIMEOUT_SECONDS,
            wait=0,
            sweep=replacing,
        )
    props = _parse(new)
    pending = job_identity.pending_name(physical_id)
    if pending is not None:
        # A Start still owed (a failed replacement left its pending id, e.g. under --no-rollback):
        # the same job if its name still applies, else a new one (the pending id is cleaned up).
        name = props.name or (pending if not replacing else _generated_name(event))
        held = {"held_name": pending, "held_request": job_identity.pending_request(physical_id)}
        return _start(event, props, name, replaces=physical_id, **held)
    if job_identity.is_job_arn(physical_id) and (
        not replacing or _started_from(event, physical_id, new)
    ):
        # Tags and handler settings change in place. So does a return to the properties the job
        # was started from, whose job is already what is wanted.
        wait = props.wait_timeout_seconds if props.wait_for_completion else 0
        return _update_in_place(
            event, props.tags, deadline=props.wait_timeout_seconds, wait=wait, sweep=replacing
        )
    if props.name is not None and props.name == old.get("Name"):
        changed = ", ".join(job_defining_changes(old, new))
        raise HandlerError(
            f"Name: changing {changed} needs a new job, and job names are unique per "
            f"account, so the new job cannot reuse Name {props.name!r}. Change Name as well, or "
            "remove it to let the handler generate a unique name."
        )
    return _start(event, props, props.name or _generated_name(event), replaces=physical_id)


def _update_in_place(
    event: Mapping[str, Any], tags: Mapping[str, str], *, deadline: int, wait: int, sweep: bool
) -> dict[str, Any]:
    """Keep the job and move its tags within ``deadline`` seconds; if ``wait``, wait for ACTIVE.

    ``sweep``: also delete the job a failed replacement of this physical id started.
    """
    physical_id = event["PhysicalResourceId"]
    old = event.get("OldResourceProperties") or {}
    applied = _apply_tags(physical_id, _declared_tags(old), tags)
    state = _state("tags", deadline, tags=dict(tags), tags_applied=applied, wait=wait)
    if not applied:
        # The waiter tags later, unless CloudFormation has moved on by then (the rollback of a
        # cancelled update restores the tags itself): this is the baseline it compares with.
        _, state["stack_status"] = _awaited(event, state)
    if sweep:
        state["sweep"] = _leftover_of(event, old)
    return {"PhysicalResourceId": physical_id, "HandlerState": state}


def _rolling_back(event: Mapping[str, Any]) -> bool:
    """Whether the stack is rolling an update back (so this Update returns to a held job)."""
    try:
        stack = _patiently(cleanrooms_ml.stack_status, event["StackId"], what="DescribeStacks")
    except _Transient:
        return False
    return stack is not None and stack[0].startswith("UPDATE_ROLLBACK")


def on_delete(event: Mapping[str, Any]) -> dict[str, Any]:
    physical_id = event["PhysicalResourceId"]
    state = _state("delete", DELETE_TIMEOUT_SECONDS)
    result: dict[str, Any] = {"PhysicalResourceId": physical_id}
    if physical_id == job_identity.CREATE_FAILED_MARKER:
        # on_event failed before any Start could have happened (the framework answers this
        # Delete itself; the handler is as safe without it).
        return result
    if job_identity.is_job_arn(physical_id) or job_identity.pending_name(physical_id):
        _delete_step(event)
    else:
        # The id CloudFormation makes up for a create it cancelled: that create's job, if it
        # started one, is found by its ownership tag (its waiter removes it too).
        state["sweep"] = _cancelled_create_of(event)
        _sweep_step(event, state["sweep"])
    return {**result, "HandlerState": state}


# ------------------------------------------------------------------------------------- start


def _start(
    event: Mapping[str, Any],
    props: JobProperties,
    name: str,
    *,
    replaces: str | None = None,
    held_name: str | None = None,
    held_request: str = "",
) -> dict[str, Any]:
    """Start the job (or adopt the one this request started); a pending id when that must wait.

    The stack's status now is the baseline against which the waiter tells whether CloudFormation
    still awaits this request. When CloudFormation cannot tell now, the Start is left to the waiter.
    """
    state = _state(
        "start",
        props.wait_timeout_seconds,
        wait=props.wait_timeout_seconds if props.wait_for_completion else 0,
        name=name,
        replacing=replaces is not None,
        replaces=replaces,
        held_name=held_name,
        held_request=held_request,
    )
    request = _start_request(event, state, props)
    awaited, state["stack_status"] = _awaited(event, state)
    if awaited is False:
        raise HandlerError(
            "CloudFormation no longer awaits this request (it was answered or cancelled): "
            "nothing was started."
        )
    arn = _start_or_adopt(event, state, request, final=False) if awaited else None
    result: dict[str, Any] = {
        "PhysicalResourceId": arn or job_identity.pending_id(name, event["RequestId"]),
        "HandlerState": state,
    }
    if arn:
        result["Data"] = {"AudienceGenerationJobArn": arn, "Name": name}
    return result


def _start_request(
    event: Mapping[str, Any], state: Mapping[str, Any], props: JobProperties
) -> dict[str, Any]:
    stack_id, logical_id = event["StackId"], event["LogicalResourceId"]
    configuration = configuration_digest(event["ResourceProperties"], stack_id)
    owner = job_identity.owner_tag(
        stack_id,
        logical_id,
        configuration,
        request_id=event["RequestId"],
        replaces=state.get("replaces"),
    )
    request = props.start_request(name=str(state["name"]), tags={**props.tags, **owner})
    check_request(request, cleanrooms_ml.start_input_shape())
    return request


def _start_or_adopt(
    event: Mapping[str, Any],
    state: Mapping[str, Any],
    request: Mapping[str, Any],
    *,
    final: bool,
) -> str | None:
    """Start the job, or find the one this request started; None: try again later.

    A refusal that proves no job was made is raised at once. One after which a job may exist (the
    name is taken but the job cannot be found, or not looked up) is raised only when ``final``:
    ``on_event`` leaves it to the waiter, so that the pending id names the job if there is one.
    """
    name = request["name"]
    try:
        response = cleanrooms_ml.client().start_audience_generation_job(**request)
    except (ClientError, BotoCoreError) as error:
        code = cleanrooms_ml.error_code(error)
        if code == cleanrooms_ml.CONFLICT:
            return _settle_conflict(event, state, name, error, final=final)
        if cleanrooms_ml.is_transient(error):
            logger.info("Start of job %r must wait: %s", name, code)
            return None
        raise HandlerError(_failed("StartAudienceGenerationJob", error, f"job {name!r}")) from error
    arn = str(response["audienceGenerationJobArn"])
    logger.info("Started job %r: %s", name, arn)
    return arn


def _settle_conflict(
    event: Mapping[str, Any],
    state: Mapping[str, Any],
    name: str,
    conflict: Exception,
    *,
    final: bool,
) -> str | None:
    """After ConflictException from Start: the job this request started, found by its name.

    The name may be held by a job an earlier attempt of this request started (its answer lost):
    adopt it. A job someone else holds is a clear error. No job at all means the conflict is of
    another kind: after a short patience for the listing, fail with the service's own message.
    """
    try:
        for delay in (*PATIENCE_SECONDS, None):
            job = _find_own_job(event, state, name, any_model=True)
            if job is not None:
                return str(job["audienceGenerationJobArn"])
            if delay is None or not final:
                break
            _sleep_within_budget(delay)
    except HandlerError:
        if final:
            raise
        return None
    except (_NameFreeingUp, ClientError, BotoCoreError):
        return None  # transient, or the name is freeing up: tried again on the next poll
    if not final:
        return None
    raise HandlerError(_failed("StartAudienceGenerationJob", conflict, f"job {name!r}"))


def _find_own_job(
    event: Mapping[str, Any], state: Mapping[str, Any], name: str, *, any_model: bool = False
) -> dict[str, Any] | None:
    """The job named ``name`` if this request started it (or CloudFormation holds it by name).

    None when there is none; ``_NameFreeingUp`` when the job holding it is being deleted. A
    transient failure of the lookup is raised as the botocore error (try again later); any other
    is a HandlerError naming the operation. A job someone else started is a clear error. Unless
    ``any_model``, only jobs of this job's model are listed (fewer pages per poll).
    """
    model = None if any_model else event["ResourceProperties"].get("ConfiguredAudienceModelArn")
    operation = "ListAudienceGenerationJobs"
    try:
        arn = cleanrooms_ml.find_job_arn(name, model)
        operation = "GetAudienceGenerationJob"
        job = cleanrooms_ml.get_job(arn) if arn else None
    except (ClientError, BotoCoreError) as error:
        if cleanrooms_ml.is_transient(error):
            logger.warning("Looking up job %r must wait: %s", name, cleanrooms_ml.error_code(error))
            raise
        raise HandlerError(_failed(operation, error, f"looking up job {name!r}")) from error
    if job is None:
        return None
    if job["status"] in _DELETING:
        raise _NameFreeingUp(name)
    owner = job_identity.ownership(job.get("tags") or {})
    configuration = configuration_digest(event["ResourceProperties"], event["StackId"])
    if (
        owner.names(event["StackId"], event["LogicalResourceId"])
        and owner.configuration == configuration
        and (
            owner.request == job_identity.request_digest(event["RequestId"])
            or (
                name == state.get("held_name")
                and owner.request == (state.get("held_request") or owner.request)
            )
        )
    ):
        logger.info("Job %r exists (an earlier attempt started it): %s", name, arn)
        return job
    raise HandlerError(
        f"Name: a job named {name!r} already exists in this account ({arn}) and this request "
        "did not start it with these properties. Job names are unique per account: set another "
        "Name, or remove Name to let the handler generate a unique one."
    )


def _await_start(event: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    props = parse_properties(event["ResourceProperties"])
    name = str(state["name"])
    physical_id = event["PhysicalResourceId"]
    job: dict[str, Any] | None = None
    arn = physical_id if job_identity.is_job_arn(physical_id) else None
    if arn is None:
        # The framework passes every poll the same event, so a job an earlier poll started is
        # found by its name first (List, Get) rather than by another Start.
        try:
            job = _find_own_job(event, state, name)
        except (_NameFreeingUp, ClientError, BotoCoreError):
            return _not_yet(event, state, _quota_message(name, props))
        arn = str(job["audienceGenerationJobArn"]) if job else None
    awaited, _ = _awaited(event, state)
    if awaited is False:
        return _abandon(event, state, arn)
    if arn is None:
        # No Start past the deadline, and none while it is unknown whether the request is awaited.
        _check_deadline(event, state, _quota_message(name, props))
        if awaited is None:
            return {"IsComplete": False}
        arn = _start_or_adopt(event, state, _start_request(event, state, props), final=True)
        if arn is None:
            return _not_yet(event, state, _quota_message(name, props))
        if _awaited(event, state)[0] is False:  # cancelled while it was starting
            return _abandon(event, state, arn)
    return _await_active(event, state, arn, name, job)


def _await_active(
    event: Mapping[str, Any],
    state: Mapping[str, Any],
    arn: str,
    name: str,
    job: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Complete once the job is ACTIVE; fail if it failed. The state's ``wait`` is the
    WaitTimeoutSeconds to wait for it, 0 without WaitForCompletion (then complete at once)."""
    wait = int(state.get("wait", 0))
    if not wait:
        return _completed(arn, name)
    job = job or _poll_job(event, state, arn)
    if job is None:
        return {"IsComplete": False}
    status = job["status"]
    if status == "ACTIVE":
        logger.info("Job %s is ACTIVE", arn)
        return _completed(arn, name)
    if status in _CREATING:
        return _not_yet(
            event,
            state,
            f"Job {arn} is still {status} after WaitTimeoutSeconds={wait}. "
            "Raise wait_timeout, or set wait_for_completion=False to not wait for ACTIVE.",
            arn=arn,
        )
    _fail(event, state, f"Job {arn} ended {status}: {_status_details(job)}", arn=arn)


def _quota_message(name: str, props: JobProperties) -> str:
    return (
        f"Job {name!r} could not be started within WaitTimeoutSeconds="
        f"{props.wait_timeout_seconds}: the account's quota of jobs in progress stayed full, the "
        "service kept throttling, or the job could not be looked up. Retry the deployment when "
        "jobs have finished."
    )


# ------------------------------------------------------- whether CloudFormation still waits


def _awaited(
    event: Mapping[str, Any], state: Mapping[str, Any]
) -> tuple[bool | None, list[str] | None]:
    """Whether CloudFormation still awaits this request (None: cannot tell now), and the stack's
    status and operation (as ``cleanrooms_ml.stack_status`` gives them).

    It does while this stack resource is CREATE_ or UPDATE_IN_PROGRESS (as the request's type)
    and the stack is still in the in-progress status and the operation it was in when the request
    arrived (``on_event`` records them in the state): a cancelled create, a rollback or a later
    deployment changes one of them.
    """
    stack_id, logical_id = event["StackId"], event["LogicalResourceId"]
    try:
        resource = cleanrooms_ml.stack_resource(stack_id, logical_id)
        stack = cleanrooms_ml.stack_status(stack_id) if resource else None
    except (ClientError, BotoCoreError) as error:
        if cleanrooms_ml.is_transient(error):
            logger.info("CloudFormation cannot tell now: %s", cleanrooms_ml.error_code(error))
            return None, None
        raise HandlerError(
            _failed("DescribeStackResource", error, "asking CloudFormation about this request")
        ) from error
    if resource is None or stack is None:
        return False, None
    now = list(stack)
    baseline = state.get("stack_status") or now
    in_progress = f"{str(event['RequestType']).upper()}_IN_PROGRESS"
    awaited = (
        resource.get("ResourceStatus") == in_progress
        and now == list(baseline)
        and now[0].endswith("_IN_PROGRESS")
    )
    return awaited, now


def _abandon(event: Mapping[str, Any], state: Mapping[str, Any], arn: str | None) -> dict[str, Any]:
    """End a waiter that CloudFormation no longer awaits, removing the job it started.

    The job stays if CloudFormation holds it (a redelivery's other waiter answered with it): the
    answer is then that job. Until the job is being deleted the waiter keeps polling; its answer
    goes to a closed request.
    """
    if arn is None:
        raise HandlerError(
            "CloudFormation no longer awaits this request (it was answered or cancelled): "
            "nothing was started."
        )
    name = str(state["name"])
    try:
        resource = cleanrooms_ml.stack_resource(event["StackId"], event["LogicalResourceId"])
    except (ClientError, BotoCoreError) as error:
        logger.info("Whether CloudFormation holds %s: %s", arn, cleanrooms_ml.error_code(error))
        return _keep_removing(state, arn, None)
    status = str((resource or {}).get("ResourceStatus", "DELETE_COMPLETE"))
    holder = (resource or {}).get("PhysicalResourceId")
    if (
        job_identity.names_job(holder, arn, name)
        and not status.endswith("_FAILED")
        and not status.startswith("DELETE_")
    ):
        logger.info("Job %s is held by the stack (%s): another delivery answered", arn, status)
        return _completed(arn, name)
    done, job = _delete_job_step(event, arn, owned=True)
    if done or (job is not None and job["status"] in _DELETING):
        raise HandlerError(
            f"CloudFormation no longer awaits this request (it was answered or cancelled): job "
            f"{arn}, which it had started, is being deleted."
        )
    return _keep_removing(state, arn, job)


def _keep_removing(
    state: Mapping[str, Any], arn: str, job: Mapping[str, Any] | None
) -> dict[str, Any]:
    if time.time() >= _removal_deadline(state):
        raise HandlerError(
            f"CloudFormation no longer awaits this request, and job {arn}, which it had started, "
            f"could not be deleted; its last state: {_describe(job)}. Delete it by hand."
        )
    return {"IsComplete": False}


# ------------------------------------------------------------------------------ tags (update)


def _await_tags(event: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    arn = str(event["PhysicalResourceId"])
    if not state.get("tags_applied"):
        awaited, _ = _awaited(event, state)
        if awaited is False:
            raise HandlerError(
                f"CloudFormation no longer awaits this update of job {arn} (it was cancelled): "
                "its tags are left as the rollback sets them."
            )
        old = event.get("OldResourceProperties") or {}
        if not awaited or not _apply_tags(arn, _declared_tags(old), state.get("tags") or {}):
            return _not_yet(event, state, f"Tags of job {arn} could not be updated: throttled.")
    job = _poll_job(event, state, arn)
    if job is None:
        return {"IsComplete": False}
    sweep = state.get("sweep")
    if sweep and not _sweep_step(event, sweep) and time.time() < _removal_deadline(state):
        return {"IsComplete": False}
    # WaitForCompletion may have been turned on by this update: the job must be ACTIVE then too.
    return _await_active(event, state, arn, str(job["name"]), job)


# ------------------------------------------------------------------------------------ delete


def _await_delete(event: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    deadline = float(state["deadline"])
    past_deadline = time.time() >= deadline
    sweep = state.get("sweep")
    if sweep:
        if _sweep_step(event, sweep, send_delete=not past_deadline):
            return {"IsComplete": True}
        if past_deadline:
            raise HandlerError(
                "The jobs a cancelled create of this resource started were not deleted before "
                "the wait timed out; see the handler's log for their ARNs."
            )
        return {"IsComplete": False}
    # Past the deadline no new Delete is sent; one in flight may settle (into DELETE_FAILED and
    # its reason, say) for a short grace, so the failure reports how the last attempt ended.
    done, job = _delete_step(event, send_delete=not past_deadline)
    if done:
        return {"IsComplete": True}
    settling = job is not None and job["status"] in _DELETING
    if past_deadline and not (settling and time.time() < deadline + SETTLE_GRACE_SECONDS):
        raise HandlerError(
            f"Job {event['PhysicalResourceId']} was not deleted before the wait timed out; "
            f"its last state: {_describe(job)}{_refusal(job)}. Delete it by hand, then retry."
        )
    return {"IsComplete": False}


def _refusal(job: Mapping[str, Any] | None) -> str:
    """Why the service refuses to delete ``job`` now, from one last Delete (as the reason's end).

    Refusals are retried until the deadline without their message; the failure must show it.
    """
    if job is None or job["status"] in _DELETING:
        return ""
    try:
        cleanrooms_ml.client().delete_audience_generation_job(
            audienceGenerationJobArn=job["audienceGenerationJobArn"]
        )
    except (ClientError, BotoCoreError) as error:
        return f"; {_failed('DeleteAudienceGenerationJob', error)}"
    return "; a last DeleteAudienceGenerationJob was accepted: it may yet go"


def _delete_step(
    event: Mapping[str, Any], *, send_delete: bool = True
) -> tuple[bool, dict[str, Any] | None]:
    """One step toward the job of the physical id being gone: (True once it is; the job read).

    By ARN: CloudFormation holds the job, so it goes unless its ownership tag names another stack
    resource (then the delete fails, naming it). By pending id: only a job this resource started,
    and not one the stack holds by ARN by now (an update from the pending id adopted it).
    """
    physical_id = event["PhysicalResourceId"]
    if job_identity.is_job_arn(physical_id):
        return _delete_job_step(event, physical_id, owned=False, send_delete=send_delete)
    name = job_identity.pending_name(physical_id) or ""
    request = job_identity.pending_request(physical_id)
    try:
        arn = cleanrooms_ml.find_job_arn(name)
        if arn is None:
            return True, None
        resource = cleanrooms_ml.stack_resource(event["StackId"], event["LogicalResourceId"])
    except (ClientError, BotoCoreError) as error:
        return _delete_failure(physical_id, error)
    if resource is not None and resource.get("PhysicalResourceId") == arn:
        logger.info("Not deleting %s: the stack holds it by its ARN now", arn)
        return True, None
    return _delete_job_step(event, arn, owned=True, request=request, send_delete=send_delete)


def _delete_job_step(
    event: Mapping[str, Any],
    arn: str,
    *,
    owned: bool,
    request: str = "",
    send_delete: bool = True,
) -> tuple[bool, dict[str, Any] | None]:
    """Send DeleteAudienceGenerationJob for ``arn`` unless it is going or gone.

    ``owned``: only if its ownership tag names this resource (and ``request``, if given, started
    it); else unless the tag names another resource.
    """
    job: dict[str, Any] | None = None
    try:
        job = cleanrooms_ml.get_job(arn)
        if job is None:
            return True, None
        owner = job_identity.ownership(job.get("tags") or {})
        started_by = owner.names(event["StackId"], event["LogicalResourceId"]) and (
            owner.request == (request or owner.request)
        )
        if not started_by:
            if owned:
                logger.warning("Not deleting %s: another resource or request started it", arn)
                return True, job
            if owner.owner:
                raise HandlerError(
                    f"Job {arn} carries the ownership tag of another stack resource "
                    f"({OWNER_TAG_KEY}); it is not deleted. Remove it from this "
                    "stack with RemovalPolicy.RETAIN, or delete it by hand, then retry."
                )
        if job["status"] in _DELETING or not send_delete:
            return False, job
        cleanrooms_ml.client().delete_audience_generation_job(audienceGenerationJobArn=arn)
        logger.info("Deleting job %s (was %s)", arn, job["status"])
        return False, job
    except (ClientError, BotoCoreError) as error:
        if cleanrooms_ml.error_code(error) == cleanrooms_ml.NOT_FOUND:
            return True, job
        return _delete_failure(arn, error, job)


def _delete_failure(
    what: str, error: Exception, job: dict[str, Any] | None = None
) -> tuple[bool, dict[str, Any] | None]:
    code = cleanrooms_ml.error_code(error)
    if code == cleanrooms_ml.CONFLICT or cleanrooms_ml.is_transient(error):
        logger.info("Delete must wait: %s", code)
        return False, job
    raise HandlerError(_failed("Deleting", error, f"job {what}")) from error


def _describe(job: Mapping[str, Any] | None) -> str:
    if job is None:
        return "unknown (the service did not answer)"
    details = job.get("statusDetails") or {}
    return " ".join(
        str(part)
        for part in (job["status"], details.get("statusCode"), details.get("message"))
        if part
    )


# ------------------------------------------------------------------------------------ sweeps


def _leftover_of(event: Mapping[str, Any], failed: Mapping[str, Any]) -> dict[str, Any]:
    """How to recognise the job a failed replacement of this physical id started."""
    return {
        "config": configuration_digest(failed, event["StackId"]),
        "name": failed.get("Name"),
        "prefix": job_identity.generated_name_prefix(event["StackId"], event["LogicalResourceId"]),
        "replaces": job_identity.replaced_digest(event["PhysicalResourceId"]),
    }


def _cancelled_create_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """How to recognise the job a cancelled create of this resource started.

    Started by a Create (nothing replaced) from these properties, within the framework's wait: a
    job kept from an earlier life of this logical id (RemovalPolicy.RETAIN) is older. A job this
    Delete claimed on an earlier attempt (its claim tag) is its own at any age: the retry of a
    Delete that failed, an hour later, still finds it.
    """
    props = event.get("ResourceProperties") or {}
    return {
        "config": configuration_digest(props, event["StackId"]),
        "name": props.get("Name"),
        "prefix": job_identity.generated_name_prefix(event["StackId"], event["LogicalResourceId"]),
        "replaces": "",
        "since": time.time() - DELETE_TIMEOUT_SECONDS - SETTLE_GRACE_SECONDS,
        "claim": job_identity.claim(event["PhysicalResourceId"]),
    }


def _sweep_step(
    event: Mapping[str, Any], sweep: Mapping[str, Any], *, send_delete: bool = True
) -> bool:
    """Delete what ``sweep`` describes; True once nothing of it is left but going jobs.

    Best effort in a rollback: that must not fail over it, so at the deadline the caller moves on
    and the job's ARN stays in the log.
    """
    current = event["PhysicalResourceId"]

    def candidate(name: str) -> bool:
        return name == sweep.get("name") or name.startswith(str(sweep["prefix"]))

    done = True
    try:
        for arn in cleanrooms_ml.find_job_arns(candidate):
            job = None if arn == current else cleanrooms_ml.get_job(arn)
            if job is None or job["status"] in _DELETING or not _left_by(event, job, sweep):
                continue
            done = False
            if send_delete:
                _claim(job, sweep)
                _send_sweep_delete(arn)
    except (ClientError, BotoCoreError) as error:
        logger.warning("Looking for jobs to sweep failed: %s", cleanrooms_ml.error_code(error))
        return False
    return done


def _left_by(event: Mapping[str, Any], job: Mapping[str, Any], sweep: Mapping[str, Any]) -> bool:
    tags = job.get("tags") or {}
    owner = job_identity.ownership(tags)
    since = sweep.get("since")
    created = job.get("createTime")
    claimed = bool(sweep.get("claim")) and tags.get(job_identity.CLAIM_TAG_KEY) == sweep["claim"]
    return (
        owner.names(event["StackId"], event["LogicalResourceId"])
        and bool(owner.request)
        and owner.configuration == sweep["config"]
        and owner.replaces == sweep["replaces"]
        and (claimed or since is None or created is None or created.timestamp() >= float(since))
    )


def _claim(job: Mapping[str, Any], sweep: Mapping[str, Any]) -> None:
    """Tag ``job`` as the sweep's own, once (best effort: a job with 50 tags cannot take it)."""
    claim = sweep.get("claim")
    if not claim or (job.get("tags") or {}).get(job_identity.CLAIM_TAG_KEY) == claim:
        return
    arn = str(job["audienceGenerationJobArn"])
    try:
        cleanrooms_ml.client().tag_resource(
            resourceArn=arn, tags={job_identity.CLAIM_TAG_KEY: claim}
        )
    except (ClientError, BotoCoreError) as error:
        logger.warning("Claiming job %s failed: %s", arn, cleanrooms_ml.error_code(error))


def _send_sweep_delete(arn: str) -> None:
    try:
        cleanrooms_ml.client().delete_audience_generation_job(audienceGenerationJobArn=arn)
        logger.info("Removing job %s, which no stack resource holds", arn)
    except ClientError as error:
        logger.warning("Job %s must wait: %s", arn, cleanrooms_ml.error_code(error))


# -------------------------------------------------------------------------------------- tags


def _apply_tags(arn: str, declared: Mapping[str, str], desired: Mapping[str, str]) -> bool:
    """Move the job's tags from what the template declared to what it declares now."""
    to_set, to_remove = tag_changes(declared, desired)
    client = cleanrooms_ml.client()
    try:
        if to_remove:
            client.untag_resource(resourceArn=arn, tagKeys=to_remove)
        if to_set:
            client.tag_resource(resourceArn=arn, tags=to_set)
    except (ClientError, BotoCoreError) as error:
        if cleanrooms_ml.is_transient(error):
            return False
        raise HandlerError(_failed("Tagging", error, f"job {arn}")) from error
    logger.info("Tags of %s: set %s, removed %s", arn, sorted(to_set), to_remove)
    return True


# ------------------------------------------------------------------------------------ shared


def _parse(raw: Mapping[str, Any]) -> JobProperties:
    check_known_properties(raw, cleanrooms_ml.start_input_shape())
    return parse_properties(raw)


def _generated_name(event: Mapping[str, Any]) -> str:
    return job_identity.generated_name(
        event["StackId"], event["LogicalResourceId"], event["RequestId"]
    )


def _started_from(event: Mapping[str, Any], arn: str, raw: Mapping[str, Any]) -> bool:
    """Whether the job at ``arn`` was started by this resource from exactly these properties."""
    job = _patiently(cleanrooms_ml.get_job, arn, what=f"Reading job {arn}")
    if job is None:
        return False
    owner = job_identity.ownership(job.get("tags") or {})
    return owner.names(
        event["StackId"], event["LogicalResourceId"]
    ) and owner.configuration == configuration_digest(raw, event["StackId"])


def _poll_job(
    event: Mapping[str, Any], state: Mapping[str, Any], arn: str
) -> dict[str, Any] | None:
    """The job, or None when the service could not answer now (the framework polls again)."""
    try:
        job = cleanrooms_ml.get_job(arn)
    except (ClientError, BotoCoreError) as error:
        if not cleanrooms_ml.is_transient(error):
            raise HandlerError(_failed("GetAudienceGenerationJob", error, f"job {arn}")) from error
        _check_deadline(event, state, f"Job {arn} could not be read before the wait timed out.")
        return None
    if job is None:
        _fail(event, state, f"Job {arn} no longer exists: it was deleted outside CloudFormation.")
    return job


def _not_yet(
    event: Mapping[str, Any], state: Mapping[str, Any], message: str, *, arn: str | None = None
) -> dict[str, Any]:
    """Not complete: poll again, unless the deadline has passed (then fail with ``message``)."""
    _check_deadline(event, state, message, arn=arn)
    return {"IsComplete": False}


def _fail(
    event: Mapping[str, Any], state: Mapping[str, Any], message: str, *, arn: str | None = None
) -> NoReturn:
    if state.get("replacing") and arn:
        # CloudFormation keeps the old job after a failed replacement and sends no Delete for
        # this one. If it cannot go now (still being created, throttled), the rollback Update
        # sweeps it up (see ``_sweep_step``).
        try:
            cleanrooms_ml.client().delete_audience_generation_job(audienceGenerationJobArn=arn)
            logger.info("Removing the failed replacement job %s", arn)
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "The failed replacement job %s cannot be removed now (%s): the rollback will",
                arn,
                cleanrooms_ml.error_code(error),
            )
    raise HandlerError(message)


def _check_deadline(
    event: Mapping[str, Any], state: Mapping[str, Any], message: str, *, arn: str | None = None
) -> None:
    if time.time() >= float(state.get("deadline", 0)):
        _fail(event, state, message, arn=arn)


def _completed(arn: str, name: str) -> dict[str, Any]:
    return {
        "IsComplete": True,
        "PhysicalResourceId": arn,
        "Data": {"AudienceGenerationJobArn": arn, "Name": name},
    }


def _state(action: str, wait_seconds: float, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {"action": action, "began": now, "deadline": now + wait_seconds, **extra}


def _removal_deadline(state: Mapping[str, Any]) -> float:
    """When removing a job this request owes (a sweep, a cancelled waiter's job) must end: the
    delete deadline from the request's start, whatever its ``WaitTimeoutSeconds``."""
    return float(state.get("began", 0)) + DELETE_TIMEOUT_SECONDS


def _declared_tags(raw: Mapping[str, Any]) -> dict[str, str]:
    try:
        return parse_tags(raw.get("Tags"))
    except InvalidPropertyError:
        return {}


def _status_details(job: Mapping[str, Any]) -> str:
    details = job.get("statusDetails") or {}
    return f"{details.get('statusCode', 'no status code')}: {details.get('message', 'no message')}"


class _Transient(HandlerError):
    """A read that kept failing transiently through ``_patiently``."""


class _NameFreeingUp(Exception):
    """The job holding a name is being deleted: the name frees up soon."""


def _patiently(call: Any, *args: Any, what: str) -> Any:
    """``call(*args)``, retried while the service throttles (beyond botocore's own retries).

    A non-transient failure is a HandlerError naming ``what``; a transient one that outlasts the
    patience (or the invocation's budget) is ``_Transient``.
    """
    for delay in (*PATIENCE_SECONDS, None):
        try:
            return call(*args)
        except (ClientError, BotoCoreError) as error:
            if not cleanrooms_ml.is_transient(error):
                raise HandlerError(_failed(what, error)) from error
            if delay is None or cleanrooms_ml.budget_left() < delay:
                raise _Transient(_failed(what, error)) from error
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _sleep_within_budget(seconds: float) -> None:
    if cleanrooms_ml.budget_left() < seconds:
        raise cleanrooms_ml.InvocationBudgetExceeded()
    time.sleep(seconds)


def _failed(operation: str, error: Exception, subject: str = "") -> str:
    """One message format for a failed call: the operation, the code, the service's message."""
    about = f" ({subject})" if subject else ""
    return (
        f"{operation}{about} failed: {cleanrooms_ml.error_code(error)}: "
        f"{cleanrooms_ml.error_message(error)}"
    )


def _reason(error: Exception, event: Mapping[str, Any]) -> str:
    """The message for CloudFormation: one line, no sensitive value, at most 1000 bytes as JSON.

    The framework adds its own lines, the ids and Data; CloudFormation refuses a response body
    over 4096 bytes, and control characters grow sixfold when JSON-escaped.
    """
    text = str(error)
    for secret in _sensitive_values(event):
        text = text.replace(secret, "***") if len(secret) >= MIN_SCRUBBED_LENGTH else text
        text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    text = _CONTROL_CHARACTERS.sub(" ", text).strip()
    if _escaped_size(text) <= MAX_REASON_LENGTH:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with its ellipsis
        middle = (low + high + 1) // 2
        if _escaped_size(text[:middle] + "...") <= MAX_REASON_LENGTH:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "..."


def _escaped_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def _sensitive_values(event: Mapping[str, Any]) -> list[str]:
    """The SQL seed's query, parameter names and values (the service model marks them sensitive).

    A multi-line query is also listed line by line: a service may quote one line of it.
    """
    found: list[str] = []
    for key in ("ResourceProperties", "OldResourceProperties"):
        seed = (event.get(key) or {}).get("SeedAudience")
        sql = seed.get("SqlParameters") if isinstance(seed, Mapping) else None
        if not isinstance(sql, Mapping):
            continue
        parameters = sql.get("Parameters")
        pairs: Iterable[Any] = parameters.items() if isinstance(parameters, Mapping) else ()
        found.extend(str(part) for pair in pairs for part in pair)
        query = str(sql.get("QueryString") or "")
        found += [query, *query.splitlines()]
    return sorted((value for value in set(found) if value.strip()), key=len, reverse=True)


def _log_event(entry: str, event: Mapping[str, Any]) -> None:
    # Never the properties (SQL text and parameters) nor the presigned ResponseURL.
    logger.info(
        "%s %s %r physical id %r",
        entry,
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("PhysicalResourceId"),
    )
