"""A local HTTP test double for AWS Clean Rooms' configured audience model associations.

ConfiguredAudienceModelAssociation belongs to the ``cleanrooms`` service (not ``cleanroomsml``):
this endpoint speaks its REST-JSON protocol, with routes, member locations, constraints, error
shapes and statuses read from botocore's ``cleanrooms`` model, as ``cleanrooms_ml_endpoint``
does for Clean Rooms ML (whose request parsing, validation and wire format it shares). It serves
Create, Get, Update (name, description), Delete and List of associations under the memberships
a test registers, and TagResource, UntagResource and ListTagsForResource of association ARNs::

    with CleanRoomsMLEndpoint() as ml, CleanRoomsEndpoint(ml=ml) as endpoint:
        membership = endpoint.add_membership("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")
        client = boto3.client("cleanrooms", endpoint_url=endpoint.url, ...)
        endpoint.inject("CreateConfiguredAudienceModelAssociation", CleanRoomsFault.throttle())

Service rules written by hand: names unique per membership, a membership must be registered,
the configured audience model must exist in the linked Clean Rooms ML double (any ARN when none
is linked), tag keys ``aws:...`` reserved and at most 50 tags. ``manageResourcePolicies`` is
recorded and reported only: the double does not write the configured model's resource policy
as Clean Rooms would. The model caps the tag operations' ``resourceArn`` at 100 characters, but
association ARNs are about 160: that one cap is not applied (the ARN pattern still is).

``local_endpoint()`` runs one (:func:`running`) behind ``AWS_ENDPOINT_URL_CLEANROOMS`` (botocore's
name for the service id "CleanRooms").
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from cleanrooms_ml_endpoint import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    MAX_USER_TAGS,
    CleanRoomsMLEndpoint,
    Fault,
    compile_routes,
    find_route,
    parse_request,
    to_wire,
    validate,
)
from local_http import (
    Answer,
    JsonDict,
    LocalHttpEndpoint,
    LocalHttpHandler,
    ServiceError,
    validation_message,
)

SERVICE_NAME = "cleanrooms"
INTERNAL_ERROR = "InternalServerException"  # the model's 500 error shape
IMPLEMENTED_OPERATIONS = (
    "CreateConfiguredAudienceModelAssociation",
    "GetConfiguredAudienceModelAssociation",
    "UpdateConfiguredAudienceModelAssociation",
    "DeleteConfiguredAudienceModelAssociation",
    "ListConfiguredAudienceModelAssociations",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)
TAG_OPERATIONS = frozenset({"TagResource", "UntagResource", "ListTagsForResource"})
DEFAULT_MEMBERSHIP_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
# resourceType of errors about resources the model's enums do not list yet (a guess of the
# service's value; an enum in an output is open, and botocore passes any value through)
ASSOCIATION_TYPE = "CONFIGURED_AUDIENCE_MODEL_ASSOCIATION"
CONFIGURED_MODEL_TYPE = "CONFIGURED_AUDIENCE_MODEL"
_MAX_BODY_BYTES = 1024 * 1024
_UNCAPPED_TAG_ARN = "at 'resourceArn' failed to satisfy constraint: Member must have length less"
_OPEN_ENUM = "at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set"


@cache
def service_model() -> Any:
    """botocore's ServiceModel for Clean Rooms (loaded once)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def error_status(code: str) -> int | None:
    """The model's ``error.httpStatusCode`` for an error shape, or None if not modeled."""
    model = service_model()
    if code not in model.shape_names:
        return None
    error = model.shape_for(code).metadata.get("error")
    return int(error["httpStatusCode"]) if error else None


def served_operations() -> tuple[str, ...]:
    """The implemented operations that the loaded service model has."""
    modeled = set(service_model().operation_names)
    return tuple(name for name in IMPLEMENTED_OPERATIONS if name in modeled)


@cache
def _routes() -> Any:
    return compile_routes(service_model(), served_operations())


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CleanRoomsError(ServiceError):
    """A Clean Rooms error answered as rest-json; status from the model unless given."""

    def __init__(self, code: str, message: str, *, status: int | None = None, **fields: Any):
        resolved = status if status is not None else error_status(code)
        if resolved is None:
            raise ValueError(f"{code} is not a modeled error shape; pass status=")
        super().__init__(code, message, resolved, **fields)


def _invalid(problems: list[str]) -> CleanRoomsError:
    message = validation_message(problems)
    return CleanRoomsError("ValidationException", message, reason="FIELD_VALIDATION_FAILED")


def _not_found(what: str, resource_id: str, resource_type: str) -> CleanRoomsError:
    message = f"{what} not found: {resource_id}"
    return CleanRoomsError(
        "ResourceNotFoundException", message, resourceId=resource_id, resourceType=resource_type
    )


