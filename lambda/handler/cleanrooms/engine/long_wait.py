"""Waits beyond the hour a custom resource may take: a WaitCondition, signaled by a loop of checks.

A resource whose wait (``WaitTimeoutSeconds``) outlasts the Provider framework's hour has an
``AWS::CloudFormation::WaitCondition`` beside it, which can wait 12 hours; the construct passes the
URL of its handle as ``WaitConditionHandle``. The custom resource completes once the resource
exists and ``start`` has started an execution of the stack's long-wait state machine. That
execution calls ``check`` (the handler's ``watch`` entry) after 30 s, then twice as long each time
up to every 5 minutes: each check reads the resource once and, once it is ACTIVE or has failed,
puts SUCCESS (with the ARN) or FAILURE (with the service's status code and message) to the handle,
so that what depends on the WaitCondition goes on, or the stack rolls back. A check also ends the
loop when the resource is gone (a rollback deleted it) and at the wait's deadline, saying so.

Nothing here creates or deletes anything: the custom resource still owns the resource.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import aws, limits, properties
from .errors import HandlerError, error_code, failed, is_transient, reason
from .kind import Kind
from .properties import Properties

logger = logging.getLogger()

STATE_MACHINE_ENV = limits.LONG_WAIT_STATE_MACHINE_ENV
SIGNAL_TIMEOUT_SECONDS = 10
_CALL_ERRORS = (ClientError, BotoCoreError)
_SIGNAL_GRACE_SECONDS = limits.LONG_WAIT_MARGIN_SECONDS
"""A signal that could not be put is tried again every 30 s until the WaitCondition's timeout."""


def start(kind: Kind, event: Mapping[str, Any], arn: str, name: str, props: Properties) -> None:
    """Start the long wait for the resource at ``arn`` (a second start of it is a no-op).

    A failed call is raised as the botocore error; a handler without a state machine (its stack
    made by a release before long waits) as a HandlerError.
    """
    state_machine = os.environ.get(STATE_MACHINE_ENV)
    handle = props.wait_condition_handle
    if not state_machine or not handle:
        raise HandlerError(
            f"WaitTimeoutSeconds={props.wait_timeout_seconds} needs the stack's long-wait state "
            f"machine, and this handler has none ({STATE_MACHINE_ENV} is not set): deploy the "
            "stack with this release of cdk-cleanrooms-ml, whose provider makes it."
        )
    if not handle.startswith(("https://", "http://")):
        raise HandlerError("WaitConditionHandle: must be the URL of a WaitCondition's handle")
    payload = {
        "ResourceType": kind.resource_type,
        "Arn": arn,
        "Name": name,
        "Handle": handle,
        "WaitTimeoutSeconds": props.wait_timeout_seconds,
        "Deadline": time.time() + props.wait_timeout_seconds - limits.LONG_WAIT_MARGIN_SECONDS,
        "Checks": 0,
    }
    aws.start_execution(state_machine, _execution_name(event, arn, handle), json.dumps(payload))
    logger.info(
        "Long wait started for %s %s (up to %s s)", kind.noun, arn, props.wait_timeout_seconds
    )


def check(kind: Kind, payload: Mapping[str, Any]) -> dict[str, Any]:
    """One check of a long wait: ``payload`` with ``Done`` and, if not done, ``WaitSeconds``
    until the next check."""
    arn, now = str(payload["Arn"]), time.time()
    deadline = float(payload["Deadline"])
    checks = int(payload.get("Checks", 0)) + 1
    late = now >= deadline
    try:
        found = aws.get(kind, arn)
    except _CALL_ERRORS as error:
        if is_transient(error) and not late:
            logger.info("Reading %s %s must wait: %s", kind.noun, arn, error_code(error))
            return _again(payload, checks, now, deadline)
        return _signal(payload, False, failed(kind.read_operation, error, f"{kind.noun} {arn}"))
    if found is None:
        return _signal(
            payload,
            False,
            f"{kind.title} {arn} no longer exists: it was deleted outside CloudFormation or by a "
            "rollback.",
        )
    status = found.get("status")
    if status == "ACTIVE":
        logger.info("%s %s is ACTIVE", kind.title, arn)
        return _signal(payload, True, f"{kind.title} {arn} is ACTIVE")
    if status in kind.creating:
        if not late:
            return _again(payload, checks, now, deadline)
        return _signal(
            payload,
            False,
            f"{kind.title} {arn} is still {status} after WaitTimeoutSeconds="
            f"{payload['WaitTimeoutSeconds']}. Raise wait_timeout (at most "
            f"{limits.MAX_LONG_WAIT_SECONDS} seconds), or set wait_for_completion=False.",
        )
    details = found.get("statusDetails") or {}
    return _signal(
        payload,
        False,
        f"{kind.title} {arn} ended {status}: {details.get('statusCode', 'no status code')}: "
        f"{details.get('message', 'no message')}",
        secrets=_sensitive(kind, found),
    )


