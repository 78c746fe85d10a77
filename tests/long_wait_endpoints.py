"""Local doubles of the two parties of a wait beyond the hour: Step Functions and a WaitCondition.

``StepFunctionsEndpoint`` answers ``StartExecution`` in the real JSON 1.0 protocol (``POST /``,
``X-Amz-Target: AWSStepFunctions.StartExecution``), with the service's idempotency: a second start
of the same name with the same input answers the first execution, with another input
``ExecutionAlreadyExists``. Member names and constraints come from botocore's model. It runs no
state machine: a test plays the executions it records (see ``deployment.py``).

``WaitConditionHandles`` stands for the presigned S3 URLs of ``AWS::CloudFormation::WaitCondition``
handles: ``new_handle()`` makes one, a PUT to it is a signal, recorded as CloudFormation does
(the last signal of a ``UniqueId`` wins). A handle can be made to refuse (403, as an expired or
deleted one does) or to drop the connection.

``local_endpoint()`` runs one of each; ``AWS_ENDPOINT_URL_SFN`` points the handler's client at the
first, and ``CLEANROOMS_ML_LONG_WAIT_STATE_MACHINE_ARN`` names ``STATE_MACHINE_ARN``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from cleanrooms_ml_endpoint import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, validate
from local_http import Answer, JsonDict, LocalHttpEndpoint, LocalHttpHandler, ServiceError

STATE_MACHINE_ARN = (
    f"arn:aws:states:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:stateMachine:"
    "CleanRoomsMLJobProviderLongWaitStateMachine4DF6EEA9-AbCdEf123456"
)
_MAX_BODY_BYTES = 1024 * 1024


@cache
def service_model() -> Any:
    """botocore's ServiceModel for Step Functions (loaded once)."""
    return botocore.session.get_session().get_service_model("stepfunctions")


@dataclass
class Execution:
    """A started execution: its name, input (parsed) and when it started."""

    arn: str
    name: str
    input: JsonDict
    raw_input: str
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class _StatesHandler(LocalHttpHandler):
    server_version = "StepFunctionsTestDouble/1.0"
    max_body_bytes = _MAX_BODY_BYTES
    do_POST = LocalHttpHandler.serve


class StepFunctionsEndpoint(LocalHttpEndpoint):
    """A threaded local HTTP server answering StartExecution for one state machine."""

    handler = _StatesHandler
    thread_name = "stepfunctions"
    internal_error = "ServiceUnavailable"
    bad_request = "ValidationException"

    def __init__(self, *, state_machine_arn: str = STATE_MACHINE_ARN) -> None:
        super().__init__({"StartExecution": self._start_execution})
        self.state_machine_arn = state_machine_arn
        self._executions: dict[str, Execution] = {}  # by name

    @property
    def executions(self) -> list[Execution]:
        """Every execution started, in order."""
        with self._lock:
            return list(self._executions.values())

    def _answer(self, method: str, target: str, body: bytes) -> Answer:
        return self._answer_with_headers(method, target, {}, body)

    def _answer_with_headers(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        amz_target = headers.get("x-amz-target", "")
        return self._guarded(amz_target or "<no target>", lambda: self._handle(amz_target, body))

    def _handle(self, target: str, body: bytes) -> Answer:
        prefix, _, operation = target.partition(".")
        if prefix != service_model().metadata["targetPrefix"] or operation not in self._operations:
            self._log_call(operation or target, {})
            return self._error_answer(
                ServiceError("UnknownOperationException", f"{target!r} is not served", 400)
            )
        params = json.loads(body or b"{}")
        problems = validate(params, service_model().operation_model(operation).input_shape)
        fault = self._log_call(operation, params)
        return self._carry_out(fault, operation, params, problems)

    def _success_answer(self, operation: str, result: JsonDict) -> Answer:
        problems = validate(result, service_model().operation_model(operation).output_shape)
        if problems:
            raise AssertionError(f"{operation} response drifted from the model: {problems}")
        return _json_answer(200, {**result, "startDate": result["startDate"].timestamp()})

    def _error_answer(self, error: ServiceError) -> Answer:
        return _json_answer(error.status, {"__type": error.code, "message": error.message})

    def _start_execution(self, params: JsonDict) -> JsonDict:
        if params["stateMachineArn"] != self.state_machine_arn:
            raise ServiceError(
                "StateMachineDoesNotExist",
                f"State Machine Does Not Exist: '{params['stateMachineArn']}'",
                400,
            )
        name, raw_input = params.get("name") or str(uuid.uuid4()), params.get("input", "{}")
        known = self._executions.get(name)
        if known is not None:
            if known.raw_input != raw_input:
                raise ServiceError(
                    "ExecutionAlreadyExists", f"Execution Already Exists: '{known.arn}'", 400
                )
            return {"executionArn": known.arn, "startDate": known.started}
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        execution = Execution(arn, name, json.loads(raw_input), raw_input)
        self._executions[name] = execution
        return {"executionArn": arn, "startDate": execution.started}


def _json_answer(status: int, document: JsonDict) -> Answer:
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())}
    return status, headers, json.dumps(document).encode()


