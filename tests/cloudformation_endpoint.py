"""A local HTTP test double for CloudFormation's DescribeStacks and DescribeStackResource.

The handler's waiter asks CloudFormation whether its own stack resource is still being created or
updated by its request (a create can be cancelled, a request answered by another waiter). It does
so with an ordinary boto3 ``cloudformation`` client, so this endpoint speaks the real query
protocol: form-encoded ``Action=...&Version=...`` requests, XML answers and ``ErrorResponse``
errors. Operation and member names, which members are required, the XML namespace, the result
wrappers and the status enums are read from botocore's service model; only the error codes of
unmodeled errors (``ValidationError``, ``Throttling``, ``AccessDenied``...) are written by hand.

The stacks it serves are published by ``cloudformation.Stack`` (:meth:`put_stack`); any other
stack id answers "does not exist", as the real API does::

    with CloudFormationEndpoint() as endpoint:
        client = boto3.client("cloudformation", endpoint_url=endpoint.url, ...)
        endpoint.inject("DescribeStackResource", CloudFormationFault.throttle(), times=1)
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from cleanrooms_ml_endpoint import Fault, validate
from local_http import Answer, JsonDict, LocalHttpEndpoint, LocalHttpHandler, ServiceError

SERVICE_NAME = "cloudformation"
IMPLEMENTED_OPERATIONS = ("DescribeStackResource", "DescribeStacks")
_MAX_BODY_BYTES = 1024 * 1024


@cache
def service_model() -> Any:
    """botocore's ServiceModel for CloudFormation (loaded once)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def _modeled_error_status(code: str) -> int:
    """The HTTP status the model gives an error code (``error.code``); others need ``status=``."""
    for shape in service_model().error_shapes:
        error = shape.metadata["error"]
        if error.get("code", shape.name) == code:
            return int(error["httpStatusCode"])
    raise ValueError(f"{code} is not a modeled CloudFormation error code; pass status=")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ----------------------------------------------------------------------------- errors, faults


class CloudFormationError(ServiceError):
    """An error answered as a query-protocol ``ErrorResponse``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status)


class CloudFormationFault(Fault):
    """Faults with CloudFormation's error codes (``Throttling``, not ``ThrottlingException``)."""

    @staticmethod
    def throttle(message: str = "Rate exceeded") -> Fault:
        """``Throttling`` (400), which botocore retries as throttling."""
        return Fault("error", 400, "Throttling", message)

    @staticmethod
    def access_denied(message: str = "Not authorized to perform this action") -> Fault:
        """``AccessDenied`` (403): the handler's role lacks cloudformation:Describe*."""
        return Fault("error", 403, "AccessDenied", message)

    @staticmethod
    def server_error(status: int = 500, code: str = "InternalFailure") -> Fault:
        """A 5xx instead of an answer (botocore retries it)."""
        return Fault.server_error(status, code)

    @staticmethod
    def after_success(status: int = 500, code: str = "InternalFailure") -> Fault:
        """Look the answer up, then answer a 5xx anyway."""
        return Fault.after_success(status, code)

    @staticmethod
    def error(code: str, status: int | None = None, message: str = "Injected error") -> Fault:
        """Any error; ``status`` defaults to the model's for ``code`` (400 is not assumed)."""
        resolved = status if status is not None else _modeled_error_status(code)
        return Fault("error", resolved, code, message)


# -------------------------------------------------------------------------------------- state


@dataclass
class ResourceRecord:
    """A stack resource as DescribeStackResource reports it."""

    logical_id: str
    resource_type: str
    status: str
    last_updated: datetime = field(default_factory=_utcnow)
    physical_id: str | None = None  # none while a create is in progress
    status_reason: str | None = None


@dataclass
class StackRecord:
    """A stack as DescribeStacks reports it, with its resources."""

    stack_id: str
    status: str
    creation_time: datetime = field(default_factory=_utcnow)
    last_updated_time: datetime | None = None
    deletion_time: datetime | None = None
    resources: dict[str, ResourceRecord] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return stack_name(self.stack_id)


