"""A local HTTP test double for the AWS Clean Rooms ML REST-JSON API.

It serves audience models (trained on registered training datasets), configured audience
models (with their resource policy), audience generation jobs, audience export jobs, and the
tags of the resources that have ARNs. An ordinary boto3 ``cleanroomsml`` client pointed at
:attr:`CleanRoomsMLEndpoint.url` works unchanged.  Everything protocol-shaped (routes, member
locations, constraints, error status codes, timestamp formats) is read from the service model
botocore loads (its bundled one unless ``AWS_DATA_PATH`` says otherwise); only the service
*rules* (name conflicts, quota, asynchronous statuses, tag limits, policy hashes) are written
by hand. An operation the loaded model lacks is simply not served::

    with CleanRoomsMLEndpoint(create_duration=0.0, delete_duration=0.0) as endpoint:
        client = boto3.client("cleanroomsml", endpoint_url=endpoint.url, ...)
        endpoint.inject("StartAudienceGenerationJob", Fault.throttle(), times=1)

Standard library and botocore only.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from local_http import (
    Answer,
    JsonDict,
    LocalHttpEndpoint,
    LocalHttpHandler,
    ServiceError,
    validation_message,
)

Response = Answer

SERVICE_NAME = "cleanroomsml"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
MAX_USER_TAGS = 50
IMPLEMENTED_OPERATIONS = (
    "StartAudienceGenerationJob",
    "GetAudienceGenerationJob",
    "DeleteAudienceGenerationJob",
    "ListAudienceGenerationJobs",
    "CreateConfiguredAudienceModel",
    "GetConfiguredAudienceModel",
    "UpdateConfiguredAudienceModel",
    "DeleteConfiguredAudienceModel",
    "ListConfiguredAudienceModels",
    "PutConfiguredAudienceModelPolicy",
    "GetConfiguredAudienceModelPolicy",
    "DeleteConfiguredAudienceModelPolicy",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "CreateAudienceModel",
    "GetAudienceModel",
    "ListAudienceModels",
    "DeleteAudienceModel",
    "StartAudienceExportJob",
    "ListAudienceExportJobs",
)
CREATING = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})
DELETING = frozenset({"DELETE_PENDING", "DELETE_IN_PROGRESS"})
INTERNAL_ERROR = "InternalServiceException"  # the model's 500 error shape
_MAX_BODY_BYTES = 16 * 1024 * 1024
_MAX_PROBLEMS = 10
_MAX_SLEEP = 60.0


# ------------------------------------------------------------------------------------- model


@cache
def service_model() -> Any:
    """botocore's ServiceModel for Clean Rooms ML (loaded once)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def error_status(code: str) -> int | None:
    """The model's ``error.httpStatusCode`` for an error shape, or None if not modeled."""
    model = service_model()
    if code not in model.shape_names:
        return None
    error = model.shape_for(code).metadata.get("error")
    return int(error["httpStatusCode"]) if error else None


def _output(operation: str) -> Any:
    return service_model().operation_model(operation).output_shape


def job_statuses() -> tuple[str, ...]:
    """The model's AudienceGenerationJobStatus enum."""
    return tuple(_output("GetAudienceGenerationJob").members["status"].enum)


def served_operations() -> tuple[str, ...]:
    """The implemented operations that the loaded service model has (an older one may lack some)."""
    modeled = set(service_model().operation_names)
    return tuple(name for name in IMPLEMENTED_OPERATIONS if name in modeled)


def _check_as(value: Any, operation: str, member: str) -> None:
    """ValueError unless a test control's ``value`` fits an operation's input member as the API
    would check it (not checked if the loaded model lacks the operation)."""
    if operation not in service_model().operation_names:
        return
    shape = service_model().operation_model(operation).input_shape.members[member]
    problems = validate(value, shape, member)
    if problems:
        raise ValueError("; ".join(problems))


def policy_hash(policy: str) -> str:
    """The hash Put/GetConfiguredAudienceModelPolicy report: SHA-256 of the policy text, hex."""
    return hashlib.sha256(policy.encode()).hexdigest()


# ---------------------------------------------------------------------------- errors, faults


class ApiError(ServiceError):
    """A service error answered as rest-json; status from the model unless given."""

    def __init__(self, code: str, message: str, *, status: int | None = None, **fields: Any):
        resolved = status if status is not None else error_status(code)
        if resolved is None:
            raise ValueError(f"{code} is not a modeled error shape; pass status=")
        super().__init__(code, message, resolved, **fields)


def validation_error(problems: list[str]) -> ApiError:
    """A ValidationException listing constraint violations, AWS style."""
    return ApiError("ValidationException", validation_message(problems))


@dataclass(frozen=True)
class Fault:
    """One injected behaviour; build it with the static constructors."""

    kind: Literal["error", "after_success", "slow"]
    status: int = 0
    code: str = ""
    message: str = ""
    seconds: float = 0.0

    @staticmethod
    def throttle(message: str = "Rate exceeded") -> Fault:
        """ThrottlingException instead of carrying the request out."""
        return Fault.error("ThrottlingException", message=message)

    @staticmethod
    def access_denied(message: str = "Not authorized to perform this action") -> Fault:
        """AccessDeniedException instead of carrying the request out."""
        return Fault.error("AccessDeniedException", message=message)

    @staticmethod
    def server_error(status: int = 500, code: str = INTERNAL_ERROR) -> Fault:
        """A generic 5xx instead of carrying the request out (botocore retries it)."""
        return Fault("error", _5xx(status), code, "Internal error. Try again later.")

    @staticmethod
    def after_success(status: int = 500, code: str = INTERNAL_ERROR) -> Fault:
        """Carry the request out, then answer a 5xx anyway: a lost response."""
        return Fault("after_success", _5xx(status), code, "Internal error. Try again later.")

    @staticmethod
    def slow(seconds: float) -> Fault:
        """Sleep ``seconds`` (at most 60), then answer normally."""
        if not 0 <= seconds <= _MAX_SLEEP:
            raise ValueError(f"slow faults sleep between 0 and {_MAX_SLEEP} seconds")
        return Fault("slow", seconds=seconds)

    @staticmethod
    def error(code: str, status: int | None = None, message: str = "Injected error") -> Fault:
        """Any error; ``status`` defaults to the model's status for ``code``."""
        resolved = status if status is not None else error_status(code)
        if resolved is None:
            raise ValueError(f"{code} is not a modeled error shape; pass status=")
        return Fault("error", resolved, code, message)

    def as_api_error(self) -> ApiError:
        """The error this fault answers with."""
        return ApiError(self.code, self.message, status=self.status)


def _5xx(status: int) -> int:
    if not 500 <= status <= 599:
        raise ValueError(f"expected a 5xx status, got {status}")
    return status


# -------------------------------------------------------------------------------- validation

_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "structure": ((dict,), "a structure"),
    "map": ((dict,), "a map"),
    "list": ((list,), "a list"),
    "string": ((str,), "a string"),
    "integer": ((int,), "an integer"),
    "long": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "double": ((int, float), "a number"),
    "boolean": ((bool,), "a boolean"),
    "timestamp": ((datetime, int, float, str), "a timestamp"),
}


