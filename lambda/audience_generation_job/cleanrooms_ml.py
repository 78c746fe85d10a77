"""The handler's only door to AWS: its boto3 clients and the calls built on them.

Clients take their endpoint, credentials, Region and retry settings from standard boto3
configuration (``AWS_ENDPOINT_URL_CLEANROOMSML``, ``AWS_ENDPOINT_URL_CLOUDFORMATION``,
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

MODELS_DIR = Path(__file__).resolve().parent / "models"
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

_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",  # CloudFormation's name for it
        "ServiceQuotaExceededException",  # at most 10 jobs in progress: a slot frees up later
        "InternalServiceException",  # the model's name for its 500
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)

NOT_FOUND = "ResourceNotFoundException"
CONFLICT = "ConflictException"
_STACK_GONE = "ValidationError"  # CloudFormation: "Stack with id ... does not exist", or resource

_budget_ends = float("inf")


class InvocationBudgetExceeded(BotoCoreError):
    """The invocation's time for AWS calls is up: the next poll tries again."""

    fmt = "The invocation's time budget for AWS calls is used up"


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


def _guarded(made: Any) -> Any:
    """``made``, with the invocation's budget checked before every attempt (retries included)."""
    made.meta.events.register("before-send", _check_budget)
    return made


_CONFIG = Config(
    user_agent_extra="cdk-cleanrooms-ml",
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)


@functools.cache
def client() -> Any:
    return _guarded(boto3.client("cleanroomsml", config=_CONFIG))


@functools.cache
def cloudformation() -> Any:
    return _guarded(boto3.client("cloudformation", config=_CONFIG))


def start_input_shape() -> Any:
    """The service model's input shape of StartAudienceGenerationJob (for ``check_request``)."""
    return client().meta.service_model.operation_model("StartAudienceGenerationJob").input_shape


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def error_message(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", ""))
    return str(error)


def is_transient(error: Exception) -> bool:
    """Whether the same call may well succeed later (after botocore's own retries ran out)."""
    if isinstance(error, (ConnectionError, HTTPClientError, InvocationBudgetExceeded)):
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(error) in _TRANSIENT_CODES or status >= 500
    return False


def get_job(arn: str) -> dict[str, Any] | None:
    """GetAudienceGenerationJob, or None once the job is gone."""
    try:
        job: dict[str, Any] = client().get_audience_generation_job(audienceGenerationJobArn=arn)
    except ClientError as error:
        if error_code(error) == NOT_FOUND:
            return None
        raise
    return job


def find_job_arn(name: str, configured_audience_model_arn: str | None = None) -> str | None:
    """The ARN of the job with this name (names are unique per account), or None.

    With ``configured_audience_model_arn`` only that model's jobs are listed: fewer pages, but
    a job of another model holding the name is not found.
    """
    matches = find_job_arns(lambda candidate: candidate == name, configured_audience_model_arn)
    return next(iter(matches), None)


def find_job_arns(
    matches: Callable[[str], bool], configured_audience_model_arn: str | None = None
) -> list[str]:
    """The ARNs of the account's jobs whose names ``matches`` accepts (of one model, if given)."""
    parameters: dict[str, Any] = {"PaginationConfig": {"PageSize": 100}}
    if configured_audience_model_arn:
        parameters["configuredAudienceModelArn"] = configured_audience_model_arn
    pages = client().get_paginator("list_audience_generation_jobs").paginate(**parameters)
    return [
        str(summary["audienceGenerationJobArn"])
        for page in pages
        for summary in page.get("audienceGenerationJobs", [])
        if matches(str(summary.get("name", "")))
    ]


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
