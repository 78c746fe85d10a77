"""The handler's only door to AWS: its boto3 clients and the calls built on them, for every kind.

Clients take their endpoint, credentials, Region and retry settings from standard boto3
configuration (``AWS_ENDPOINT_URL_CLEANROOMSML``, ``AWS_ENDPOINT_URL_CLOUDFORMATION``,
``AWS_ENDPOINT_URL_SFN``,
``AWS_MAX_ATTEMPTS``, ``AWS_RETRY_MODE``...), so tests point them at local endpoints with
environment variables alone.

Every invocation has a budget (``begin_invocation``): no attempt starts after it, and no attempt
outlasts its connect and read timeouts, so each call returns well inside the Lambda timeout. A
handler killed by the Lambda timeout would lose what it had started (the framework then reports
the failure under its own marker, and no Delete ever names the job).

The Lambda runtime's own botocore may predate ``sqlParameters`` and ``sqlComputeConfiguration``, so
the Clean Rooms ML service model this handler was written against ships in ``models/`` and goes
first on botocore's data path, before any client exists. Bundling boto3 would cost megabytes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import Failure, InvocationBudgetExceeded, classify, error_code, error_message
from .kind import Kind

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
# botocore reads its data path when the first session builds its loader, after this line.
os.environ["AWS_DATA_PATH"] = os.pathsep.join(
    [str(MODELS_DIR), *filter(None, os.environ.get("AWS_DATA_PATH", "").split(os.pathsep))]
)

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 15
INVOCATION_BUDGET_SECONDS = 60.0
"""No attempt starts later than this into an invocation: with one attempt's timeouts on top, every
invocation returns within 80 s, well inside the handler's 120 s Lambda timeout."""
LAMBDA_TIMEOUT_MARGIN_SECONDS = 40.0
"""With a Lambda context, the budget also ends this long before the function's own timeout."""

_STACK_GONE = "ValidationError"  # CloudFormation: "Stack with id ... does not exist", or resource

_budget_ends = float("inf")


def begin_invocation(context: Any = None) -> None:
    """Start this invocation's budget for AWS calls (see the module's docstring)."""
    global _budget_ends
    budget = INVOCATION_BUDGET_SECONDS
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = min(budget, remaining_ms() / 1000 - LAMBDA_TIMEOUT_MARGIN_SECONDS)
    _budget_ends = time.monotonic() + budget


def budget_left() -> float:
    """Seconds left for AWS calls in this invocation."""
    return _budget_ends - time.monotonic()


def _check_budget(**_: Any) -> None:
    if budget_left() <= 0:
        raise InvocationBudgetExceeded()


_CONFIG = Config(
    user_agent_extra="cdk-cleanrooms-ml",
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)


@functools.cache
def client(service: str = "cleanroomsml") -> Any:
    """The client of ``service``, with the invocation's budget checked before every attempt."""
    made = boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
    made.meta.events.register("before-send", _check_budget)
    return made


def cloudformation() -> Any:
    return client("cloudformation")


def call(service: str, operation: str, **parameters: Any) -> dict[str, Any]:
    """Operation ``operation`` (its service-model name) of ``service`` with these parameters."""
    response: dict[str, Any] = getattr(client(service), xform_name(operation))(**parameters)
    return response


def start_execution(state_machine_arn: str, name: str, payload: str) -> None:
    """Start the Step Functions execution ``name``; one that exists already is left running."""
    try:
        client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=payload
        )
    except ClientError as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise


def output_shape(service: str, operation: str) -> Any:
    """The service model's output shape of ``operation``."""
    return client(service).meta.service_model.operation_model(operation).output_shape


def input_shape(service: str, operation: str) -> Any:
    """The service model's input shape of ``operation`` (for ``properties.check_request``)."""
    return client(service).meta.service_model.operation_model(operation).input_shape