class CleanRoomsFault(Fault):
    """Faults with the Clean Rooms model's codes and statuses."""

    @staticmethod
    def server_error(status: int = 500, code: str = INTERNAL_ERROR) -> Fault:
        """A 5xx instead of carrying the request out (botocore retries it)."""
        return Fault.server_error(status, code)

    @staticmethod
    def after_success(status: int = 500, code: str = INTERNAL_ERROR) -> Fault:
        """Carry the request out, then answer a 5xx anyway: a lost response."""
        return Fault.after_success(status, code)

    @staticmethod
    def error(code: str, status: int | None = None, message: str = "Injected error") -> Fault:
        """Any error; ``status`` defaults to the Clean Rooms model's status for ``code``."""
        resolved = status if status is not None else error_status(code)
        if resolved is None:
            raise ValueError(f"{code} is not a modeled error shape; pass status=")
        return Fault("error", resolved, code, message)


# -------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class MembershipRecord:
    """A membership a test registered (CloudFormation's AWS::CleanRooms::Membership)."""

    id: str
    arn: str
    collaboration_id: str
    collaboration_arn: str


@dataclass
class AssociationRecord:
    """A configured audience model association, as Get reports it (less the membership)."""

    id: str
    arn: str
    membership: MembershipRecord
    name: str
    configured_audience_model_arn: str
    manage_resource_policies: bool
    seq: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    create_time: datetime = field(default_factory=_utcnow)
    update_time: datetime = field(default_factory=_utcnow)


def _check_tags(keys: list[str] | dict[str, str], path: str) -> None:
    """Tag keys starting with ``aws:`` (any case) are reserved, as in Clean Rooms ML (a guess
    for Clean Rooms: its documentation of tags says the same of AWS tags in general)."""
    reserved = [key for key in keys if key.lower().startswith("aws:")]
    if reserved:
        rule = "Tag keys starting with 'aws:' are reserved"
        raise _invalid(
            [f"Value {key!r} at '{path}' failed to satisfy constraint: {rule}" for key in reserved]
        )


def _check_tag_count(tags: dict[str, str]) -> None:
    if len(tags) > MAX_USER_TAGS:
        raise _invalid([f"A resource can have at most {MAX_USER_TAGS} tags, not {len(tags)}"])


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "after" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _invalid([f"Invalid nextToken {token!r}: use a token returned by this API"])


