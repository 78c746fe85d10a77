"""Reading a synthesized template the way the construct tests do: a resource's properties, the
shared handler's policy statements, one statement by action. Never by generated logical ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk.assertions import Template


def properties(template: Template, resource_type: str) -> dict[str, Any]:
    """The properties of the one resource of ``resource_type``."""
    (resource,) = template.find_resources(resource_type).values()
    found: dict[str, Any] = resource["Properties"]
    return found


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    """The logical id of a CfnElement or a construct's default child (to compare, never assert)."""
    element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    return stack.get_logical_id(cast(cdk.CfnElement, element))


def handler_statements(template: Template, prefix: str = "cleanrooms") -> list[dict[str, Any]]:
    """The statements of the shared handler's policy: the one that grants ``prefix`` actions."""
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(f'"{prefix}' in json.dumps(s.get("Action")) for s in statements):
            return statements
    raise AssertionError(f"no policy grants {prefix} actions")


def actions_of(statement: Mapping[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted([action] if isinstance(action, str) else action)


def statement_with(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    """The one statement that grants ``action``."""
    matches = [s for s in statements if action in actions_of(s)]
    assert len(matches) == 1, f"{action}: {matches}"
    return matches[0]