# ----------------------------------------------------------------------- WaitCondition handles


@dataclass
class Signal:
    """One signal a WaitCondition got: its body as CloudFormation reads it."""

    status: str
    reason: str
    unique_id: str
    data: str


class _HandleHandler(LocalHttpHandler):
    server_version = "AmazonS3"
    max_body_bytes = 64 * 1024
    do_PUT = LocalHttpHandler.serve


class WaitConditionHandles(LocalHttpEndpoint):
    """Presigned handle URLs and the signals PUT to them."""

    handler = _HandleHandler
    thread_name = "wait-condition-handles"
    internal_error = "InternalError"
    bad_request = "InvalidRequest"

    def __init__(self) -> None:
        super().__init__({"Signal": lambda params: params})
        self._signals: dict[str, dict[str, Signal]] = {}  # handle id -> unique id -> signal
        self._refused: set[str] = set()

    def new_handle(self) -> str:
        """A new handle's URL (presigned: its query string is a secret)."""
        handle = uuid.uuid4().hex
        with self._lock:
            self._signals[handle] = {}
        return f"{self.url}/cloudformation-waitcondition/{handle}?X-Amz-Signature=handle-secret"

    def refuse(self, url: str) -> None:
        """Answer every later signal to ``url`` with 403 (its WaitCondition is gone)."""
        with self._lock:
            self._refused.add(_handle_id(url))

    def signals(self, url: str) -> list[Signal]:
        """The signals ``url`` holds, one per UniqueId."""
        with self._lock:
            return list(self._signals[_handle_id(url)].values())

    def _answer(self, method: str, target: str, body: bytes) -> Answer:
        return self._guarded(target, lambda: self._signal(target, body))

    def _signal(self, target: str, body: bytes) -> Answer:
        handle = _handle_id(target)
        fault = self._log_call("Signal", {"handle": handle})
        if fault is not None and fault.kind == "error":
            return self._error_answer(ServiceError(fault.code, fault.message, fault.status))
        with self._lock:
            if handle not in self._signals or handle in self._refused:
                return self._error_answer(ServiceError("AccessDenied", "Access Denied", 403))
            document = json.loads(body)
            missing = {"Status", "Reason", "UniqueId", "Data"} - document.keys()
            if missing or document["Status"] not in ("SUCCESS", "FAILURE"):
                return self._error_answer(
                    ServiceError("InvalidRequest", f"not a signal: {sorted(missing)}", 400)
                )
            self._signals[handle][document["UniqueId"]] = Signal(
                document["Status"], document["Reason"], document["UniqueId"], document["Data"]
            )
        return 200, {"ETag": '"signal"'}, b""

    def _success_answer(self, operation: str, result: JsonDict) -> Answer:
        return 200, {}, b""

    def _error_answer(self, error: ServiceError) -> Answer:
        document = f"<Error><Code>{error.code}</Code><Message>{error.message}</Message></Error>"
        return error.status, {"Content-Type": "application/xml"}, document.encode()


def _handle_id(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
