"""A real boto3 ``cleanroomsml`` client for the tests of the local Clean Rooms ML double.

Shared by ``test_cleanrooms_ml_endpoint`` and ``test_configured_audience_model_endpoint``: the
client, the environment that keeps real AWS configuration out, and ways to read a failure.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.standard
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint


def isolate_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS config leaks in, and botocore's retry backoff does not sleep."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLEANROOMSML",
        "AWS_MAX_ATTEMPTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0
    )


def make_client(endpoint: CleanRoomsMLEndpoint, *, validate: bool = True, attempts: int = 2) -> Any:
    """A boto3 client of the double; ``validate=False`` lets invalid input reach it."""
    config = Config(
        parameter_validation=validate, retries={"mode": "standard", "total_max_attempts": attempts}
    )
    return boto3.client(
        "cleanroomsml",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=endpoint.url,
        config=config,
    )


def failure(call: Callable[[], Any]) -> tuple[str, int, str]:
    """(error code, HTTP status, message) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def raw(
    endpoint: CleanRoomsMLEndpoint, method: str, path: str, body: bytes | None = None
) -> tuple[int, Any, Any]:
    """Send a hand-made, unsigned request: (status, headers, JSON document)."""
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(endpoint.url).netloc, timeout=5)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read() or b"{}")
    finally:
        connection.close()