def _sensitive(kind: Kind, found: Mapping[str, Any]) -> list[str]:
    """What the resource as read holds that its service model marks sensitive (a job's SQL
    parameters): the service's message may quote it; the reason must not."""
    if kind.operations.get is None:
        return []
    shape = aws.output_shape(kind.service, kind.operations.get)
    return properties.sensitive_in_response(found, shape)


def _again(payload: Mapping[str, Any], checks: int, now: float, deadline: float) -> dict[str, Any]:
    interval = min(
        limits.LONG_WAIT_FIRST_CHECK_SECONDS * 2 ** (checks - 1), limits.LONG_WAIT_CHECK_SECONDS
    )
    # The last check falls on the deadline, so that a resource still creating is reported
    # before the WaitCondition times out on its own (with no reason).
    wait = max(1, min(interval, int(deadline - now) + 1))
    return {**payload, "Checks": checks, "Done": False, "WaitSeconds": wait}


def _signal(
    payload: Mapping[str, Any], success: bool, message: str, *, secrets: list[str] | None = None
) -> dict[str, Any]:
    """Put the outcome to the WaitCondition's handle, without ``secrets``; the loop ends (unless
    the put must be tried again)."""
    body = {
        "Status": "SUCCESS" if success else "FAILURE",
        "Reason": reason(message, secrets or []),
        "UniqueId": str(payload["Name"]),
        "Data": str(payload["Arn"]),
    }
    request = urllib.request.Request(  # noqa: S310 (an http(s) URL, checked by ``start``)
        str(payload["Handle"]),
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": ""},  # as the handle's presigned URL was signed
    )
    checks = int(payload.get("Checks", 0)) + 1
    try:
        with urllib.request.urlopen(request, timeout=SIGNAL_TIMEOUT_SECONDS):  # noqa: S310  # nosec B310
            pass
    except urllib.error.HTTPError as error:
        if error.code >= 500 and time.time() < float(payload["Deadline"]) + _SIGNAL_GRACE_SECONDS:
            logger.warning("Signaling the WaitCondition must wait: HTTP %s", error.code)
            return {**payload, "Checks": checks, "Done": False, "WaitSeconds": 30}
        # The handle refuses (its WaitCondition was deleted, its URL expired): no one waits.
        logger.warning("The WaitCondition refused the %s signal: %s", body["Status"], error.code)
    except OSError as error:
        if time.time() < float(payload["Deadline"]) + _SIGNAL_GRACE_SECONDS:
            logger.warning("Signaling the WaitCondition must wait: %s", type(error).__name__)
            return {**payload, "Checks": checks, "Done": False, "WaitSeconds": 30}
        logger.error("The WaitCondition could not be signaled: %s", type(error).__name__)
    logger.info("Long wait for %s ended: %s: %s", payload["Arn"], body["Status"], body["Reason"])
    return {**payload, "Checks": checks, "Done": True, "Status": body["Status"]}


def _execution_name(event: Mapping[str, Any], arn: str, handle: str) -> str:
    """One name per stack resource, resource and WaitCondition: a second start is refused."""
    digest = hashlib.sha256(f"{event['StackId']}\n{arn}\n{handle}".encode()).hexdigest()[:32]
    return f"{str(event['LogicalResourceId'])[:40]}-{digest}"
