"""Handler of ``Custom::CleanRoomsMLAudienceGenerationJob`` for the CDK Provider framework.

``on_event`` makes the first attempt at what CloudFormation asked for; ``is_complete``, polled by
the framework, then finishes the work: it starts a job whose Start had to wait (quota of jobs in
progress, throttling), waits for ACTIVE, re-applies tags, waits for a deletion to end. What it needs
to know travels in the ``HandlerState`` key that ``on_event`` returns and the framework passes on.

Rules that keep every job accounted for:
- once a job exists, its ARN (or a pending id that names it) is the physical id CloudFormation gets;
- a Start that may or may not have happened is settled by the job's name, never by a second job;
- Delete touches only jobs whose ownership tag names this stack resource.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import cleanrooms_ml
import job_identity
from botocore.exceptions import BotoCoreError, ClientError
from job_properties import (
    DEFAULT_WAIT_TIMEOUT_SECONDS,
    InvalidPropertyError,
    JobProperties,
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
"""CloudFormation rejects a response over 4096 bytes; the framework adds the reason and more."""

SETTLE_GRACE_SECONDS = 30.0
"""After its deadline a Delete may settle this long; the framework's own limit is a minute off."""
PATIENCE_SECONDS = (1.0, 2.0, 4.0)
"""Waits between retries of a read ``on_event`` cannot decide without (botocore retries first)."""

_CREATING = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})
_DELETING = frozenset({"DELETE_PENDING", "DELETE_IN_PROGRESS"})


class HandlerError(Exception):
    """A failure reported to CloudFormation, with a message a person can act on."""


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    request_type = event["RequestType"]
    _log_event("on_event", event)
    handlers = {"Create": on_create, "Update": on_update, "Delete": on_delete}
    try:
        return handlers[request_type](event)
    except (HandlerError, InvalidPropertyError) as error:
        raise HandlerError(_reason(error)) from error


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    state = event.get("HandlerState") or {}
    action = state.get("action")
    try:
        if action == "start":
            return _await_start(event, state)
        if action == "tags":
            return _await_tags(event, state)
        if action == "delete":
            return _await_delete(event, state)
        return {"IsComplete": True}
    except (HandlerError, InvalidPropertyError) as error:
        raise HandlerError(_reason(error)) from error


def on_create(event: Mapping[str, Any]) -> dict[str, Any]:
    return _start(event, parse_properties(event["ResourceProperties"]), replacing=False)


def on_update(event: Mapping[str, Any]) -> dict[str, Any]:
    old, new = event.get("OldResourceProperties") or {}, event["ResourceProperties"]
    props = parse_properties(new)
    physical_id = event["PhysicalResourceId"]
    replacing = replaces_job(old, new)
    if job_identity.is_job_arn(physical_id) and (
        not replacing or _started_from(event, physical_id, new)
    ):
        # Tags and handler settings change in place. So does a rollback to the properties the
        # job was started from (after a failed replacement): the job is already what is wanted,
        # and a job the failed replacement left behind is swept up.
        applied = _apply_tags(physical_id, _declared_tags(old), props.tags)
        state = _state("tags", props, tags_applied=applied)
        if replacing:
            state["sweep"] = _leftover_of(event, old)
        return {"PhysicalResourceId": physical_id, "HandlerState": state}
    if props.name is not None and props.name == old.get("Name"):
        changed = ", ".join(job_defining_changes(old, new))
        raise HandlerError(
            f"Name: changing {changed} needs a new job, and job names are unique per "
            f"account, so the new job cannot reuse Name {props.name!r}. Change Name as well, or "
            "remove it to let the handler generate a unique name."
        )
    return _start(event, props, replacing=True)


def on_delete(event: Mapping[str, Any]) -> dict[str, Any]:
    physical_id = event["PhysicalResourceId"]
    result: dict[str, Any] = {"PhysicalResourceId": physical_id}
    if not job_identity.is_job_arn(physical_id) and job_identity.pending_name(physical_id) is None:
        # The framework's CREATE_FAILED marker or a request id: no job was ever reported.
        logger.info("Nothing to delete for physical id %r", physical_id)
        return result
    props = event.get("ResourceProperties") or {}
    result["HandlerState"] = _state("delete", None, wait=_lenient_wait_timeout(props))
    _delete_step(event)
    return result