def get(kind: Kind, arn: str) -> dict[str, Any] | None:
    """The kind's Get of ``arn``, or None once the resource is gone.

    A kind without a Get (an export) is read from its list: the summary whose members are those
    ``arn`` (its handle) identifies, the list narrowed by those it takes as parameters.
    """
    if kind.operations.get is None:
        return _listed(kind, arn)
    try:
        found = unwrapped(kind, call(kind.service, kind.operations.get, **kind.identifiers(arn)))
        if not kind.tags_in_get:
            tags = call(kind.service, "ListTagsForResource", resourceArn=arn).get("tags")
            found["tags"] = tags or {}
    except ClientError as error:
        if classify(error) is Failure.NOT_FOUND:
            return None
        raise
    return found


def unwrapped(kind: Kind, response: dict[str, Any]) -> dict[str, Any]:
    """The resource in a create or Get response (some kinds wrap it in a member)."""
    if kind.response_member is None:
        return response
    inner: dict[str, Any] = response[kind.response_member]
    return inner


def _listed(kind: Kind, arn: str) -> dict[str, Any] | None:
    wanted = kind.identifiers(arn)
    parameters = input_shape(kind.service, kind.operations.list).members
    filters = {key: value for key, value in wanted.items() if key in parameters}
    for page in _pages(kind, filters):
        for summary in page.get(kind.list_member, []):
            if all(summary.get(key) == value for key, value in wanted.items()):
                return dict(summary)
    return None


def delete(kind: Kind, arn: str) -> None:
    if kind.operations.delete is None:
        raise ValueError(f"The API cannot delete {kind.a_noun}")  # the engine never asks it to
    call(kind.service, kind.operations.delete, **kind.identifiers(arn))


def find_arn(kind: Kind, name: str, filters: Mapping[str, Any] | None = None) -> str | None:
    """The ARN of the resource with this name (names are unique per account, or per the scope
    the list requires), or None.

    ``filters`` are the list's parameters: its required scope (``kind.list_scope``), and what
    narrows it (a job's model, say: fewer pages, but a resource outside holding the name is not
    found).
    """
    return next(iter(find_arns(kind, lambda candidate: candidate == name, filters)), None)


def find_arns(
    kind: Kind, matches: Callable[[str], bool], filters: Mapping[str, Any] | None = None
) -> list[str]:
    """The ARNs of the account's resources of ``kind`` whose names ``matches`` accepts."""
    return [
        kind.arn_of(summary)
        for page in _pages(kind, filters or {})
        for summary in page.get(kind.list_member, [])
        if matches(str(summary.get("name", "")))
    ]


def _pages(kind: Kind, filters: Mapping[str, Any]) -> Any:
    return (
        client(kind.service)
        .get_paginator(xform_name(kind.operations.list))
        .paginate(**filters, PaginationConfig={"PageSize": 100})
    )


def stack_resource(stack_id: str, logical_id: str) -> dict[str, Any] | None:
    """DescribeStackResource's detail of this resource, or None once it or its stack is gone."""
    try:
        response = cloudformation().describe_stack_resource(
            StackName=stack_id, LogicalResourceId=logical_id
        )
    except ClientError as error:
        if error_code(error) == _STACK_GONE and "does not exist" in error_message(error):
            return None
        raise
    detail: dict[str, Any] = response["StackResourceDetail"]
    return detail


def stack_status(stack_id: str) -> tuple[str, str] | None:
    """The stack's status and which operation it is in (its last update or creation time), or
    None once the stack is gone. A new operation, even one in the same status, has another time.
    """
    try:
        stacks = cloudformation().describe_stacks(StackName=stack_id)["Stacks"]
    except ClientError as error:
        if error_code(error) == _STACK_GONE and "does not exist" in error_message(error):
            return None
        raise
    if not stacks:
        return None
    stack = stacks[0]
    operation = stack.get("LastUpdatedTime") or stack.get("CreationTime")
    return str(stack["StackStatus"]), operation.isoformat() if operation else ""