def stack_name(stack_id: str) -> str:
    """The name inside a stack id, ``arn:...:stack/<name>/<uuid>``."""
    return stack_id.split(":", 5)[-1].split("/")[1]


# ------------------------------------------------------------------------------- wire format


def parse_query(body: bytes) -> tuple[str, str, dict[str, str], list[str]]:
    """Action, Version, the other parameters (last value wins) and problems of a form body."""
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        return "", "", {}, [f"Request body is not form-encoded: {exc}"]
    params = {name: values[-1] for name, values in fields.items()}
    return params.pop("Action", ""), params.pop("Version", ""), params, []


def input_params(operation_model: Any, raw: dict[str, str]) -> tuple[JsonDict, list[str]]:
    """The operation's scalar input members from query parameters, plus unknown-member problems.

    The two implemented operations take only strings, so values stay strings; validation then
    reports a wrongly typed member rather than this parser guessing.
    """
    shape = operation_model.input_shape
    by_wire = {
        member.serialization.get("name", name): name for name, member in shape.members.items()
    }
    params = {by_wire[key]: value for key, value in raw.items() if key in by_wire}
    problems = [f"Unknown parameter '{key}'" for key in raw if key not in by_wire]
    return params, problems


def _timestamp(value: datetime) -> str:
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_xml(name: str, value: Any, shape: Any) -> str:
    """One element of a query-protocol response, members named and ordered by the shape."""
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(
            to_xml(member.serialization.get("name", key), value[key], member)
            for key, member in shape.members.items()
            if value.get(key) is not None
        )
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        inner = "".join(to_xml(item, entry, shape.member) for entry in value)
    elif kind == "timestamp":
        inner = _timestamp(value)
    elif kind == "boolean":
        inner = "true" if value else "false"
    elif kind in ("string", "integer", "long"):
        inner = escape(str(value))
    else:
        raise TypeError(f"{kind} members are not serialized by the double ({name})")
    return f"<{name}>{inner}</{name}>"


def _xml_answer(status: int, document: str, request_id: str) -> Answer:
    headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    return status, headers, f'<?xml version="1.0"?>\n{document}'.encode()


# ------------------------------------------------------------------------------ the endpoint


def running() -> CloudFormationEndpoint | None:
    """The endpoint started last that still runs: where ``cloudformation.Stack`` publishes."""
    return CloudFormationEndpoint.running()


class _Handler(LocalHttpHandler):
    """The query protocol: POST to ``/`` only."""

    server_version = "CloudFormationTestDouble/1.0"
    max_body_bytes = _MAX_BODY_BYTES
    do_POST = LocalHttpHandler.serve


