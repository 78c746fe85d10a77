"""What a request's waiter knows: ``on_event`` writes it, every ``is_complete`` poll reads it.

It travels in the ``HandlerState`` key of the event, which the Provider framework passes on
unchanged (as JSON) to every poll. ``HandlerState.load`` reads what any release of the handler
wrote: a field an older release lacked takes its default.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from . import limits


@dataclass(frozen=True)
class Sweep:
    """How to recognise a resource this resource's request made and no stack resource holds.

    A failed replacement's (``replaces`` its physical id's digest), or a cancelled create's
    (``replaces`` "", made ``since`` then, or carrying the ``claim`` tag of this Delete).
    """

    config: str
    name: str | None
    prefix: str
    replaces: str
    since: float | None = None
    claim: str = ""
    scope: dict[str, Any] = field(default_factory=dict)
    """The list parameters the kind requires (``Kind.list_scope``) to look for it."""


@dataclass
class HandlerState:
    action: str
    """``start`` (create or replace), ``update`` (in place) or ``delete``: what the waiter does."""
    began: float
    deadline: float
    wait: int = 0
    """Seconds to wait for ACTIVE once started; 0: complete once it exists."""
    name: str = ""
    replacing: bool = False
    replaces: str | None = None
    held_name: str | None = None
    held_request: str = ""
    stack_status: list[str] | None = None
    """The stack's status and operation when the request arrived (see ``lifecycle._awaited``)."""
    tags: dict[str, str] = field(default_factory=dict)
    tags_applied: bool = False
    updated: bool = True
    """Whether the kind's update operation has run (an in-place update with changed members)."""
    rollback: bool = False
    """Whether this update rolls a failed one back."""
    long_wait: bool = False
    """Whether a long wait (``long_wait``) waits for ACTIVE once the resource exists."""
    sweep: Sweep | None = None

    @classmethod
    def begin(cls, action: str, wait_seconds: float, **values: Any) -> HandlerState:
        now = time.time()
        return cls(action=action, began=now, deadline=now + wait_seconds, **values)

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None) -> HandlerState | None:
        if not raw:
            return None
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in raw.items() if key in known}
        if values.get("action") == "tags":  # what releases before 0.3 called an in-place update
            values["action"] = "update"
        sweep = values.get("sweep")
        values["sweep"] = Sweep(**sweep) if sweep else None
        values["tags"] = dict(values.get("tags") or {})
        return cls(**values)

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def removal_deadline(self) -> float:
        """When removing what this request owes (a sweep, a cancelled waiter's resource) must
        end: the delete deadline from the request's start, whatever its ``WaitTimeoutSeconds``."""
        return self.began + limits.DELETE_TIMEOUT_SECONDS