def _start(event: Mapping[str, Any], props: JobProperties, *, replacing: bool) -> dict[str, Any]:
    name = props.name or job_identity.generated_name(
        event["StackId"], event["LogicalResourceId"], event["RequestId"]
    )
    request = _start_request(event, props, name)
    arn = _start_or_adopt(event, request)
    result: dict[str, Any] = {
        "PhysicalResourceId": arn or job_identity.pending_id(name),
        "HandlerState": _state("start", props, name=name, replacing=replacing),
    }
    if arn:
        result["Data"] = {"AudienceGenerationJobArn": arn, "Name": name}
    return result


def _start_request(event: Mapping[str, Any], props: JobProperties, name: str) -> dict[str, Any]:
    stack_id, logical_id = event["StackId"], event["LogicalResourceId"]
    configuration = configuration_digest(event["ResourceProperties"], stack_id)
    tags = {**props.tags, **job_identity.owner_tag(stack_id, logical_id, configuration)}
    request = props.start_request(name=name, tags=tags)
    check_request(request, cleanrooms_ml.start_input_shape())
    return request


def _start_or_adopt(event: Mapping[str, Any], request: Mapping[str, Any]) -> str | None:
    """Start the job, or find the one an earlier attempt started; None: try again later."""
    name = request["name"]
    try:
        response = cleanrooms_ml.client().start_audience_generation_job(**request)
    except (ClientError, BotoCoreError) as error:
        code = cleanrooms_ml.error_code(error)
        if code == cleanrooms_ml.CONFLICT:
            # Any job holding the name, of any model: a stranger's is a clear error.
            job = _find_own_job(event, name, any_model=True)
            return str(job["audienceGenerationJobArn"]) if job else None
        if cleanrooms_ml.is_transient(error):
            logger.info("Start of job %r must wait: %s", name, code)
            return None
        raise HandlerError(
            f"StartAudienceGenerationJob refused job {name!r}: {code}: "
            f"{cleanrooms_ml.error_message(error)}"
        ) from error
    arn = str(response["audienceGenerationJobArn"])
    logger.info("Started job %r: %s", name, arn)
    return arn


