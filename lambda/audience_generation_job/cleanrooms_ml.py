"""The handler's only door to AWS: one boto3 Clean Rooms ML client and the calls built on it.

The client takes its endpoint, credentials, Region and retry settings from standard boto3
configuration (``AWS_ENDPOINT_URL_CLEANROOMSML``, ``AWS_MAX_ATTEMPTS``, ``AWS_RETRY_MODE``...), so
tests point it at a local endpoint with environment variables alone.

The Lambda runtime's own botocore may predate ``sqlParameters`` and ``sqlComputeConfiguration``, so
the Clean Rooms ML service model this handler was written against ships in ``models/`` and goes
first on botocore's data path, before any client exists. Bundling boto3 would cost megabytes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

MODELS_DIR = Path(__file__).resolve().parent / "models"
# botocore reads its data path when the first session builds its loader, after this line.
os.environ["AWS_DATA_PATH"] = os.pathsep.join(
    [str(MODELS_DIR), *filter(None, os.environ.get("AWS_DATA_PATH", "").split(os.pathsep))]
)

_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceQuotaExceededException",  # at most 10 jobs in progress: a slot frees up later
        "InternalServiceException",  # the model's name for its 500
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)

NOT_FOUND = "ResourceNotFoundException"
CONFLICT = "ConflictException"


@functools.cache
def client() -> Any:
    return boto3.client("cleanroomsml", config=Config(user_agent_extra="cdk-cleanrooms-ml"))


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
    if isinstance(error, (ConnectionError, HTTPClientError)):
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
