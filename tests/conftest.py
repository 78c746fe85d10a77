"""Fixtures: a local Clean Rooms ML endpoint, and a stack that drives the handler through it."""

from __future__ import annotations

from collections.abc import Iterator

import index
import pytest
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint
from cloudformation import Stack
from local_endpoint import local_endpoint
from provider_runtime import RealProviderFramework
from secretsmanager_endpoint import SecretsManagerEndpoint, running


@pytest.fixture
def endpoint() -> Iterator[CleanRoomsMLEndpoint]:
    """A local endpoint, and standard boto3 configuration pointing the handler's client at it."""
    with local_endpoint(create_duration=0.05, delete_duration=0.05) as local:
        yield local


@pytest.fixture
def stack(endpoint: CleanRoomsMLEndpoint) -> Stack:
    """A stack served by the handler module through the real Provider framework runtime.

    Its waiter polls every 10 ms.
    """
    return Stack(RealProviderFramework(index, query_interval=0.01, total_timeout=30))


@pytest.fixture
def secrets(endpoint: CleanRoomsMLEndpoint) -> SecretsManagerEndpoint:
    """The local Secrets Manager endpoint the handler is pointed at (with ``endpoint``)."""
    double = running()
    assert double is not None, "local_endpoint() runs one"
    return double