def _json_answer(status: int, document: JsonDict | None, error_code: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if error_code is not None:
        headers["x-amzn-ErrorType"] = error_code
    return status, headers, b"" if document is None else json.dumps(document).encode()


# ------------------------------------------------------------------------------ the endpoint


def running() -> CleanRoomsEndpoint | None:
    """The endpoint started last that still runs (the one ``local_endpoint()`` points at)."""
    return CleanRoomsEndpoint.running()


class _Handler(LocalHttpHandler):
    """REST: any method reaches the endpoint, where the model's routes decide."""

    server_version = "CleanRoomsTestDouble/1.0"
    max_body_bytes = _MAX_BODY_BYTES
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = LocalHttpHandler.serve


class CleanRoomsEndpoint(LocalHttpEndpoint):
    """A threaded local HTTP server for configured audience model associations (module doc).

    ``ml`` links a Clean Rooms ML double: an association's configured audience model must then
    exist there. A default membership (``default_membership_id``) is registered.
    """

    handler = _Handler
    thread_name = "cleanrooms"
    internal_error = INTERNAL_ERROR
    bad_request = "ValidationException"

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        page_size: int = 3,
        ml: CleanRoomsMLEndpoint | None = None,
        validate_responses: bool = __debug__,
    ) -> None:
        operations = {
            "CreateConfiguredAudienceModelAssociation": self._create,
            "GetConfiguredAudienceModelAssociation": self._get,
            "UpdateConfiguredAudienceModelAssociation": self._update,
            "DeleteConfiguredAudienceModelAssociation": self._delete,
            "ListConfiguredAudienceModelAssociations": self._list,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags,
        }
        super().__init__({name: operations[name] for name in served_operations()})
        self.region, self.account_id, self.page_size = region, account_id, page_size
        self.ml, self.validate_responses = ml, validate_responses
        self._memberships: dict[str, MembershipRecord] = {}
        self._associations: dict[str, AssociationRecord] = {}  # by ARN
        self._seq = 0
        _routes()  # load the model before requests arrive on several threads
        self.default_membership_id = DEFAULT_MEMBERSHIP_ID
        self.add_membership(DEFAULT_MEMBERSHIP_ID)

    def arn(self, resource: str) -> str:
        """A Clean Rooms ARN in this endpoint's region and account."""
        return f"arn:aws:cleanrooms:{self.region}:{self.account_id}:{resource}"

    # ------------------------------------------------------------------------ test controls

    def add_membership(self, membership_id: str, *, collaboration_id: str | None = None) -> str:
        """Register a membership (of a made-up collaboration by default); its ARN."""
        shape = service_model().operation_model("GetConfiguredAudienceModelAssociation")
        problems = validate(membership_id, shape.input_shape.members["membershipIdentifier"])
        collaboration = collaboration_id or str(uuid.uuid4())
        member = service_model().shape_for("ConfiguredAudienceModelAssociation").members
        problems += validate(collaboration, member["collaborationId"], "collaboration_id")
        if problems:
            raise ValueError("; ".join(problems))
        record = MembershipRecord(
            membership_id,
            self.arn(f"membership/{membership_id}"),
            collaboration,
            self.arn(f"collaboration/{collaboration}"),
        )
        with self._lock:
            self._memberships[membership_id] = record
        return record.arn

    # --------------------------------------------------------------------------- inspection

    @property
    def associations(self) -> dict[str, AssociationRecord]:
        """Copies of the associations that exist, by ARN."""
        with self._lock:
            return copy.deepcopy(self._associations)

    # --------------------------------------------------------------------- request handling

    def handle_request(self, method: str, target: str, body: bytes) -> Answer:
        """Answer one HTTP request (also usable without the server); never raises."""
        return self._guarded(f"{method} {target}", lambda: self._handle(method, target, body))

    def _answer(self, method: str, target: str, body: bytes) -> Answer:
        return self.handle_request(method, target, body)

    def _handle(self, method: str, target: str, body: bytes) -> Answer:
        split = urlsplit(target)
        route = find_route(_routes(), method, split.path)
        if route is None or route[0] not in self._operations:
            name = route[0] if route else f"{method} {split.path}"
            self._log_call(name, {})  # an unrouted call is logged as "METHOD /path"
            message = f"{name} is not implemented by the double" if route else f"No route: {name}"
            unknown = CleanRoomsError("UnknownOperationException", message, status=404)
            return self._error_answer(unknown)
        operation_model = service_model().operation_model(route[0])
        params, problems = parse_request(operation_model, route[1], split.query, body)
        fault = self._log_call(route[0], params)
        problems += validate(params, operation_model.input_shape)
        if route[0] in TAG_OPERATIONS:  # association ARNs are longer than the model's cap
            problems = [problem for problem in problems if _UNCAPPED_TAG_ARN not in problem]
        return self._carry_out(fault, route[0], params, problems)

    def _success_answer(self, operation: str, result: JsonDict) -> Answer:
        operation_model = service_model().operation_model(operation)
        shape, status = operation_model.output_shape, operation_model.http.get("responseCode", 200)
        if status == 204:  # No Content: botocore reads no body
            return _json_answer(status, None)
        if shape is None:
            return _json_answer(status, {})
        self._check_drift(operation, result, shape)
        return _json_answer(status, to_wire(result, shape))

    def _error_answer(self, error: ServiceError) -> Answer:
        model, document = service_model(), error.body()
        if error.code in model.shape_names:
            shape = model.shape_for(error.code)
            self._check_drift(error.code, document, shape)
            document = to_wire(document, shape)
        return _json_answer(error.status, document, error.code)

    def _check_drift(self, what: str, document: JsonDict, shape: Any) -> None:
        """The debug assertion that keeps the double on the model (even under ``python -O``)."""
        problems = validate(document, shape) if self.validate_responses else []
        problems = [problem for problem in problems if _OPEN_ENUM not in problem]
        if problems:
            raise AssertionError(f"{what} response drifted from the model: {problems}")

    # ------------------------------------------------------------ operations (lock is held)

    def _membership(self, membership_id: str) -> MembershipRecord:
        membership = self._memberships.get(membership_id)
        if membership is None:
            raise _not_found("Membership", membership_id, "MEMBERSHIP")
        return membership

    def _association(self, params: JsonDict) -> AssociationRecord:
        membership = self._membership(params["membershipIdentifier"])
        wanted = params["configuredAudienceModelAssociationIdentifier"]
        for association in self._associations.values():
            if association.id == wanted and association.membership == membership:
                return association
        raise _not_found("Configured audience model association", wanted, ASSOCIATION_TYPE)

    def _view(self, association: AssociationRecord, shape: Any) -> JsonDict:
        membership = association.membership
        known: JsonDict = {
            "id": association.id,
            "arn": association.arn,
            "configuredAudienceModelArn": association.configured_audience_model_arn,
            "membershipId": membership.id,
            "membershipArn": membership.arn,
            "collaborationId": membership.collaboration_id,
            "collaborationArn": membership.collaboration_arn,
            "name": association.name,
            "manageResourcePolicies": association.manage_resource_policies,
            "description": association.description,
            "createTime": association.create_time,
            "updateTime": association.update_time,
        }
        return {
            key: copy.deepcopy(value)
            for key, value in known.items()
            if key in shape.members and value is not None
        }

    def _output_view(self, association: AssociationRecord) -> JsonDict:
        shape = service_model().shape_for("ConfiguredAudienceModelAssociation")
        return {"configuredAudienceModelAssociation": self._view(association, shape)}

    def _check_unique(self, membership: MembershipRecord, name: str, arn: str | None) -> None:
        taken = [
            a
            for a in self._associations.values()
            if a.membership == membership and a.name == name and a.arn != arn
        ]
        if taken:
            message = f"An association named {name!r} already exists in membership {membership.id}"
            raise CleanRoomsError(
                "ConflictException",
                message,
                resourceId=taken[0].id,
                resourceType=ASSOCIATION_TYPE,
                reason="ALREADY_EXISTS",
            )

    def _create(self, params: JsonDict) -> JsonDict:
        tags: dict[str, str] = dict(params.get("tags") or {})
        _check_tags(tags, "tags")
        _check_tag_count(tags)
        membership = self._membership(params["membershipIdentifier"])
        model_arn = params["configuredAudienceModelArn"]
        if self.ml is not None and model_arn not in self.ml.configured_audience_models:
            # a guess: the operation models ResourceNotFoundException, the docs say no more
            raise _not_found("Configured audience model", model_arn, CONFIGURED_MODEL_TYPE)
        name = params["configuredAudienceModelAssociationName"]
        self._check_unique(membership, name, None)
        self._seq += 1
        association_id = str(uuid.uuid4())
        now = _utcnow()
        association = AssociationRecord(
            id=association_id,
            arn=f"{membership.arn}/configuredaudiencemodelassociation/{association_id}",
            membership=membership,
            name=name,
            configured_audience_model_arn=model_arn,
            manage_resource_policies=params["manageResourcePolicies"],
            seq=self._seq,
            description=params.get("description"),
            tags=tags,
            create_time=now,
            update_time=now,
        )
        self._associations[association.arn] = association
        return self._output_view(association)

    def _get(self, params: JsonDict) -> JsonDict:
        return self._output_view(self._association(params))

    def _update(self, params: JsonDict) -> JsonDict:
        association = self._association(params)
        name = params.get("name")
        if name is not None:
            self._check_unique(association.membership, name, association.arn)
            association.name = name
        if "description" in params:
            association.description = params["description"]
        association.update_time = _utcnow()
        return self._output_view(association)

    def _delete(self, params: JsonDict) -> JsonDict:
        del self._associations[self._association(params).arn]
        return {}

    def _list(self, params: JsonDict) -> JsonDict:
        membership = self._membership(params["membershipIdentifier"])
        after = _decode_token(params.get("nextToken"))
        size = int(params.get("maxResults") or self.page_size)
        matches = sorted(
            (
                a
                for a in self._associations.values()
                if a.membership == membership and a.seq > after
            ),
            key=lambda a: a.seq,
        )
        output = service_model().operation_model("ListConfiguredAudienceModelAssociations")
        key = "configuredAudienceModelAssociationSummaries"
        summary = output.output_shape.members[key].member
        result: JsonDict = {key: [self._view(a, summary) for a in matches[:size]]}
        if len(matches) > size:
            result["nextToken"] = _encode_token(matches[size - 1].seq)
        return result

    def _tags_of(self, arn: str) -> dict[str, str]:
        association = self._associations.get(arn)
        if association is None:
            raise _not_found("Resource", arn, ASSOCIATION_TYPE)
        return association.tags

    def _tag_resource(self, params: JsonDict) -> JsonDict:
        _check_tags(params["tags"], "tags")
        tags = self._tags_of(params["resourceArn"])
        _check_tag_count({**tags, **params["tags"]})
        tags.update(params["tags"])
        return {}

    def _untag_resource(self, params: JsonDict) -> JsonDict:
        _check_tags(params["tagKeys"], "tagKeys")
        tags = self._tags_of(params["resourceArn"])
        for key in params["tagKeys"]:
            tags.pop(key, None)
        return {}

    def _list_tags(self, params: JsonDict) -> JsonDict:
        return {"tags": dict(self._tags_of(params["resourceArn"]))}
