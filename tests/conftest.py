"""Fixtures: a local Clean Rooms ML endpoint, and a stack that drives the handler through it."""

from __future__ import annotations

from collections.abc import Iterator

import cleanrooms_ml
import index
import pytest
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from cloudformation import ProviderFramework, Stack


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[CleanRoomsMLEndpoint]:
    """A local endpoint, and standard boto3 configuration pointing the handler's client at it."""
    with CleanRoomsMLEndpoint(create_duration=0.05, delete_duration=0.05) as local:
        for name, value in {
            "AWS_ENDPOINT_URL_CLEANROOMSML": local.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "3",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        cleanrooms_ml.client.cache_clear()
        yield local
        cleanrooms_ml.client.cache_clear()


@pytest.fixture
def stack(endpoint: CleanRoomsMLEndpoint) -> Stack:
    """A stack whose custom resources are served by the handler module, polled every 10 ms."""
    return Stack(ProviderFramework(index, query_interval=0.01, total_timeout=30))