def validate(value: Any, shape: Any, path: str = "") -> list[str]:
    """Problems of ``value`` (member names as keys) against a botocore shape; [] if it fits."""
    checker = _Validator()
    checker.check(value, shape, path, sensitive=False)
    return checker.problems


def _is_a(value: Any, kind: str) -> bool:
    """Whether a python value has the JSON type of a shape kind (bool is not a number)."""
    if kind not in _TYPES:
        return True
    return isinstance(value, _TYPES[kind][0]) and (kind == "boolean" or not isinstance(value, bool))


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Validator:
    """Walks a value and a shape together, collecting constraint violations."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, value: Any, path: str, rule: str, sensitive: bool) -> None:
        shown = "***" if sensitive else repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        where = path or "<root>"
        self.problems.append(f"Value {shown} at '{where}' failed to satisfy constraint: {rule}")

    def check(self, value: Any, shape: Any, path: str, sensitive: bool) -> None:
        if len(self.problems) >= _MAX_PROBLEMS:
            return
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        kind = shape.type_name
        if not _is_a(value, kind):
            self.fail(value, path, f"Member must be {_TYPES[kind][1]}", sensitive)
            return
        self.check_bounds(value, shape.metadata, path, sensitive)
        if kind == "string":
            self.check_string(value, shape.metadata, path, sensitive)
        elif kind == "structure":
            self.check_structure(value, shape, path, sensitive)
        elif kind == "list":
            for index, item in enumerate(value):
                self.check(item, shape.member, f"{path}[{index}]", sensitive)
        elif kind == "map":
            for key, item in value.items():
                self.check(key, shape.key, f"{path}(key)", sensitive)
                self.check(item, shape.value, f"{path}[{key!r}]", sensitive)

    def check_bounds(self, value: Any, meta: Mapping[str, Any], path: str, sensitive: bool) -> None:
        sized = isinstance(value, (str, list, dict))
        if not sized and not isinstance(value, (int, float)):
            return
        measured, what = (len(value), "length") if sized else (value, "value")
        if meta.get("min") is not None and measured < meta["min"]:
            rule = f"Member must have {what} greater than or equal to {meta['min']}"
            self.fail(value, path, rule, sensitive)
        if meta.get("max") is not None and measured > meta["max"]:
            rule = f"Member must have {what} less than or equal to {meta['max']}"
            self.fail(value, path, rule, sensitive)

    def check_string(self, value: str, meta: Mapping[str, Any], path: str, sensitive: bool) -> None:
        if meta.get("enum") and value not in meta["enum"]:
            rule = f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"
            self.fail(value, path, rule, sensitive)
        pattern = meta.get("pattern")
        if pattern is not None and _compiled(pattern).fullmatch(value) is None:
            rule = f"Member must satisfy regular expression pattern: {pattern}"
            self.fail(value, path, rule, sensitive)

    def check_structure(self, value: JsonDict, shape: Any, path: str, sensitive: bool) -> None:
        unknown = [name for name in value if name not in shape.members]
        self.problems += [f"Unknown member '{_join(path, str(name))}'" for name in unknown]
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _join(path, name), "Member must not be null", sensitive)
        present = [k for k, v in value.items() if v is not None and k in shape.members]
        if shape.metadata.get("union") and len(present) != 1:
            self.fail(present, path, "Union must have exactly one member set", sensitive)
        for name in present:
            self.check(value[name], shape.members[name], _join(path, name), sensitive)


# ------------------------------------------------------------------------------- wire format


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    regex: re.Pattern[str]
    labels: tuple[str, ...]


def _compile_route(operation_model: Any) -> _Route:
    """Turn a requestUri (``/x/{label}``, greedy ``{label+}``) into a path regex."""
    uri = operation_model.http["requestUri"].split("?", 1)[0]
    found = re.findall(r"\{([^}]+)\}", uri)
    groups = ["(.+)" if label.endswith("+") else "([^/]+)" for label in found]
    literals = re.split(r"\{[^}]+\}", uri)
    regex = "".join(re.escape(lit) + grp for lit, grp in zip(literals, [*groups, ""], strict=True))
    labels = tuple(label.rstrip("+") for label in found)
    return _Route(operation_model.name, operation_model.http["method"], re.compile(regex), labels)


def compile_routes(model: Any, served: tuple[str, ...]) -> tuple[_Route, ...]:
    """Routes of every operation of a REST service model, the ``served`` ones first."""
    rest = [name for name in model.operation_names if name not in served]
    return tuple(_compile_route(model.operation_model(n)) for n in [*served, *rest])


def find_route(
    routes: tuple[_Route, ...], method: str, path: str
) -> tuple[str, dict[str, str]] | None:
    """(operation name, unquoted URI labels) of the first route a request matches, or None."""
    for route in routes:
        found = route.regex.fullmatch(path) if route.method == method else None
        if found is not None:
            return route.operation, dict(
                zip(route.labels, map(unquote, found.groups()), strict=True)
            )
    return None


@cache
def _routes() -> tuple[_Route, ...]:
    """Routes of every modeled operation, implemented ones first."""
    return compile_routes(service_model(), served_operations())


def match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(operation name, unquoted URI labels) of a request, or None."""
    return find_route(_routes(), method, path)


def _wire_name(name: str, member: Any) -> str:
    return str(member.serialization.get("name", name))


def _from_text(raw: str, shape: Any) -> Any:
    """A querystring value as the member's type (left raw when it does not parse)."""
    converters: dict[str, Callable[[str], Any]] = {
        "integer": int,
        "long": int,
        "float": float,
        "double": float,
    }
    try:
        if shape.type_name in converters:
            return converters[shape.type_name](raw)
    except ValueError:
        return raw
    return {"true": True, "false": False}.get(raw, raw) if shape.type_name == "boolean" else raw


def _from_wire(value: Any, shape: Any) -> Any:
    """A JSON body value with member names as keys (unknown keys kept for validation)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        by_wire = {_wire_name(name, member): name for name, member in shape.members.items()}
        return {
            by_wire.get(k, k): _from_wire(v, shape.members[by_wire[k]]) if k in by_wire else v
            for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_from_wire(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _from_wire(item, shape.value) for key, item in value.items()}
    return value


def parse_request(
    operation_model: Any, labels: Mapping[str, str], query: str, body: bytes
) -> tuple[JsonDict, list[str]]:
    """The operation's params from URI labels, querystring and JSON body, plus parse problems."""
    shape = operation_model.input_shape
    params: JsonDict = {}
    problems: list[str] = []
    query_values = parse_qs(query, keep_blank_values=True)
    body_members: dict[str, str] = {}
    for name, member in shape.members.items() if shape is not None else ():
        location, wire = member.serialization.get("location"), _wire_name(name, member)
        if location == "uri" and wire in labels:
            params[name] = labels[wire]
        elif location == "querystring" and wire in query_values:
            raw = query_values[wire]
            if member.type_name == "list":
                params[name] = [_from_text(item, member.member) for item in raw]
            else:
                params[name] = _from_text(raw[-1], member)
        elif location is None:
            body_members[wire] = name
    for key, value in _decode_body(body, problems).items():
        if key in body_members:
            params[body_members[key]] = _from_wire(value, shape.members[body_members[key]])
        else:
            problems.append(f"Unknown member '{key}' in request body")
    return params, problems