def _find_own_job(
    event: Mapping[str, Any], name: str, *, any_model: bool = False
) -> dict[str, Any] | None:
    """The job named ``name`` if this resource started it from these properties.

    None when there is none, when it is being deleted (the name frees up), or when the service
    cannot answer now: a Start may have happened, so the lookup is left to the next poll rather
    than failing (a failure would lose the job). A job someone else started is a clear error.
    Unless ``any_model``, only jobs of this job's model are listed (fewer pages per poll).
    """
    model = None if any_model else event["ResourceProperties"].get("ConfiguredAudienceModelArn")
    try:
        arn = cleanrooms_ml.find_job_arn(name, model)
        job = cleanrooms_ml.get_job(arn) if arn else None
    except (ClientError, BotoCoreError) as error:
        logger.warning(
            "Looking up job %r failed, trying again later: %s",
            name,
            cleanrooms_ml.error_code(error),
        )
        return None
    if job is None or job["status"] in _DELETING:
        return None
    if _started_here(
        event, job, configuration_digest(event["ResourceProperties"], event["StackId"])
    ):
        logger.info("Job %r exists (an earlier attempt started it): %s", name, arn)
        return job
    raise HandlerError(
        f"Name: a job named {name!r} already exists in this account ({arn}) and this resource "
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
        job = _find_own_job(event, name)
        arn = str(job["audienceGenerationJobArn"]) if job else None
    if arn is None:
        arn = _start_or_adopt(event, _start_request(event, props, name))
    if arn is None:
        _check_deadline(
            event,
            state,
            f"Job {name!r} could not be started within WaitTimeoutSeconds="
            f"{props.wait_timeout_seconds}: the account's quota of jobs in progress stayed "
            "full, the service kept throttling, or the job could not be looked up. Retry the "
            "deployment when jobs have finished.",
        )
        return {"IsComplete": False}
    if not props.wait_for_completion:
        return _completed(arn, name)
    job = job or _poll_job(event, state, arn)
    if job is None:
        return {"IsComplete": False}
    status = job["status"]
    if status == "ACTIVE":
        logger.info("Job %s is ACTIVE", arn)
        return _completed(arn, name)
    if status in _CREATING:
        _check_deadline(
            event,
            state,
            f"Job {arn} is still {status} after WaitTimeoutSeconds={props.wait_timeout_seconds}. "
            "Raise wait_timeout, or set wait_for_completion=False to not wait for ACTIVE.",
            arn=arn,
        )
        return {"IsComplete": False}
    details = job.get("statusDetails") or {}
    _fail(
        event,
        state,
        f"Job {arn} ended {status}: {details.get('statusCode', 'no status code')}: "
        f"{details.get('message', 'no message')}",
        arn=arn,
    )


def _await_tags(event: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    arn = str(event["PhysicalResourceId"])
    if not state.get("tags_applied"):
        old, new = event.get("OldResourceProperties") or {}, event["ResourceProperties"]
        if not _apply_tags(arn, _declared_tags(old), parse_tags(new.get("Tags"))):
            _check_deadline(event, state, f"Tags of job {arn} could not be updated: throttled.")
            return {"IsComplete": False}
    job = _poll_job(event, state, arn)
    if job is None:
        return {"IsComplete": False}
    sweep = state.get("sweep")
    if sweep and not _sweep_step(event, sweep) and time.time() < float(state["deadline"]):
        return {"IsComplete": False}
    return _completed(arn, str(job["name"]))


def _await_delete(event: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    deadline = float(state["deadline"])
    past_deadline = time.time() >= deadline
    # Past the deadline no new Delete is sent; one in flight may settle (into DELETE_FAILED and
    # its reason, say) for a short grace, so the failure reports how the last attempt ended.
    done, job = _delete_step(event, send_delete=not past_deadline)
    if done:
        return {"IsComplete": True}
    settling = job is not None and job["status"] in _DELETING
    if past_deadline and not (settling and time.time() < deadline + SETTLE_GRACE_SECONDS):
        raise HandlerError(
            f"Job {event['PhysicalResourceId']} was not deleted before the wait timed out; "
            f"its last state: {_describe(job)}. Delete it by hand, then retry."
        )
    return {"IsComplete": False}


def _delete_step(
    event: Mapping[str, Any], *, send_delete: bool = True
) -> tuple[bool, dict[str, Any] | None]:
    """One step toward the job being gone: (True once it is, or was never ours; the job read)."""
    job: dict[str, Any] | None = None
    try:
        arn = _job_arn_for_delete(event["PhysicalResourceId"])
        job = cleanrooms_ml.get_job(arn) if arn else None
        if arn is None or job is None:
            return True, job
        if not job_identity.is_owned_by(
            job.get("tags") or {}, event["StackId"], event["LogicalResourceId"]
        ):
            logger.warning("Not deleting %s: its ownership tag does not name this resource", arn)
            return True, job
        if job["status"] in _DELETING or not send_delete:
            return False, job
        cleanrooms_ml.client().delete_audience_generation_job(audienceGenerationJobArn=arn)
        logger.info("Deleting job %s (was %s)", arn, job["status"])
        return False, job
    except (ClientError, BotoCoreError) as error:
        code = cleanrooms_ml.error_code(error)
        if code == cleanrooms_ml.NOT_FOUND:
            return True, job
        if code == cleanrooms_ml.CONFLICT or cleanrooms_ml.is_transient(error):
            logger.info("Delete must wait: %s", code)
            return False, job
        raise HandlerError(
            f"Deleting job {event['PhysicalResourceId']} failed: {code}: "
            f"{cleanrooms_ml.error_message(error)}"
        ) from error


def _job_arn_for_delete(physical_id: str) -> str | None:
    if job_identity.is_job_arn(physical_id):
        return physical_id
    name = job_identity.pending_name(physical_id)
    return cleanrooms_ml.find_job_arn(name) if name else None


def _describe(job: Mapping[str, Any] | None) -> str:
    if job is None:
        return "unknown (the service did not answer)"
    details = job.get("statusDetails") or {}
    return " ".join(
        str(part)
        for part in (job["status"], details.get("statusCode"), details.get("message"))
        if part
    )


def _leftover_of(event: Mapping[str, Any], failed: Mapping[str, Any]) -> dict[str, Any]:
    """How to recognise a job started from the ``failed`` properties of a replacement."""
    return {
        "config": configuration_digest(failed, event["StackId"]),
        "name": failed.get("Name"),
        "prefix": job_identity.generated_name_prefix(event["StackId"], event["LogicalResourceId"]),
    }


def _sweep_step(event: Mapping[str, Any], sweep: Mapping[str, Any]) -> bool:
    """Delete what a failed replacement left; True once nothing of it is left but going jobs.

    Best effort: a rollback must not fail over it, so at the deadline the caller moves on and the
    job's ARN stays in the log.
    """
    current = event["PhysicalResourceId"]

    def candidate(name: str) -> bool:
        return name == sweep.get("name") or name.startswith(str(sweep["prefix"]))

    done = True
    try:
        for arn in cleanrooms_ml.find_job_arns(candidate):
            job = None if arn == current else cleanrooms_ml.get_job(arn)
            if (
                job is None
                or job["status"] in _DELETING
                or not _started_here(event, job, sweep["config"])
            ):
                continue
            done = False
            try:
                cleanrooms_ml.client().delete_audience_generation_job(audienceGenerationJobArn=arn)
                logger.info("Removing job %s, left by the failed replacement", arn)
            except ClientError as error:
                logger.warning(
                    "Job %s, left by the failed replacement, must wait: %s",
                    arn,
                    cleanrooms_ml.error_code(error),
                )
    except (ClientError, BotoCoreError) as error:
        logger.warning(
            "Looking for jobs a failed replacement left failed: %s", cleanrooms_ml.error_code(error)
        )
        return False
    return done


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
        raise HandlerError(
            f"Updating the tags of job {arn} failed: {cleanrooms_ml.error_code(error)}: "
            f"{cleanrooms_ml.error_message(error)}"
        ) from error
    logger.info("Tags of %s: set %s, removed %s", arn, sorted(to_set), to_remove)
    return True


def _started_from(event: Mapping[str, Any], arn: str, raw: Mapping[str, Any]) -> bool:
    """Whether the job at ``arn`` was started by this resource from exactly these properties."""
    job = _patiently(cleanrooms_ml.get_job, arn, what=f"Reading job {arn}")
    return job is not None and _started_here(
        event, job, configuration_digest(raw, event["StackId"])
    )


def _started_here(event: Mapping[str, Any], job: Mapping[str, Any], configuration: str) -> bool:
    """Whether this stack resource started ``job``, from the properties with this digest."""
    tags = job.get("tags") or {}
    return (
        job_identity.is_owned_by(tags, event["StackId"], event["LogicalResourceId"])
        and job_identity.configuration_of(tags) == configuration
    )


def _poll_job(
    event: Mapping[str, Any], state: Mapping[str, Any], arn: str
) -> dict[str, Any] | None:
    """The job, or None when the service could not answer now (the framework polls again)."""
    try:
        job = cleanrooms_ml.get_job(arn)
    except (ClientError, BotoCoreError) as error:
        if not cleanrooms_ml.is_transient(error):
            raise HandlerError(
                f"Reading job {arn} failed: {cleanrooms_ml.error_code(error)}: "
                f"{cleanrooms_ml.error_message(error)}"
            ) from error
        _check_deadline(event, state, f"Job {arn} could not be read before the wait timed out.")
        return None
    if job is None:
        _fail(event, state, f"Job {arn} no longer exists: it was deleted outside CloudFormation.")
    return job


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


def _state(
    action: str, props: JobProperties | None, *, wait: int | None = None, **extra: Any
) -> dict[str, Any]:
    timeout = wait if wait is not None else props.wait_timeout_seconds if props else 0
    return {"action": action, "deadline": time.time() + timeout, **extra}


def _declared_tags(raw: Mapping[str, Any]) -> dict[str, str]:
    try:
        return parse_tags(raw.get("Tags"))
    except InvalidPropertyError:
        return {}


def _lenient_wait_timeout(raw: Mapping[str, Any]) -> int:
    try:
        return parse_properties(raw).wait_timeout_seconds
    except InvalidPropertyError:
        return DEFAULT_WAIT_TIMEOUT_SECONDS


def _patiently(call: Any, *args: Any, what: str) -> Any:
    """``call(*args)``, retried while the service throttles (beyond botocore's own retries)."""
    for delay in (*PATIENCE_SECONDS, None):
        try:
            return call(*args)
        except (ClientError, BotoCoreError) as error:
            if delay is None or not cleanrooms_ml.is_transient(error):
                raise HandlerError(
                    f"{what} failed: {cleanrooms_ml.error_code(error)}: "
                    f"{cleanrooms_ml.error_message(error)}"
                ) from error
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _reason(error: Exception) -> str:
    """The message, cut to 1000 UTF-8 bytes: the framework wraps it, CloudFormation takes 4096."""
    data = str(error).encode()
    if len(data) <= MAX_REASON_LENGTH:
        return data.decode()
    return data[: MAX_REASON_LENGTH - 3].decode(errors="ignore") + "..."


def _log_event(entry: str, event: Mapping[str, Any]) -> None:
    # Never the properties (SQL text and parameters) nor the presigned ResponseURL.
    logger.info(
        "%s %s %r physical id %r",
        entry,
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("PhysicalResourceId"),
    )