class CloudFormationEndpoint(LocalHttpEndpoint):
    """A threaded local HTTP server answering DescribeStacks and DescribeStackResource."""

    handler = _Handler
    thread_name = "cloudformation"
    internal_error = "InternalFailure"
    bad_request = "ValidationError"

    def __init__(self, *, validate_responses: bool = __debug__) -> None:
        super().__init__(
            {
                "DescribeStackResource": self._describe_stack_resource,
                "DescribeStacks": self._describe_stacks,
            }
        )
        self.validate_responses = validate_responses
        self._stacks: dict[str, StackRecord] = {}
        model = service_model()  # loaded before requests arrive on several threads
        self.namespace: str = model.metadata["xmlNamespace"]
        self.api_version: str = model.metadata["apiVersion"]

    def put_stack(self, stack: StackRecord) -> None:
        """Serve a copy of ``stack`` from now on (``cloudformation.Stack`` calls this)."""
        with self._lock:
            self._stacks[stack.stack_id] = copy.deepcopy(stack)

    # --------------------------------------------------------------------- request handling

    def handle_request(self, body: bytes) -> Answer:
        """Answer one POSTed form body (also usable without the server); never raises."""
        return self._guarded(repr(body[:200]), lambda: self._handle(body))

    def _answer(self, method: str, target: str, body: bytes) -> Answer:
        if target.split("?", 1)[0] != "/":
            return self._error_answer(
                CloudFormationError("InvalidAction", f"No route: {method} {target}", 404)
            )
        return self.handle_request(body)

    def _handle(self, body: bytes) -> Answer:
        action, version, raw, problems = parse_query(body)
        if action not in self._operations:
            self._log_call(action, {})
            return self._error_answer(_unknown_action(action, self.api_version))
        operation_model = service_model().operation_model(action)
        params, unknown = input_params(operation_model, raw)
        problems += unknown + validate(params, operation_model.input_shape)
        fault = self._log_call(action, params)
        if version != self.api_version:
            message = f"Version {version!r} is not {self.api_version!r}"
            return self._error_answer(CloudFormationError("InvalidParameterValue", message))
        return self._carry_out(fault, action, params, problems)

    def _success_answer(self, operation: str, result: JsonDict) -> Answer:
        shape = service_model().operation_model(operation).output_shape
        problems = validate(result, shape) if self.validate_responses else []
        if problems:
            raise AssertionError(f"{operation} response drifted: {problems}")
        request_id = str(uuid.uuid4())
        wrapped = to_xml(shape.serialization["resultWrapper"], result, shape)
        metadata = f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        name = f"{operation}Response"
        document = f'<{name} xmlns="{self.namespace}">{wrapped}{metadata}</{name}>'
        return _xml_answer(200, document, request_id)

    def _error_answer(self, error: ServiceError) -> Answer:
        request_id = str(uuid.uuid4())
        kind = "Receiver" if error.status >= 500 else "Sender"
        document = (
            f'<ErrorResponse xmlns="{self.namespace}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return _xml_answer(error.status, document, request_id)

    # ------------------------------------------------------------ operations (lock is held)

    def _stack(self, name_or_id: str) -> StackRecord:
        """By stack id (deleted stacks too), or by name (only stacks not deleted), as AWS does."""
        if name_or_id in self._stacks:
            return self._stacks[name_or_id]
        for stack in self._stacks.values():
            if stack.name == name_or_id and stack.status != "DELETE_COMPLETE":
                return stack
        raise CloudFormationError("ValidationError", f"Stack with id {name_or_id} does not exist")

    def _describe_stack_resource(self, params: JsonDict) -> JsonDict:
        stack = self._stack(params["StackName"])
        logical_id = params["LogicalResourceId"]
        resource = stack.resources.get(logical_id)
        if resource is None:
            message = f"Resource {logical_id} does not exist for stack {stack.name}"
            raise CloudFormationError("ValidationError", message)
        detail = {
            "StackName": stack.name,
            "StackId": stack.stack_id,
            "LogicalResourceId": resource.logical_id,
            "PhysicalResourceId": resource.physical_id,
            "ResourceType": resource.resource_type,
            "LastUpdatedTimestamp": resource.last_updated,
            "ResourceStatus": resource.status,
            "ResourceStatusReason": resource.status_reason,
        }
        return {"StackResourceDetail": _present(detail)}

    def _describe_stacks(self, params: JsonDict) -> JsonDict:
        if "NextToken" in params:
            raise CloudFormationError("ValidationError", "Invalid NextToken: there is one page")
        if "StackName" in params:
            stacks = [self._stack(params["StackName"])]
        else:
            stacks = [s for s in self._stacks.values() if s.status != "DELETE_COMPLETE"]
        described = [
            _present(
                {
                    "StackId": stack.stack_id,
                    "StackName": stack.name,
                    "CreationTime": stack.creation_time,
                    "LastUpdatedTime": stack.last_updated_time,
                    "DeletionTime": stack.deletion_time,
                    "StackStatus": stack.status,
                }
            )
            for stack in stacks
        ]
        return {"Stacks": described}


def _present(document: JsonDict) -> JsonDict:
    return {key: value for key, value in document.items() if value is not None}


def _unknown_action(action: str, api_version: str) -> CloudFormationError:
    if not action:
        return CloudFormationError("MissingAction", "Missing Action")
    if action in service_model().operation_names:
        return CloudFormationError("InvalidAction", f"{action} is not implemented by the double")
    message = f"Could not find operation {action} for version {api_version}"
    return CloudFormationError("InvalidAction", message)
