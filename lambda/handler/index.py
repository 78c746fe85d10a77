"""Entry points of the handler Lambda: every Clean Rooms ML custom resource of the stack.

The Provider framework calls ``on_event`` for each CloudFormation request and ``is_complete`` until
it is done. Both dispatch on the event's ``ResourceType`` to a kind (``cleanrooms.kinds``), which
the lifecycle engine (``cleanrooms.engine.lifecycle``) then runs. ``watch`` is one check of a wait
beyond the hour (``cleanrooms.engine.long_wait``), called by the stack's long-wait state machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cleanrooms.engine import aws, lifecycle, long_wait
from cleanrooms.engine.errors import HandlerError
from cleanrooms.kinds import kind_of

__all__ = ["HandlerError", "is_complete", "on_event", "watch"]


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    return lifecycle.on_event(_kind(event), event, context)


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    return lifecycle.is_complete(_kind(event), event, context)


def watch(payload: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    aws.begin_invocation(context)
    return long_wait.check(_kind(payload), payload)


def _kind(event: Mapping[str, Any]) -> Any:
    try:
        return kind_of(str(event.get("ResourceType", "")))
    except ValueError as error:
        raise HandlerError(str(error)) from None
