"""Who a resource is: its generated name, its ownership tag, the physical ids the handler reports.

No create operation of these kinds takes a client token, but names are unique per account and kind.
A name derived from the request makes a retried or redelivered create meet ConflictException
instead of making a second resource, and the existing one can then be found by that name. The
ownership tag tells the handler's own resources from anyone else's, and which properties a resource
was created from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import limits
from .properties import OWNER_TAG_KEY

MAX_NAME_LENGTH = limits.MAX_NAME_LENGTH
_DIGEST_LENGTH = 12
PENDING_PREFIX = "cdk-cleanrooms-ml:pending-start:"
"""Physical id of a resource whose create is still owed (quota full, throttled): it carries the
name."""
_PENDING_REQUEST = re.compile(rf"([0-9a-f]{{{_DIGEST_LENGTH}}}):")
CREATE_FAILED_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
"""The Provider framework's physical id for a Create whose ``on_event`` failed."""


def generated_name(stack_id: str, logical_id: str, request_id: str) -> str:
    """A name unique per account and kind: the same for a redelivered event, new for a replacement.

    ``<stack name>-<logical id>-<digest>`` cut to 63 characters; the digest covers the full stack id
    (which holds the Region and a UUID), the logical id and the request id.
    """
    digest = hashlib.sha256(f"{stack_id}\n{logical_id}\n{request_id}".encode()).hexdigest()[
        :_DIGEST_LENGTH
    ]
    return generated_name_prefix(stack_id, logical_id) + digest


def generated_name_prefix(stack_id: str, logical_id: str) -> str:
    """What every name generated for this stack resource starts with."""
    readable = f"{_stack_name(stack_id)}-{logical_id}"[: MAX_NAME_LENGTH - _DIGEST_LENGTH - 1]
    return f"{readable}-"


@dataclass(frozen=True)
class Ownership:
    """What a resource's ownership tag records (each part "" when the tag lacks it).

    The tag's value is ``<owner>/<configuration>/<request>/<replaces>``: digests of the stack id and
    logical id, of the resource-defining properties, of the CloudFormation request that made it,
    and of the physical id it was made to replace ("" for a Create). Resources started by
    0.1.0 carry only the first two parts.
    """

    owner: str = ""
    configuration: str = ""
    request: str = ""
    replaces: str = ""

    def names(self, stack_id: str, logical_id: str) -> bool:
        """Whether this stack resource started the resource."""
        return self.owner == _owner(stack_id, logical_id)


def ownership(tags: Mapping[str, str]) -> Ownership:
    """The ownership a resource's tags record."""
    value = tags.get(OWNER_TAG_KEY)
    if value is None:
        return Ownership()
    parts = [*value.split("/"), "", "", ""][:4]
    return Ownership(*parts)


def owner_tag(
    stack_id: str,
    logical_id: str,
    configuration: str,
    *,
    request_id: str,
    replaces: str | None = None,
) -> dict[str, str]:
    """The ownership tag of a resource started by request ``request_id`` (see ``Ownership``)."""
    parts = (
        _owner(stack_id, logical_id),
        configuration,
        request_digest(request_id),
        replaced_digest(replaces) if replaces else "",
    )
    return {OWNER_TAG_KEY: "/".join(parts)}


def request_digest(request_id: str) -> str:
    """The request part of the ownership tag: a redelivered request has the same one."""
    return _digest(request_id)


def replaced_digest(physical_id: str) -> str:
    """The replaces part of the ownership tag of a resource started to replace ``physical_id``."""
    return _digest(physical_id)


def pending_id(name: str, request_id: str = "") -> str:
    """The physical id of a create still owed: the resource's name, after the request's digest.

    The digest tells the resource this request would make from another of the same name (one kept
    by RemovalPolicy.RETAIN, say), which a Delete of this id must leave alone. Ids written by 0.1.0
    carry only the name.
    """
    return PENDING_PREFIX + (f"{request_digest(request_id)}:" if request_id else "") + name


def pending_name(physical_id: str | None) -> str | None:
    """The resource name in a pending physical id, or None for any other id."""
    if physical_id and physical_id.startswith(PENDING_PREFIX):
        rest = physical_id[len(PENDING_PREFIX) :]
        return _PENDING_REQUEST.sub("", rest, count=1) or None
    return None


def pending_request(physical_id: str) -> str:
    """The request digest in a pending physical id ("" in one written by 0.1.0)."""
    match = _PENDING_REQUEST.match(physical_id[len(PENDING_PREFIX) :])
    return match.group(1) if physical_id.startswith(PENDING_PREFIX) and match else ""


CLAIM_TAG_KEY = "cdk-cleanrooms-ml:cancelled-create"
"""Tag the Delete of a cancelled create puts on the resource it removes, as the digest of its
physical id: a retry of that Delete, however late, still knows the resource for its own."""


def claim(physical_id: str) -> str:
    """The value of ``CLAIM_TAG_KEY`` for the Delete of ``physical_id``."""
    return _digest(physical_id)


def names(physical_id: str | None, arn: str, name: str) -> bool:
    """Whether ``physical_id`` is the resource's ARN or a pending id that carries its name."""
    return physical_id == arn or pending_name(physical_id) == name


def _owner(stack_id: str, logical_id: str) -> str:
    return hashlib.sha256(f"{stack_id}\n{logical_id}".encode()).hexdigest()[:20]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:_DIGEST_LENGTH]


def _stack_name(stack_id: str) -> str:
    # arn:aws:cloudformation:us-east-1:123456789012:stack/<name>/<uuid>
    parts = stack_id.split("/")
    name = parts[1] if len(parts) >= 3 else "stack"
    return re.sub(r"[^A-Za-z0-9-]", "-", name)
