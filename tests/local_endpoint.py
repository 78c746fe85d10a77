"""The handler pointed at local Clean Rooms ML, Clean Rooms, CloudFormation and Secrets Manager
endpoints by standard boto3 configuration only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.retries.standard
import pytest
from cleanrooms.engine import aws, long_wait
from cleanrooms_endpoint import CleanRoomsEndpoint
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from cloudformation_endpoint import CloudFormationEndpoint
from long_wait_endpoints import StepFunctionsEndpoint, WaitConditionHandles
from secretsmanager_endpoint import SecretsManagerEndpoint

ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "3",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _no_delay(self: object, context: object) -> float:
    return 0.0


def _forget_clients() -> None:
    """Clear every cached function of the handler's AWS module: its clients keep their endpoint."""
    for value in vars(aws).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@contextmanager
def local_endpoint(**options: Any) -> Iterator[CleanRoomsMLEndpoint]:
    """A running Clean Rooms ML endpoint, and the handler's clients pointed at it.

    A CloudFormation endpoint runs alongside (``cloudformation_endpoint.running()``): every
    ``cloudformation.Stack`` made meanwhile publishes its statuses there, and the handler's
    DescribeStackResource and DescribeStacks reach it through ``AWS_ENDPOINT_URL_CLOUDFORMATION``.
    So does a Secrets Manager endpoint (``secretsmanager_endpoint.running()``, where a test adds
    its secrets), behind ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` (botocore's name for the service id
    "Secrets Manager"), and a Clean Rooms endpoint for configured audience model associations
    (``cleanrooms_endpoint.running()``, linked to the Clean Rooms ML one so that an association
    needs a configured model there), behind ``AWS_ENDPOINT_URL_CLEANROOMS``; and the two parties
    of a wait beyond the hour (``long_wait_endpoints``): Step Functions behind
    ``AWS_ENDPOINT_URL_SFN``, and WaitCondition handles (``WaitConditionHandles.running()``).

    botocore's standard retries still count and give up as they do in Lambda; only their sleeps
    (up to 1 s, 2 s, ... each) are dropped so that fault tests stay fast.
    """
    with (
        pytest.MonkeyPatch.context() as patch,
        CleanRoomsMLEndpoint(**options) as local,
        CloudFormationEndpoint() as cloudformation,
        SecretsManagerEndpoint() as secrets,
        CleanRoomsEndpoint(ml=local) as cleanrooms,
        StepFunctionsEndpoint() as states,
        WaitConditionHandles(),
    ):
        urls = {
            "AWS_ENDPOINT_URL_CLEANROOMSML": local.url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": cloudformation.url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets.url,
            "AWS_ENDPOINT_URL_CLEANROOMS": cleanrooms.url,
            "AWS_ENDPOINT_URL_SFN": states.url,
            long_wait.STATE_MACHINE_ENV: states.state_machine_arn,
        }
        for name, value in {**ENVIRONMENT, **urls}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", _no_delay)
        _forget_clients()
        try:
            yield local
        finally:
            _forget_clients()
