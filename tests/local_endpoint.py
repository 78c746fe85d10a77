"""The handler pointed at a local Clean Rooms ML endpoint by standard boto3 configuration only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.retries.standard
import cleanrooms_ml
import pytest
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint

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


@contextmanager
def local_endpoint(**options: Any) -> Iterator[CleanRoomsMLEndpoint]:
    """A running endpoint, and the handler's client pointed at it through the environment.

    botocore's standard retries still count and give up as they do in Lambda; only their sleeps
    (up to 1 s, 2 s, ... each) are dropped so that fault tests stay fast.
    """
    with pytest.MonkeyPatch.context() as patch, CleanRoomsMLEndpoint(**options) as local:
        for name, value in {**ENVIRONMENT, "AWS_ENDPOINT_URL_CLEANROOMSML": local.url}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", _no_delay)
        cleanrooms_ml.client.cache_clear()
        try:
            yield local
        finally:
            cleanrooms_ml.client.cache_clear()