def _decode_body(body: bytes, problems: list[str]) -> JsonDict:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"Request body is not valid JSON: {exc}")
        return {}
    if not isinstance(document, dict):
        problems.append("Request body must be a JSON object")
        return {}
    return document


def to_wire(value: Any, shape: Any) -> Any:
    """A python value (member names as keys) as rest-json body JSON."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {
            _wire_name(name, members[name]): to_wire(item, members[name])
            for name, item in value.items()
            if item is not None and "location" not in members[name].serialization
        }
    if kind == "list":
        return [to_wire(item, shape.member) for item in value]
    if kind == "map":
        return {key: to_wire(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        utc = value.astimezone(timezone.utc)
        if shape.serialization.get("timestampFormat", "unixTimestamp") == "iso8601":
            return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
        return utc.timestamp()
    return float(value) if kind in ("float", "double") else value


def _json_response(status: int, document: JsonDict, error_code: str | None = None) -> Response:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if error_code is not None:
        headers["x-amzn-ErrorType"] = error_code
    return status, headers, json.dumps(document).encode()


# ------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class _Outcome:
    final_status: str | None  # None: the job disappears (a successful delete)
    status_code: str | None = None
    message: str | None = None
    stuck: bool = False


_ECHOED_START_PARAMS = (
    "description",
    "configuredAudienceModelArn",
    "seedAudience",
    "includeSeedInOutput",
    "collaborationId",
)
_ACTIVE = _Outcome("ACTIVE")
_GONE = _Outcome(None)
_DEFAULT_MIN_MATCHING_SEED_SIZE = 500  # "The default value is 500." (CreateConfiguredAudienceModel)


@dataclass
class JobRecord:
    """An audience generation job as the double holds it (accessors hand out copies)."""

    arn: str
    name: str
    params: JsonDict  # the StartAudienceGenerationJob request
    tags: dict[str, str]
    status: str
    create_time: datetime
    update_time: datetime
    seq: int
    status_details: dict[str, str] | None = None
    gone: bool = False
    phase: Literal["create", "delete", "settled"] = "create"
    phase_started: float = 0.0
    outcome: _Outcome = _ACTIVE


@dataclass
class ModelRecord:
    """A configured audience model, registered by a test or created through the API.

    ``params`` holds its members as GetConfiguredAudienceModel reports them (name, ARNs, output
    configuration...); ``policy`` is its resource policy document, if one was put.
    """

    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    child_tags: dict[str, str] = field(default_factory=dict)
    params: JsonDict = field(default_factory=dict)
    seq: int = 0
    create_time: datetime = field(default_factory=lambda: _utcnow())
    update_time: datetime = field(default_factory=lambda: _utcnow())
    policy: str | None = None

    @property
    def name(self) -> str:
        return str(self.params.get("name", ""))

    @property
    def policy_hash(self) -> str | None:
        """What Put/Get of its policy report as ``policyHash`` (None without a policy)."""
        return None if self.policy is None else policy_hash(self.policy)

    def tags_for_jobs(self) -> dict[str, str]:
        """The tags every job started on it gets (a Start request's own tags override them).

        ``childResourceTagOnCreatePolicy=FROM_PARENT_RESOURCE`` gives the model's tags as they
        are when the job starts; a registered model gives its ``child_tags``.
        """
        if self.params.get("childResourceTagOnCreatePolicy") == "FROM_PARENT_RESOURCE":
            return dict(self.tags)
        return dict(self.child_tags)


@dataclass
class AudienceModelRecord:
    """An audience model: registered by a test (ACTIVE at once) or created through the API.

    ``params`` holds its members as GetAudienceModel reports them (name, trainingDatasetArn,
    the training window as datetimes, kmsKeyArn, description).
    """

    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    params: JsonDict = field(default_factory=dict)
    status: str = "ACTIVE"
    create_time: datetime = field(default_factory=lambda: _utcnow())
    update_time: datetime = field(default_factory=lambda: _utcnow())
    seq: int = 0
    status_details: dict[str, str] | None = None
    gone: bool = False
    phase: Literal["create", "delete", "settled"] = "settled"
    phase_started: float = 0.0
    outcome: _Outcome = _ACTIVE

    @property
    def name(self) -> str:
        return str(self.params.get("name", ""))


@dataclass
class TrainingDatasetRecord:
    """A training dataset (CloudFormation's AWS::CleanRoomsML::TrainingDataset makes them)."""

    arn: str
    training: _Outcome = _ACTIVE  # how the training of every audience model on it ends


@dataclass
class ExportJobRecord:
    """An audience export job; the API has no Get and no Delete, so it lives forever."""

    name: str
    params: JsonDict  # the StartAudienceExportJob request
    status: str
    create_time: datetime
    update_time: datetime
    seq: int
    output_location: str  # reported once ACTIVE
    status_details: dict[str, str] | None = None
    gone: bool = False
    phase: Literal["create", "delete", "settled"] = "create"
    phase_started: float = 0.0
    outcome: _Outcome = _ACTIVE


class _Tracked(Protocol):
    """What :func:`_advance` moves along: a record with asynchronous statuses."""

    status: str
    status_details: dict[str, str] | None
    update_time: datetime
    gone: bool
    phase: Literal["create", "delete", "settled"]
    phase_started: float
    outcome: _Outcome


def _advance(record: _Tracked, now: float, create: float, delete: float) -> None:
    """Derive a record's status from the clock: PENDING for the first half of its phase's
    duration, IN_PROGRESS for the second, then its outcome (or gone, after a delete)."""
    if record.gone or record.phase == "settled":
        return
    creating = record.phase == "create"
    duration = create if creating else delete
    elapsed = now - record.phase_started
    if record.outcome.stuck or elapsed < duration:
        stage = "PENDING" if elapsed < duration / 2 else "IN_PROGRESS"
        _set_status(record, f"{'CREATE' if creating else 'DELETE'}_{stage}")
        return
    record.phase = "settled"
    outcome = record.outcome
    if outcome.final_status is None:
        record.gone, record.update_time = True, _utcnow()
    else:
        _set_status(record, outcome.final_status, _details(outcome.status_code, outcome.message))


class ManualClock:
    """A clock for ``CleanRoomsMLEndpoint(clock=...)`` that only moves when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += seconds


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _set_status(job: _Tracked, status: str, details: dict[str, str] | None = None) -> None:
    if (job.status, job.status_details) != (status, details):
        job.status, job.status_details, job.update_time = status, details, _utcnow()


def _cut(known: JsonDict, shape: Any) -> JsonDict:
    """Copies of the known members an output shape has (None left out)."""
    return {
        key: copy.deepcopy(value)
        for key, value in known.items()
        if key in shape.members and value is not None
    }


def _parse_time(value: Any, path: str) -> datetime:
    """A request timestamp (ISO 8601 text on the wire) as an aware datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, timezone.utc)
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise validation_error([f"{path} {value!r} is not an ISO 8601 timestamp"]) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _details(code: str | None, message: str | None) -> dict[str, str] | None:
    details = {k: v for k, v in (("statusCode", code), ("message", message)) if v is not None}
    return details or None


def _reject_reserved_keys(keys: list[str] | dict[str, str], path: str) -> None:
    """Tag keys starting with ``aws:`` (any case) are reserved for AWS."""
    reserved = [key for key in keys if key.lower().startswith("aws:")]
    if reserved:
        checker = _Validator()
        for key in reserved:
            checker.fail(key, path, "Tag keys starting with 'aws:' are reserved", False)
        raise validation_error(checker.problems)


def _check_tag_count(tags: dict[str, str]) -> None:
    if len(tags) > MAX_USER_TAGS:
        message = f"A resource can have at most {MAX_USER_TAGS} tags; this would make {len(tags)}"
        raise validation_error([message])


def _check_policy_document(policy: str) -> None:
    """A resource policy must at least be a JSON object."""
    try:
        document = json.loads(policy)
    except json.JSONDecodeError as exc:
        raise validation_error([f"configuredAudienceModelPolicy is not valid JSON: {exc}"]) from exc
    if not isinstance(document, dict):
        raise validation_error(["configuredAudienceModelPolicy must be a JSON object"])


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "after" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise validation_error([f"Invalid nextToken {token!r}: use a token returned by this API"])


# ----------------------------------------------------------------------------- HTTP plumbing


class _Handler(LocalHttpHandler):
    """REST: any method reaches the endpoint, where the model's routes decide."""

    server_version = "CleanRoomsMLTestDouble/1.0"
    max_body_bytes = _MAX_BODY_BYTES
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = LocalHttpHandler.serve


# ------------------------------------------------------------------------------ the endpoint


class CleanRoomsMLEndpoint(LocalHttpEndpoint):
    """A threaded local HTTP server emulating the Clean Rooms ML API (see the module doc).

    Every asynchronous status follows ``clock`` (``time.monotonic``, or a :class:`ManualClock`
    that a test advances): a job's creation takes ``create_duration``, an audience model's
    training ``training_duration`` and an export ``export_duration`` (both default to
    ``create_duration``), a deletion ``delete_duration``; each is PENDING for its first half
    and IN_PROGRESS for its second.

    ``refuse_deleting_models_in_use`` makes DeleteConfiguredAudienceModel a ConflictException
    while a job that is not gone uses the model (the API documentation says a model in use by
    lookalike models cannot be deleted, without saying which error; off by default).
    """

    handler = _Handler
    thread_name = "cleanrooms-ml"
    internal_error = INTERNAL_ERROR
    bad_request = "ValidationException"

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        create_duration: float = 0.5,
        delete_duration: float = 0.5,
        quota: int = 10,
        page_size: int = 3,
        clock: Callable[[], float] = time.monotonic,
        validate_responses: bool = __debug__,
        refuse_deleting_models_in_use: bool = False,
        training_duration: float | None = None,
        export_duration: float | None = None,
    ) -> None:
        self.region, self.account_id = region, account_id
        self.create_duration, self.delete_duration = create_duration, delete_duration
        self.training_duration = create_duration if training_duration is None else training_duration
        self.export_duration = create_duration if export_duration is None else export_duration
        self.quota, self.page_size = quota, page_size
        self.validate_responses = validate_responses
        self.refuse_deleting_models_in_use = refuse_deleting_models_in_use
        self._clock = clock
        self._jobs: dict[str, JobRecord] = {}
        self._models: dict[str, ModelRecord] = {}
        self._audience_models: dict[str, AudienceModelRecord] = {}
        self._training_datasets: dict[str, TrainingDatasetRecord] = {}
        self._exports: dict[str, ExportJobRecord] = {}  # by name, unique per account
        self._create_outcomes: deque[_Outcome] = deque()
        self._export_outcomes: deque[_Outcome] = deque()
        self._delete_outcomes: deque[_Outcome] = deque()
        self._seq = 0
        operations = {
            "StartAudienceGenerationJob": self._start_job,
            "GetAudienceGenerationJob": self._get_job,
            "DeleteAudienceGenerationJob": self._delete_job,
            "ListAudienceGenerationJobs": self._list_jobs,
            "CreateConfiguredAudienceModel": self._create_model,
            "GetConfiguredAudienceModel": self._get_model,
            "UpdateConfiguredAudienceModel": self._update_model,
            "DeleteConfiguredAudienceModel": self._delete_model,
            "ListConfiguredAudienceModels": self._list_models,
            "PutConfiguredAudienceModelPolicy": self._put_policy,
            "GetConfiguredAudienceModelPolicy": self._get_policy,
            "DeleteConfiguredAudienceModelPolicy": self._delete_policy,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags,
            "CreateAudienceModel": self._create_audience_model,
            "GetAudienceModel": self._get_audience_model,
            "ListAudienceModels": self._list_audience_models,
            "DeleteAudienceModel": self._delete_audience_model,
            "StartAudienceExportJob": self._start_export,
            "ListAudienceExportJobs": self._list_exports,
        }
        super().__init__({name: operations[name] for name in served_operations()})
        _routes()  # load the model before requests arrive on several threads
        self.default_audience_model_arn = self.arn("audience-model/audience-model-1")
        self.add_audience_model(self.default_audience_model_arn)
        self.default_model_arn = self.arn("configured-audience-model/model-1")
        self.add_configured_audience_model(self.default_model_arn)

    def arn(self, resource: str) -> str:
        """A Clean Rooms ML ARN in this endpoint's region and account."""
        return f"arn:aws:cleanrooms-ml:{self.region}:{self.account_id}:{resource}"

    # ------------------------------------------------------------------------ test controls

    def add_configured_audience_model(
        self,
        arn: str,
        tags: dict[str, str] | None = None,
        child_tags: dict[str, str] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        """Register a configured audience model; its ``child_tags`` go to every job started.

        It is a model like one created through the API (Get, List, Update, Delete, its policy
        and tags), named ``name`` or else the last part of its ARN, on the default audience
        model, with a made-up output configuration. Registering an ARN again replaces it; a
        name that another model has is a ValueError, as names are unique per account.
        """
        _check_as(arn, "StartAudienceGenerationJob", "configuredAudienceModelArn")
        name = name if name is not None else arn.rsplit("/", 1)[-1]
        _check_as(name, "CreateConfiguredAudienceModel", "name")
        params: JsonDict = {
            "name": name,
            "audienceModelArn": self.default_audience_model_arn,
            "outputConfig": {
                "destination": {"s3Destination": {"s3Uri": f"s3://audiences-{self.account_id}/"}},
                "roleArn": f"arn:aws:iam::{self.account_id}:role/audience-writer",
            },
            "sharedAudienceMetrics": ["ALL"],
            "minMatchingSeedSize": _DEFAULT_MIN_MATCHING_SEED_SIZE,
        }
        with self._lock:
            if any(m.name == name and m.arn != arn for m in self._models.values()):
                raise ValueError(f"a configured audience model is already named {name!r}")
            self._seq += 1
            record = ModelRecord(arn, dict(tags or {}), dict(child_tags or {}), params, self._seq)
            self._models[arn] = record

    def add_audience_model(
        self,
        arn: str,
        tags: dict[str, str] | None = None,
        *,
        name: str | None = None,
        training_dataset_arn: str | None = None,
    ) -> None:
        """Register an ACTIVE audience model for configured audience models to use.

        It is a model like one trained through the API (Get, List, Delete, tags), named
        ``name`` or else the last part of its ARN, on ``training_dataset_arn`` (a made-up one
        by default, not registered). Registering an ARN again replaces it; a name that another
        model has is a ValueError, as names are unique per account.
        """
        _check_as(arn, "CreateConfiguredAudienceModel", "audienceModelArn")
        name = name if name is not None else arn.rsplit("/", 1)[-1]
        _check_as(name, "CreateAudienceModel", "name")
        dataset = training_dataset_arn or self.arn("training-dataset/registered")
        _check_as(dataset, "CreateAudienceModel", "trainingDatasetArn")
        with self._lock:
            if any(m.name == name and m.arn != arn for m in self._live_audience_models()):
                raise ValueError(f"an audience model is already named {name!r}")
            self._seq += 1
            params: JsonDict = {"name": name, "trainingDatasetArn": dataset}
            record = AudienceModelRecord(arn, dict(tags or {}), params, seq=self._seq)
            self._audience_models[arn] = record

    def add_training_dataset(
        self, arn: str, *, fail_training: tuple[str, str] | None = None
    ) -> None:
        """Register a training dataset that CreateAudienceModel may train on.

        ``fail_training=(status_code, message)`` makes every training on it end in
        CREATE_FAILED with those statusDetails.
        """
        _check_as(arn, "CreateAudienceModel", "trainingDatasetArn")
        training = _ACTIVE if fail_training is None else _Outcome("CREATE_FAILED", *fail_training)
        with self._lock:
            self._training_datasets[arn] = TrainingDatasetRecord(arn, training)

    def fail_training(
        self,
        arn_or_name: str,
        status_code: str = "INTERNAL_ERROR",
        message: str = "Training failed",
    ) -> None:
        """Make an audience model still in training end it in CREATE_FAILED."""
        with self._lock:
            found = [m for m in self._live_audience_models() if arn_or_name in (m.arn, m.name)]
            if not found:
                raise ValueError(f"no audience model {arn_or_name!r}")
            if found[0].phase != "create":
                raise ValueError(f"{arn_or_name!r} is done training ({found[0].status})")
            found[0].outcome = _Outcome("CREATE_FAILED", status_code, message)

    def stick_training(self, arn_or_name: str) -> None:
        """Make an audience model still in training stay CREATE_IN_PROGRESS forever."""
        with self._lock:
            found = [m for m in self._live_audience_models() if arn_or_name in (m.arn, m.name)]
            if not found or found[0].phase != "create":
                raise ValueError(f"no audience model {arn_or_name!r} in training")
            found[0].outcome = _Outcome("ACTIVE", stuck=True)

    def next_export_outcome(
        self,
        status: str = "CREATE_FAILED",
        status_code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Make the next started export end in ``status`` (CREATE_FAILED or ACTIVE)."""
        if status not in ("ACTIVE", "CREATE_FAILED"):
            raise ValueError("an export ends in ACTIVE or CREATE_FAILED")
        if status == "CREATE_FAILED":
            status_code, message = status_code or "INTERNAL_ERROR", message or "Export failed"
        with self._lock:
            self._export_outcomes.append(_Outcome(status, status_code, message))

    def next_create_outcome(
        self,
        status: str = "CREATE_FAILED",
        status_code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Make the next started job end its creation in ``status`` (CREATE_FAILED or ACTIVE)."""
        if status not in ("ACTIVE", "CREATE_FAILED"):
            raise ValueError("a creation ends in ACTIVE or CREATE_FAILED")
        if status == "CREATE_FAILED":
            status_code, message = status_code or "INTERNAL_ERROR", message or "Job failed"
        with self._lock:
            self._create_outcomes.append(_Outcome(status, status_code, message))

    def stick_next_create(self) -> None:
        """Make the next started job stay CREATE_IN_PROGRESS forever."""
        with self._lock:
            self._create_outcomes.append(_Outcome("ACTIVE", stuck=True))

    def next_delete_outcome(
        self,
        status: str = "DELETE_FAILED",
        status_code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Make the next delete end in DELETE_FAILED instead of the job disappearing."""
        if status != "DELETE_FAILED":
            raise ValueError("only DELETE_FAILED can be forced; a normal delete removes the job")
        outcome = _Outcome(status, status_code or "INTERNAL_ERROR", message or "Deletion failed")
        with self._lock:
            self._delete_outcomes.append(outcome)

    def stick_next_delete(self) -> None:
        """Make the next delete stay DELETE_IN_PROGRESS forever."""
        with self._lock:
            self._delete_outcomes.append(_Outcome(None, stuck=True))

    def set_job_status(
        self, arn: str, status: str, status_code: str | None = None, message: str | None = None
    ) -> None:
        """Force a job into ``status``; it stays there until a Delete moves it on."""
        if status not in job_statuses():
            raise ValueError(f"{status!r} is not one of {job_statuses()}")
        with self._lock:
            job = self._jobs[arn]
            if job.gone:
                raise ValueError(f"{arn} is gone")
            job.phase = "settled"
            _set_status(job, status, _details(status_code, message))

    # --------------------------------------------------------------------------- inspection

    @property
    def jobs(self) -> dict[str, JobRecord]:
        """Copies of every job ever started, statuses up to date; gone ones have ``gone``."""
        with self._lock:
            for job in self._jobs.values():
                self._refresh(job)
            return copy.deepcopy(self._jobs)

    def live_jobs(self) -> dict[str, JobRecord]:
        """Copies of the jobs that are not gone."""
        return {arn: job for arn, job in self.jobs.items() if not job.gone}

    @property
    def audience_models(self) -> dict[str, AudienceModelRecord]:
        """Copies of the audience models that are not gone, statuses up to date."""
        with self._lock:
            return {m.arn: copy.deepcopy(m) for m in self._live_audience_models()}

    @property
    def export_jobs(self) -> dict[str, ExportJobRecord]:
        """Copies of every audience export job, by name, statuses up to date."""
        with self._lock:
            for export in self._exports.values():
                self._refresh_export(export)
            return copy.deepcopy(self._exports)

    @property
    def configured_audience_models(self) -> dict[str, ModelRecord]:
        """Copies of the configured audience models that exist (deleted ones are dropped)."""
        with self._lock:
            return copy.deepcopy(self._models)

    # --------------------------------------------------------------------- request handling

    def handle_request(self, method: str, target: str, body: bytes) -> Response:
        """Answer one HTTP request (also usable without the server); never raises."""
        return self._guarded(f"{method} {target}", lambda: self._handle(method, target, body))

    def _answer(self, method: str, target: str, body: bytes) -> Response:
        return self.handle_request(method, target, body)

    def _handle(self, method: str, target: str, body: bytes) -> Response:
        split = urlsplit(target)
        route = match_route(method, split.path)
        if route is None or route[0] not in self._operations:
            name = route[0] if route else f"{method} {split.path}"
            self._log_call(name, {})  # an unrouted call is logged as "METHOD /path"
            message = f"{name} is not implemented by the double" if route else f"No route: {name}"
            return self._error_answer(ApiError("UnknownOperationException", message, status=404))
        operation_model = service_model().operation_model(route[0])
        params, problems = parse_request(operation_model, route[1], split.query, body)
        fault = self._log_call(route[0], params)
        problems += validate(params, operation_model.input_shape)
        return self._carry_out(fault, route[0], params, problems)

    def _success_answer(self, operation: str, result: JsonDict) -> Response:
        operation_model = service_model().operation_model(operation)
        shape, status = operation_model.output_shape, operation_model.http.get("responseCode", 200)
        if shape is None:
            return _json_response(status, {})
        self._check_drift(operation, result, shape)
        return _json_response(status, to_wire(result, shape))

    def _error_answer(self, error: ServiceError) -> Response:
        model, document = service_model(), error.body()
        if error.code in model.shape_names:
            shape = model.shape_for(error.code)
            self._check_drift(error.code, document, shape)
            document = to_wire(document, shape)
        return _json_response(error.status, document, error.code)

    def _check_drift(self, what: str, document: JsonDict, shape: Any) -> None:
        """The debug assertion that keeps the double on the model (even under ``python -O``)."""
        problems = validate(document, shape) if self.validate_responses else []
        if problems:
            raise AssertionError(f"{what} response drifted from the model: {problems}")

    # -------------------------------------------------------------------- job state machine

    def _refresh(self, job: JobRecord) -> None:
        """Derive the job's status from the clock (the lock is held)."""
        _advance(job, self._clock(), self.create_duration, self.delete_duration)

    def _live(self) -> list[JobRecord]:
        for job in self._jobs.values():
            self._refresh(job)
        return sorted((job for job in self._jobs.values() if not job.gone), key=lambda j: j.seq)

    def _live_job(self, arn: str, noun: str = "Audience generation job") -> JobRecord:
        job = self._jobs.get(arn)
        if job is not None:
            self._refresh(job)
        if job is None or job.gone:
            raise ApiError("ResourceNotFoundException", f"{noun} not found: {arn}")
        return job

    def _view(self, job: JobRecord, shape: Any) -> JsonDict:
        """Everything the double knows about a job, cut down to an output shape's members."""
        known: JsonDict = {
            "createTime": job.create_time,
            "updateTime": job.update_time,
            "audienceGenerationJobArn": job.arn,
            "name": job.name,
            "status": job.status,
            "statusDetails": job.status_details,
            "startedBy": self.account_id,
            "tags": job.tags,
            **{key: job.params.get(key) for key in _ECHOED_START_PARAMS},
        }
        return {
            key: copy.deepcopy(value)
            for key, value in known.items()
            if key in shape.members and value is not None
        }

    # ------------------------------------------------------------ operations (lock is held)

    def _start_job(self, params: JsonDict) -> JsonDict:
        request_tags: dict[str, str] = dict(params.get("tags") or {})
        _reject_reserved_keys(request_tags, "tags")
        model = self._live_model(params["configuredAudienceModelArn"])
        live = self._live()
        if any(job.name == params["name"] for job in live):
            raise ApiError("ConflictException", f"A job named {params['name']!r} already exists")
        if sum(job.status in CREATING for job in live) >= self.quota:
            raise ApiError(
                "ServiceQuotaExceededException",
                f"At most {self.quota} audience generation jobs can be in creation",
                quotaName="Concurrent audience generation jobs",
                quotaValue=float(self.quota),
            )
        tags = {**model.tags_for_jobs(), **request_tags}
        _check_tag_count(tags)
        self._seq += 1
        now = _utcnow()
        job = JobRecord(
            arn=self.arn(f"audience-generation-job/{uuid.uuid4()}"),
            name=params["name"],
            params=copy.deepcopy(params),
            tags=tags,
            status="CREATE_PENDING",
            create_time=now,
            update_time=now,
            seq=self._seq,
            phase_started=self._clock(),
            outcome=self._create_outcomes.popleft() if self._create_outcomes else _ACTIVE,
        )
        self._jobs[job.arn] = job
        self._refresh(job)
        return {"audienceGenerationJobArn": job.arn}

    def _get_job(self, params: JsonDict) -> JsonDict:
        job = self._live_job(params["audienceGenerationJobArn"])
        return self._view(job, _output("GetAudienceGenerationJob"))

    def _delete_job(self, params: JsonDict) -> JsonDict:
        job = self._live_job(params["audienceGenerationJobArn"])
        if job.status in CREATING:
            raise ApiError("ConflictException", f"Cannot delete {job.arn} while {job.status}")
        if job.status in DELETING:
            return {}  # already being deleted: an idempotent no-op
        job.phase, job.phase_started = "delete", self._clock()
        job.outcome = self._delete_outcomes.popleft() if self._delete_outcomes else _GONE
        _set_status(job, "DELETE_PENDING")
        self._refresh(job)
        return {}

    def _list_jobs(self, params: JsonDict) -> JsonDict:
        after = _decode_token(params.get("nextToken"))
        size = int(params.get("maxResults") or self.page_size)
        filters = [
            (k, params[k]) for k in ("configuredAudienceModelArn", "collaborationId") if k in params
        ]
        matches = [
            job
            for job in self._live()
            if job.seq > after and all(job.params.get(k) == v for k, v in filters)
        ]
        summary = _output("ListAudienceGenerationJobs").members["audienceGenerationJobs"].member
        result: JsonDict = {
            "audienceGenerationJobs": [self._view(j, summary) for j in matches[:size]]
        }
        if len(matches) > size:
            result["nextToken"] = _encode_token(matches[size - 1].seq)
        return result

    # ------------------------------------------------- configured audience models (lock held)

    def _live_model(self, arn: str) -> ModelRecord:
        model = self._models.get(arn)
        if model is None:
            message = f"Configured audience model not found: {arn}"
            raise ApiError("ResourceNotFoundException", message)
        return model

    def _check_audience_model(self, arn: str) -> None:
        """A configured model may only use an ACTIVE audience model.

        The API documentation does not say how one on an audience model still training (or
        failed, or being deleted) is refused: a ValidationException is a guess.
        """
        model = self._live_audience_model(arn)
        if model.status != "ACTIVE":
            raise validation_error([f"Audience model {arn} is {model.status}, not ACTIVE"])

    def _model_view(self, model: ModelRecord, shape: Any) -> JsonDict:
        """Everything the double knows about a configured model, cut down to an output shape."""
        known: JsonDict = {
            **model.params,
            "createTime": model.create_time,
            "updateTime": model.update_time,
            "configuredAudienceModelArn": model.arn,
            "status": "ACTIVE",
            "tags": model.tags,
        }
        return {
            key: copy.deepcopy(value)
            for key, value in known.items()
            if key in shape.members and value is not None
        }

    def _create_model(self, params: JsonDict) -> JsonDict:
        tags: dict[str, str] = dict(params.get("tags") or {})
        _reject_reserved_keys(tags, "tags")
        _check_tag_count(tags)
        self._check_audience_model(params["audienceModelArn"])
        if any(model.name == params["name"] for model in self._models.values()):
            message = f"A configured audience model named {params['name']!r} already exists"
            raise ApiError("ConflictException", message)
        self._seq += 1
        now = _utcnow()
        members = {k: copy.deepcopy(v) for k, v in params.items() if k != "tags"}
        members.setdefault("minMatchingSeedSize", _DEFAULT_MIN_MATCHING_SEED_SIZE)
        model = ModelRecord(
            arn=self.arn(f"configured-audience-model/{uuid.uuid4()}"),
            tags=tags,
            params=members,
            seq=self._seq,
            create_time=now,
            update_time=now,
        )
        self._models[model.arn] = model
        return {"configuredAudienceModelArn": model.arn}

    def _get_model(self, params: JsonDict) -> JsonDict:
        model = self._live_model(params["configuredAudienceModelArn"])
        return self._model_view(model, _output("GetConfiguredAudienceModel"))

    def _update_model(self, params: JsonDict) -> JsonDict:
        """Change the members Update's input has; name and tag policy are create-only."""
        model = self._live_model(params["configuredAudienceModelArn"])
        if "audienceModelArn" in params:
            self._check_audience_model(params["audienceModelArn"])
        changes = {k: v for k, v in params.items() if k != "configuredAudienceModelArn"}
        model.params.update(copy.deepcopy(changes))
        model.update_time = _utcnow()
        return {"configuredAudienceModelArn": model.arn}

    def _delete_model(self, params: JsonDict) -> JsonDict:
        """Remove the model, its policy and its tags at once (the API is synchronous)."""
        model = self._live_model(params["configuredAudienceModelArn"])
        if self.refuse_deleting_models_in_use:
            users = [j for j in self._live() if j.params["configuredAudienceModelArn"] == model.arn]
            if users:
                message = f"Configured audience model {model.arn} is used by {len(users)} job(s)"
                raise ApiError("ConflictException", message)
        del self._models[model.arn]
        return {}

    def _list_models(self, params: JsonDict) -> JsonDict:
        after = _decode_token(params.get("nextToken"))
        size = int(params.get("maxResults") or self.page_size)
        models = sorted(self._models.values(), key=lambda m: m.seq)
        matches = [model for model in models if model.seq > after]
        summary = _output("ListConfiguredAudienceModels").members["configuredAudienceModels"].member
        result: JsonDict = {
            "configuredAudienceModels": [self._model_view(m, summary) for m in matches[:size]]
        }
        if len(matches) > size:
            result["nextToken"] = _encode_token(matches[size - 1].seq)
        return result

    def _put_policy(self, params: JsonDict) -> JsonDict:
        """Put the resource policy if its preconditions hold.

        The operation models no ConflictException: a failed precondition (a stale
        ``previousPolicyHash``, or ``policyExistenceCondition`` not met) is a
        ValidationException, as is a policy that is not a JSON object.
        """
        model = self._live_model(params["configuredAudienceModelArn"])
        policy: str = params["configuredAudienceModelPolicy"]
        _check_policy_document(policy)
        condition = params.get("policyExistenceCondition")
        if condition == "POLICY_MUST_EXIST" and model.policy is None:
            raise validation_error([f"{model.arn} has no policy (POLICY_MUST_EXIST)"])
        if condition == "POLICY_MUST_NOT_EXIST" and model.policy is not None:
            raise validation_error([f"{model.arn} already has a policy (POLICY_MUST_NOT_EXIST)"])
        previous = params.get("previousPolicyHash")
        if previous is not None and previous != model.policy_hash:
            current = model.policy_hash or "no policy"
            raise validation_error(
                [f"previousPolicyHash {previous} does not match the current policy ({current})"]
            )
        model.policy = policy
        return {"configuredAudienceModelPolicy": policy, "policyHash": model.policy_hash}

    def _get_policy(self, params: JsonDict) -> JsonDict:
        model = self._policy_holder(params["configuredAudienceModelArn"])
        return {
            "configuredAudienceModelArn": model.arn,
            "configuredAudienceModelPolicy": model.policy,
            "policyHash": model.policy_hash,
        }

    def _delete_policy(self, params: JsonDict) -> JsonDict:
        self._policy_holder(params["configuredAudienceModelArn"]).policy = None
        return {}

    def _policy_holder(self, arn: str) -> ModelRecord:
        model = self._live_model(arn)
        if model.policy is None:
            raise ApiError("ResourceNotFoundException", f"No policy on configured model {arn}")
        return model

    # ------------------------------------------------------------ audience models (lock held)

    def _refresh_audience_model(self, model: AudienceModelRecord) -> None:
        _advance(model, self._clock(), self.training_duration, self.delete_duration)

    def _live_audience_models(self) -> list[AudienceModelRecord]:
        for model in self._audience_models.values():
            self._refresh_audience_model(model)
        live = (model for model in self._audience_models.values() if not model.gone)
        return sorted(live, key=lambda m: m.seq)

    def _live_audience_model(self, arn: str, noun: str = "Audience model") -> AudienceModelRecord:
        model = self._audience_models.get(arn)
        if model is not None:
            self._refresh_audience_model(model)
        if model is None or model.gone:
            raise ApiError("ResourceNotFoundException", f"{noun} not found: {arn}")
        return model

    def _audience_model_view(self, model: AudienceModelRecord, shape: Any) -> JsonDict:
        known: JsonDict = {
            **model.params,
            "audienceModelArn": model.arn,
            "createTime": model.create_time,
            "updateTime": model.update_time,
            "status": model.status,
            "statusDetails": model.status_details,
            "tags": model.tags,
        }
        return _cut(known, shape)

    def _create_audience_model(self, params: JsonDict) -> JsonDict:
        tags: dict[str, str] = dict(params.get("tags") or {})
        _reject_reserved_keys(tags, "tags")
        _check_tag_count(tags)
        dataset = self._training_datasets.get(params["trainingDatasetArn"])
        if dataset is None:
            message = f"Training dataset not found: {params['trainingDatasetArn']}"
            raise ApiError("ResourceNotFoundException", message)
        window: dict[str, datetime] = {
            key: _parse_time(params[key], key)
            for key in ("trainingDataStartTime", "trainingDataEndTime")
            if key in params
        }
        if len(window) == 2 and window["trainingDataStartTime"] >= window["trainingDataEndTime"]:
            # a guess: the documentation only calls them the start and end of the window
            raise validation_error(["trainingDataStartTime must be before trainingDataEndTime"])
        if any(model.name == params["name"] for model in self._live_audience_models()):
            message = f"An audience model named {params['name']!r} already exists"
            raise ApiError("ConflictException", message)
        self._seq += 1
        now = _utcnow()
        members = {k: copy.deepcopy(v) for k, v in params.items() if k != "tags"}
        model = AudienceModelRecord(
            arn=self.arn(f"audience-model/{uuid.uuid4()}"),
            tags=tags,
            params={**members, **window},
            status="CREATE_PENDING",
            create_time=now,
            update_time=now,
            seq=self._seq,
            phase="create",
            phase_started=self._clock(),
            outcome=dataset.training,
        )
        self._audience_models[model.arn] = model
        self._refresh_audience_model(model)
        return {"audienceModelArn": model.arn}

    def _get_audience_model(self, params: JsonDict) -> JsonDict:
        model = self._live_audience_model(params["audienceModelArn"])
        return self._audience_model_view(model, _output("GetAudienceModel"))

    def _list_audience_models(self, params: JsonDict) -> JsonDict:
        after = _decode_token(params.get("nextToken"))
        size = int(params.get("maxResults") or self.page_size)
        matches = [model for model in self._live_audience_models() if model.seq > after]
        summary = _output("ListAudienceModels").members["audienceModels"].member
        result: JsonDict = {
            "audienceModels": [self._audience_model_view(m, summary) for m in matches[:size]]
        }
        if len(matches) > size:
            result["nextToken"] = _encode_token(matches[size - 1].seq)
        return result

    def _delete_audience_model(self, params: JsonDict) -> JsonDict:
        """Start deleting; refused while training, or while a configured model uses it (as the
        API documentation says, with the ConflictException the operation models)."""
        model = self._live_audience_model(params["audienceModelArn"])
        if model.status in CREATING:
            raise ApiError("ConflictException", f"Cannot delete {model.arn} while {model.status}")
        if model.status in DELETING:
            return {}  # already being deleted: an idempotent no-op, as for jobs
        users = [m.arn for m in self._models.values() if m.params["audienceModelArn"] == model.arn]
        if users:
            message = f"Audience model {model.arn} is used by configured audience model(s) {users}"
            raise ApiError("ConflictException", message)
        model.phase, model.phase_started, model.outcome = "delete", self._clock(), _GONE
        _set_status(model, "DELETE_PENDING")
        self._refresh_audience_model(model)
        return {}

    # ------------------------------------------------------------ audience export jobs (held)

    def _refresh_export(self, export: ExportJobRecord) -> None:
        _advance(export, self._clock(), self.export_duration, 0.0)

    def _export_view(self, export: ExportJobRecord, shape: Any) -> JsonDict:
        known: JsonDict = {
            **export.params,
            "createTime": export.create_time,
            "updateTime": export.update_time,
            "status": export.status,
            "statusDetails": export.status_details,
            "outputLocation": export.output_location if export.status == "ACTIVE" else None,
        }
        return _cut(known, shape)

    def _start_export(self, params: JsonDict) -> JsonDict:
        """Export from an ACTIVE generation job, at a size its configured model allows.

        A job that is not ACTIVE is refused with a ValidationException: a guess, the API
        documentation does not say. The size must be one of the configured model's
        ``audienceSizeConfig`` (as StartAudienceExportJob's documentation says), checked only
        while that model exists; a PERCENTAGE is 1 to 100.
        """
        job = self._live_job(params["audienceGenerationJobArn"])
        if job.status != "ACTIVE":
            raise validation_error([f"Audience generation job {job.arn} is {job.status}"])
        if params["name"] in self._exports:
            message = f"An audience export job named {params['name']!r} already exists"
            raise ApiError("ConflictException", message)
        size = params["audienceSize"]
        if size["type"] == "PERCENTAGE" and size["value"] > 100:
            raise validation_error([f"A PERCENTAGE audience size is 1 to 100, not {size['value']}"])
        model = self._models.get(job.params["configuredAudienceModelArn"])
        allowed = model.params.get("audienceSizeConfig") if model is not None else None
        if allowed is not None and (
            size["type"] != allowed["audienceSizeType"]
            or size["value"] not in allowed["audienceSizeBins"]
        ):
            sizes = f"{allowed['audienceSizeType']} {allowed['audienceSizeBins']}"
            message = f"audienceSize {size['type']} {size['value']} is not one of {sizes}"
            raise validation_error([message])
        base = f"s3://audiences-{self.account_id}/"
        if model is not None:
            base = model.params["outputConfig"]["destination"]["s3Destination"]["s3Uri"]
        self._seq += 1
        now = _utcnow()
        export = ExportJobRecord(
            name=params["name"],
            params=copy.deepcopy(params),
            status="CREATE_PENDING",
            create_time=now,
            update_time=now,
            seq=self._seq,
            output_location=f"{base.rstrip('/')}/audience-export-job/{uuid.uuid4()}/",
            phase_started=self._clock(),
            outcome=self._export_outcomes.popleft() if self._export_outcomes else _ACTIVE,
        )
        self._exports[export.name] = export
        self._refresh_export(export)
        return {}

    def _list_exports(self, params: JsonDict) -> JsonDict:
        after = _decode_token(params.get("nextToken"))
        size = int(params.get("maxResults") or self.page_size)
        wanted = params.get("audienceGenerationJobArn")
        exports = sorted(self._exports.values(), key=lambda e: e.seq)
        matches = [
            export
            for export in exports
            if export.seq > after and wanted in (None, export.params["audienceGenerationJobArn"])
        ]
        for export in matches[:size]:
            self._refresh_export(export)
        summary = _output("ListAudienceExportJobs").members["audienceExportJobs"].member
        result: JsonDict = {
            "audienceExportJobs": [self._export_view(e, summary) for e in matches[:size]]
        }
        if len(matches) > size:
            result["nextToken"] = _encode_token(matches[size - 1].seq)
        return result

    # ------------------------------------------------------------- tags of every resource kind

    def _tags_of(self, arn: str) -> dict[str, str]:
        """The tags of whichever resource of the double ``arn`` names."""
        if arn in self._models:
            return self._models[arn].tags
        if arn in self._audience_models:
            return self._live_audience_model(arn, noun="Resource").tags
        return self._live_job(arn, noun="Resource").tags

    def _tag_resource(self, params: JsonDict) -> JsonDict:
        _reject_reserved_keys(params["tags"], "tags")
        tags = self._tags_of(params["resourceArn"])
        _check_tag_count({**tags, **params["tags"]})
        tags.update(params["tags"])
        return {}

    def _untag_resource(self, params: JsonDict) -> JsonDict:
        _reject_reserved_keys(params["tagKeys"], "tagKeys")
        tags = self._tags_of(params["resourceArn"])
        for key in params["tagKeys"]:
            tags.pop(key, None)
        return {}

    def _list_tags(self, params: JsonDict) -> JsonDict:
        return {"tags": dict(self._tags_of(params["resourceArn"]))}
