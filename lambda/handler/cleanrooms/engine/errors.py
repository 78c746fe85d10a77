"""One classifier for every failed AWS call, one message format, and the reason CloudFormation gets.

A failed call is one of four things (``Failure``): transient (the same call may well succeed later:
throttling, a full quota, a 5xx, a connection that failed, the invocation's time budget used up),
a conflict (a name taken, a resource busy), not found, or fatal (anything else: fail now, with the
service's message). Every message about a failed call reads ``<operation> (<subject>) failed:
<code>: <service message>``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from . import limits


class HandlerError(Exception):
    """A failure reported to CloudFormation, with a message a person can act on."""


class InvocationBudgetExceeded(BotoCoreError):
    """The invocation's time for AWS calls is up: the next poll tries again."""

    fmt = "The invocation's time budget for AWS calls is used up"


class Failure(enum.Enum):
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    NOT_FOUND = "not found"
    FATAL = "fatal"


_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",  # CloudFormation's name for it
        "ServiceQuotaExceededException",  # e.g. at most 10 jobs in progress: a slot frees up later
        "InternalServiceException",  # the model's name for its 500
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)
_NOT_FOUND = "ResourceNotFoundException"
_CONFLICT = "ConflictException"

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")
MIN_SCRUBBED_LENGTH = 4
"""Sensitive values at least this long are masked wherever they stand in a reason; shorter ones
only as whole words (masking every "7" would mangle the ARNs a reason must name)."""


def classify(error: Exception) -> Failure:
    """What a failed call means for the handler (after botocore's own retries ran out)."""
    if isinstance(error, (ConnectionError, HTTPClientError, InvocationBudgetExceeded)):
        return Failure.TRANSIENT
    if not isinstance(error, ClientError):
        return Failure.FATAL
    code = error_code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _TRANSIENT_CODES or status >= 500:
        return Failure.TRANSIENT
    if code == _CONFLICT:
        return Failure.CONFLICT
    if code == _NOT_FOUND:
        return Failure.NOT_FOUND
    return Failure.FATAL


def is_transient(error: Exception) -> bool:
    """Whether the same call may well succeed later."""
    return classify(error) is Failure.TRANSIENT


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def error_message(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", ""))
    return str(error)


def failed(operation: str, error: Exception, subject: str = "") -> str:
    """One message format for a failed call: the operation, the code, the service's message."""
    about = f" ({subject})" if subject else ""
    return f"{operation}{about} failed: {error_code(error)}: {error_message(error)}"


_sensitive: set[str] = set()


def remember_sensitive(values: Iterable[str]) -> None:
    """Values read at run time (a secret's) that no reason of this invocation may quote."""
    _sensitive.update(value for value in values if value)


def forget_sensitive() -> None:
    """Start an invocation with nothing remembered."""
    _sensitive.clear()


def reason(text: str, sensitive: Iterable[str] = ()) -> str:
    """The message for CloudFormation: one line, no sensitive value, at most
    ``limits.MAX_REASON_BYTES`` as JSON.

    The framework adds its own lines, the ids and Data; CloudFormation refuses a response body
    over 4096 bytes, and control characters grow sixfold when JSON-escaped.
    """
    for secret in sorted({*sensitive, *_sensitive}, key=len, reverse=True):
        if not secret.strip():
            continue
        text = text.replace(secret, "***") if len(secret) >= MIN_SCRUBBED_LENGTH else text
        text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    text = _CONTROL_CHARACTERS.sub(" ", text).strip()
    if _escaped_size(text) <= limits.MAX_REASON_BYTES:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with its ellipsis
        middle = (low + high + 1) // 2
        if _escaped_size(text[:middle] + "...") <= limits.MAX_REASON_BYTES:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "..."


def _escaped_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2
