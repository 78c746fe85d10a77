"""A stand-in for CloudFormation and the CDK Provider framework, driving the handler module.

It keeps the framework's rules (read from aws-cdk-lib's ``provider-framework/runtime``):
- ``on_event`` first; its result is merged into the event that ``is_complete`` then receives, over
  and over, every ``query_interval``, until it returns ``IsComplete`` or the total timeout passes;
- if ``on_event`` raises on Create, the FAILED response carries the marker
  ``AWSCDK::CustomResourceProviderFramework::CREATE_FAILED``, and the Delete that follows for that
  marker is answered SUCCESS by the framework without calling the handler;
- if ``is_complete`` raises, the FAILED response carries the physical id ``on_event`` returned;
- the final Data is ``on_event``'s Data updated with ``is_complete``'s, and ``is_complete`` may set
  the physical id;
- a Delete may not change the physical id.

And CloudFormation's: properties arrive with every scalar as a string, a response body over 4096
bytes is rejected, a changed physical id on Update is a replacement whose old resource is deleted
in cleanup, and a failed Update is rolled back by another Update with old and new swapped. It
tracks the resource and stack statuses as CloudFormation does and serves them from the local
CloudFormation endpoint (``cloudformation_endpoint``), where the handler checks that its request
is still the one in progress: a create can be cancelled when a sibling fails (then a Delete with
a physical id CloudFormation made up follows), and a redelivered request can have been answered
by its other waiter already; CloudFormation ignores answers to requests it has closed.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import Any, Literal, Protocol

from cloudformation_endpoint import (
    CloudFormationEndpoint,
    ResourceRecord,
    StackRecord,
    running,
    stack_name,
)

CREATE_FAILED_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/Jobs/5b1f3f10-1111-2222-3333-444455556666"
)
RESPONSE_URL = (
    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/"
    "arn%3Aaws%3Acloudformation?X-Amz-Signature=presigned-secret-signature"
)
MAX_RESPONSE_BYTES = 4096
# What the framework's JavaScript Error adds around the handler's message (its own stack frames).
_FRAMEWORK_REASON_SUFFIX = "\n\nLogs: /aws/lambda/Jobs-OnEvent-AbCdEf123456\n\n" + (
    "    at invokeUserFunction (/var/task/framework.js:1:2800)\n" * 4
)


class ResponseTooLarge(AssertionError):
    """CloudFormation would reject this response (over 4096 bytes)."""


@dataclass
class Response:
    """What the framework sends to the presigned ResponseURL."""

    status: str
    physical_id: str
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    """The error message in the Reason (the handler's own, when the handler failed)."""
    polls: int = 0
    raw_reason: str = ""
    """The Reason as the framework sends it: the message inside a JavaScript stack."""

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"


def stringify(value: Any) -> Any:
    """Properties as CloudFormation delivers them to a custom resource: scalars become strings."""
    if isinstance(value, Mapping):
        return {key: stringify(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stringify(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


class Sleep(Protocol):
    """How a framework waits between polls.

    Not ``Callable``: mypy takes a class attribute of that type for a method, which tests could
    not replace through the ``Framework`` protocol.
    """

    def __call__(self, seconds: float, /) -> None: ...


class Framework(Protocol):
    """What a Stack needs of a Provider framework (``provider_runtime`` runs the real one)."""

    total_timeout: float
    sleep: Sleep

    def deliver(self, event: dict[str, Any]) -> Response: ...

    def begin(self, event: Mapping[str, Any]) -> Response | dict[str, Any]: ...

    def poll(
        self, execution: Mapping[str, Any], polls: int, *, timed_out: bool
    ) -> Response | None: ...


@dataclass
class ProviderFramework:
    """Delivers one event through ``on_event`` and ``is_complete`` as the CDK framework does.

    A restatement of the framework in Python, kept only where its real runtime
    (``provider_runtime.RealProviderFramework``) cannot run or would skew what is measured: the
    old-botocore test in tests/test_packaging.py runs Python with ``-S`` so that nothing but
    botocore 1.34.4 imports, which leaves aws-cdk-lib (it carries the runtime) out of reach; and
    bench/handler_bench.py times the handler itself, which Node round trips would blur.
    """

    handler: ModuleType
    query_interval: float = 0.0
    total_timeout: float = 60.0
    sleep: Sleep = time.sleep

    def deliver(self, event: dict[str, Any]) -> Response:
        """The whole operation: ``on_event``, then ``is_complete`` until it is done."""
        begun = self.begin(event)
        if isinstance(begun, Response):
            return begun
        deadline = time.monotonic() + self.total_timeout
        polls = 0
        while True:
            polls += 1
            response = self.poll(begun, polls, timed_out=time.monotonic() >= deadline)
            if response is not None:
                return response
            self.sleep(self.query_interval)

    def begin(self, event: Mapping[str, Any]) -> Response | dict[str, Any]:
        """``on_event``: the answer when there is one already, else the event to poll with."""
        event = {**event, "ResponseURL": RESPONSE_URL}
        if event["RequestType"] == "Delete" and event.get("PhysicalResourceId") == (
            CREATE_FAILED_MARKER
        ):
            return self.respond("SUCCESS", event)
        try:
            result = self.handler.on_event(copy.deepcopy(event), None) or {}
        except Exception as error:
            failed = dict(event)
            if not failed.get("PhysicalResourceId"):
                failed["PhysicalResourceId"] = CREATE_FAILED_MARKER
            return self.respond("FAILED", failed, reason=str(error))
        physical_id = result.get("PhysicalResourceId") or self._default_physical_id(event)
        if event["RequestType"] == "Delete" and physical_id != event["PhysicalResourceId"]:
            return self.respond("FAILED", event, reason="DELETE: cannot change the physical id")
        return {**event, **result, "PhysicalResourceId": physical_id}

    def poll(self, event: Mapping[str, Any], polls: int, *, timed_out: bool) -> Response | None:
        """One ``is_complete`` with the event ``begin`` made; None: not done yet."""
        try:
            result = self.handler.is_complete(copy.deepcopy(dict(event)), None)
        except Exception as error:
            return self.respond("FAILED", event, reason=str(error), polls=polls)
        if result.get("IsComplete"):
            final = {
                **event,
                **result,
                "Data": {**(event.get("Data") or {}), **(result.get("Data") or {})},
            }
            return self.respond("SUCCESS", final, polls=polls)
        if result.get("Data"):
            reason = '"Data" is not allowed if "IsComplete" is "False"'
            return self.respond("FAILED", event, reason=reason, polls=polls)
        if timed_out:
            return self.respond("FAILED", event, reason="Operation timed out", polls=polls)
        return None

    @staticmethod
    def _default_physical_id(event: Mapping[str, Any]) -> str:
        if event["RequestType"] == "Create":
            return str(event["RequestId"])
        return str(event["PhysicalResourceId"])

    @staticmethod
    def respond(
        status: str, event: Mapping[str, Any], reason: str = "", polls: int = 0
    ) -> Response:
        full_reason = f"Error: {reason}{_FRAMEWORK_REASON_SUFFIX}" if reason else status
        body = {
            "Status": status,
            "Reason": full_reason,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "PhysicalResourceId": event.get("PhysicalResourceId"),
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": event.get("Data") or {},
        }
        size = len(json.dumps(body, ensure_ascii=False).encode())
        if size > MAX_RESPONSE_BYTES:
            raise ResponseTooLarge(f"response of {size} bytes: {body}")
        return Response(
            status=status,
            physical_id=str(event.get("PhysicalResourceId")),
            data=dict(event.get("Data") or {}),
            reason=reason,
            polls=polls,
            raw_reason=full_reason,
        )


Phase = Literal["progress", "rollback", "cleanup", "delete"]
Operation = Literal["CREATE", "UPDATE", "DELETE"]
CREATE_CANCELLED = "Resource creation cancelled"
UPDATE_CANCELLED = "Resource update cancelled"
_GENERATED_ID_ALPHABET = string.ascii_uppercase + string.digits
# The stack statuses CloudFormation always passes through on the way to another.
_STEPS_BEFORE: dict[str, tuple[str, ...]] = {
    "UPDATE_COMPLETE": ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",),
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": ("UPDATE_ROLLBACK_IN_PROGRESS",),
    "UPDATE_ROLLBACK_COMPLETE": (
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    ),
    "UPDATE_ROLLBACK_FAILED": ("UPDATE_ROLLBACK_IN_PROGRESS",),
    "ROLLBACK_COMPLETE": ("ROLLBACK_IN_PROGRESS",),
    "ROLLBACK_FAILED": ("ROLLBACK_IN_PROGRESS",),
}


@dataclass
class Request:
    """One request CloudFormation sent, and what became of the answers to it.

    CloudFormation takes the first answer to an open request and ignores any answer to a request
    it has closed (answered already, or cancelled because a sibling failed).
    """

    event: dict[str, Any]
    phase: Phase  # the part of the stack operation it belongs to
    accepted: Response | None = None
    ignored: list[Response] = field(default_factory=list)
    cancelled: bool = False
    owes: Phase | None = None  # the follow-up CloudFormation owes after the accepted answer

    @property
    def open(self) -> bool:
        return self.accepted is None and not self.cancelled

    @property
    def logical_id(self) -> str:
        return str(self.event["LogicalResourceId"])

    @property
    def request_type(self) -> str:
        return str(self.event["RequestType"])


@dataclass
class Waiter:
    """One run of the framework for a request (its waiter execution); a redelivery is another."""

    request: Request
    execution: dict[str, Any] | None  # what ``poll`` takes; None when ``on_event`` answered
    deadline: float  # time.monotonic() when the framework's total timeout ends this run
    response: Response | None = None  # what this run sent, once it ended
    polls: int = 0


@dataclass(frozen=True)
class StatusChange:
    """One stack event: of the stack (logical id: the stack's name) or of a resource."""

    logical_id: str
    status: str
    physical_id: str | None = None
    reason: str | None = None


@dataclass
class Stack:
    """One stack's custom resources as CloudFormation tracks them, served to the handler.

    Every request moves the resource and stack statuses the way CloudFormation does, and the
    stack is published to the local CloudFormation endpoint (the one running when the stack was
    made, if any), so the handler's DescribeStackResource and DescribeStacks see them:

    - Create: resource CREATE_IN_PROGRESS (no physical id) -> CREATE_COMPLETE, or CREATE_FAILED
      and, with its rollback Delete, DELETE_IN_PROGRESS -> DELETE_COMPLETE; stack CREATE_* or
      ROLLBACK_*, or UPDATE_* when the stack exists already (a resource added by an update);
    - Update: UPDATE_IN_PROGRESS -> UPDATE_COMPLETE, stack UPDATE_COMPLETE_CLEANUP_IN_PROGRESS
      (a replaced physical id is deleted then) -> UPDATE_COMPLETE; or UPDATE_FAILED, stack
      UPDATE_ROLLBACK_IN_PROGRESS, the rollback Update -> UPDATE_ROLLBACK_COMPLETE;
    - Delete: DELETE_IN_PROGRESS -> DELETE_COMPLETE or DELETE_FAILED; deleting the stack's last
      resource deletes the stack (DELETE_*), any other is removed by a stack update.

    ``begin_create`` and ``begin_update`` leave a request open with the framework's waiter
    running (a :class:`Waiter`, polled with ``poll_open``), so that a test can cancel it as
    CloudFormation does when a sibling fails, or deliver it again; every answer is recorded as
    taken or ignored in ``requests``.

    One limit: a failure rolls back only the failed resource, not its siblings. A step begun
    after an operation the test left unfinished (a failed create never rolled back) begins a new
    one, as a re-run deployment would.
    """

    framework: Framework
    stack_id: str = STACK_ID
    resource_type: str = "Custom::CleanRoomsMLAudienceGenerationJob"
    physical_ids: dict[str, str] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    cloudformation: CloudFormationEndpoint | None = field(default_factory=running)
    retained: set[str] = field(default_factory=set)
    """Logical ids whose UpdateReplacePolicy is Retain: a replaced physical id gets no Delete."""
    requests: list[Request] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)
    _record: StackRecord | None = field(default=None, init=False, repr=False)
    _operation: Operation = field(default="CREATE", init=False, repr=False)
    _failed: bool = field(default=False, init=False, repr=False)
    _rollback_failed: bool = field(default=False, init=False, repr=False)
    _created: bool = field(default=False, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    @property
    def name(self) -> str:
        return stack_name(self.stack_id)

    @property
    def status(self) -> str | None:
        """The StackStatus; None before the first request."""
        with self._lock:
            return self._record.status if self._record else None

    def resource(self, logical_id: str) -> ResourceRecord:
        """A copy of the resource as DescribeStackResource reports it."""
        with self._lock:
            assert self._record is not None, "no request was sent yet"
            return copy.deepcopy(self._record.resources[logical_id])

    def event(
        self, request_type: str, logical_id: str, properties: Mapping[str, Any], **extra: Any
    ) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:Jobs-framework-onEvent",
            "StackId": self.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": stringify(dict(properties)),
            **extra,
        }

    # -------------------------------------------------------------- whole requests, in turn

    def create(self, logical_id: str, properties: Mapping[str, Any]) -> Response:
        """Create; on failure CloudFormation deletes what was reported (the rollback)."""
        return self._deliver(self._open(self.event("Create", logical_id, properties), "progress"))

    def rollback_create(
        self, logical_id: str, failed: Response, properties: Mapping[str, Any]
    ) -> Response:
        """The Delete CloudFormation sends for the physical id a failed Create reported."""
        event = self.event("Delete", logical_id, properties, PhysicalResourceId=failed.physical_id)
        with self._lock:
            request = self._open(event, self._rollback_delete_phase())
        return self._deliver(request)

    def update(
        self, logical_id: str, properties: Mapping[str, Any]
    ) -> tuple[Response, Response | None]:
        """Update; a replacement's cleanup Delete follows success, a rollback Update failure.

        Returns the Update's response and the cleanup Delete's or rollback Update's response.
        """
        request = self._open(self._update_event(logical_id, properties), "progress")
        return self._deliver(request), self._follow_up(request)

    def delete(self, logical_id: str) -> Response:
        event = self.event(
            "Delete", logical_id, {}, PhysicalResourceId=self.physical_ids[logical_id]
        ) | {"ResourceProperties": self.properties[logical_id]}
        with self._lock:
            resources = self._record.resources if self._record else {}
            last = all(
                resource.status == "DELETE_COMPLETE"
                for other, resource in resources.items()
                if other != logical_id
            )
            request = self._open(event, "delete" if last else "cleanup", begins=True)
        return self._deliver(request)

    def remove_retained(self, logical_id: str) -> None:
        """A stack update drops the resource from the template under DeletionPolicy Retain.

        CloudFormation sends no Delete (the resource is DELETE_SKIPPED) and forgets its physical
        id: the job lives on, kept on purpose.
        """
        with self._lock:
            for records in (self.physical_ids, self.properties, self.data):
                records.pop(logical_id, None)
            if self._record is not None:
                self._record.resources.pop(logical_id, None)
            self._publish()

    # ------------------------------------------------------- requests left open, step by step

    def begin_create(self, logical_id: str, properties: Mapping[str, Any]) -> Waiter:
        """A Create whose waiter is left running: poll it with ``poll_open``."""
        return self._start(self._open(self.event("Create", logical_id, properties), "progress"))

    def begin_update(self, logical_id: str, properties: Mapping[str, Any]) -> Waiter:
        """An Update whose waiter is left running: poll it with ``poll_open``."""
        return self._start(self._open(self._update_event(logical_id, properties), "progress"))

    def redeliver(self, waiter: Waiter) -> Waiter:
        """The same event (same RequestId) delivered again: a second waiter for one request."""
        return self._start(waiter.request)

    def poll_open(self, waiter: Waiter) -> Response | None:
        """One ``is_complete`` of a waiter (timed out past its deadline); its answer once ended."""
        if waiter.response is not None or waiter.execution is None:
            return waiter.response
        waiter.polls += 1
        timed_out = time.monotonic() >= waiter.deadline
        response = self.framework.poll(waiter.execution, waiter.polls, timed_out=timed_out)
        if response is not None:
            waiter.response = response
            self._answer(waiter.request, response)
        return response

    def wait_open(self, waiter: Waiter, *, interval: float = 0.01) -> Response:
        """Poll a waiter until it answers (at the latest when the framework times out)."""
        while (response := self.poll_open(waiter)) is None:
            time.sleep(interval)
        return response

    def follow_up(self, waiter: Waiter) -> Response | None:
        """What CloudFormation sends after the answer it accepted, if anything.

        A failed Create's rollback Delete, a replacement's cleanup Delete of the old physical id,
        or a failed Update's rollback Update.
        """
        return self._follow_up(waiter.request)

    def cancel_create(
        self, logical_id: str, properties: Mapping[str, Any], waiter: Waiter
    ) -> Response:
        """A sibling failed while this Create was open: CloudFormation cancels it.

        The resource becomes CREATE_FAILED ("Resource creation cancelled"), and the rollback
        Delete carries a physical id CloudFormation made up (``<stack>-<logical id>-<12 random>``).
        The cancelled waiter keeps running; its answer will be ignored. Returns the Delete's.
        """
        generated = f"{self.name}-{logical_id}-" + "".join(
            secrets.choice(_GENERATED_ID_ALPHABET) for _ in range(12)
        )
        event = self.event("Delete", logical_id, properties, PhysicalResourceId=generated)
        with self._lock:
            self._cancel(waiter, logical_id, "Create", generated, CREATE_CANCELLED)
            request = self._open(event, self._rollback_delete_phase())
        return self._deliver(request)

    def cancel_update(self, logical_id: str, waiter: Waiter) -> Response:
        """A sibling failed while this Update was open: cancelled, then rolled back.

        The resource becomes UPDATE_FAILED ("Resource update cancelled"), the stack
        UPDATE_ROLLBACK_IN_PROGRESS, and the rollback Update (old and new swapped) follows.
        The cancelled waiter keeps running; its answer will be ignored. Returns the rollback's.
        """
        cancelled = waiter.request.event
        with self._lock:
            self._cancel(
                waiter, logical_id, "Update", cancelled["PhysicalResourceId"], UPDATE_CANCELLED
            )
            event = self.event(
                "Update",
                logical_id,
                {},
                PhysicalResourceId=cancelled["PhysicalResourceId"],
                OldResourceProperties=cancelled["ResourceProperties"],
            ) | {"ResourceProperties": cancelled["OldResourceProperties"]}
            request = self._open(event, "rollback")
        return self._deliver(request)

    # ---------------------------------------------------------------------------- internals

    def _update_event(self, logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        return self.event(
            "Update",
            logical_id,
            properties,
            PhysicalResourceId=self.physical_ids[logical_id],
            OldResourceProperties=self.properties[logical_id],
        )

    def _rollback_delete_phase(self) -> Phase:
        """A failed create is deleted in a create's rollback, or in an update's cleanup."""
        return "rollback" if self._operation == "CREATE" else "cleanup"

    def _open(self, event: dict[str, Any], phase: Phase, *, begins: bool = False) -> Request:
        """CloudFormation sends ``event``: the resource's and the stack's statuses move.

        A Create or Update (``progress``) or a ``begins`` step opens a stack operation unless
        requests are still open (then it joins theirs); a follow-up settles what was owed.
        """
        request = Request(copy.deepcopy(event), phase)
        logical_id, physical_id = request.logical_id, event.get("PhysicalResourceId")
        with self._lock:
            if (phase == "progress" or begins) and not any(r.open for r in self.requests):
                self._begin_operation("DELETE" if phase == "delete" else None)
            for earlier in self.requests:
                if earlier.logical_id == logical_id and phase != "progress":
                    earlier.owes = None
            self.requests.append(request)
            self._refresh()
            assert self._record is not None
            current = self._record.resources.get(logical_id)
            if request.request_type == "Create":
                self._set_resource(logical_id, "CREATE_IN_PROGRESS", None)
            elif request.request_type == "Update" and current is not None:
                self._set_resource(logical_id, "UPDATE_IN_PROGRESS", current.physical_id)
            elif current is None or current.physical_id in (None, physical_id):
                self._set_resource(logical_id, "DELETE_IN_PROGRESS", physical_id)
            else:  # the old physical id of a replacement: only the stack's events show it
                self._note(logical_id, "DELETE_IN_PROGRESS", physical_id)
            self._publish()
        return request

    def _begin_operation(self, kind: Operation | None) -> None:
        """A new stack operation: a stack not created yet is created (afresh), else updated."""
        now = datetime.now(timezone.utc)
        for request in self.requests:
            request.owes = None  # what the test left unfinished is forgotten
        self._failed = self._rollback_failed = False
        self._operation = kind or ("UPDATE" if self._created else "CREATE")
        if self._operation == "CREATE":
            self._record = StackRecord(self.stack_id, "CREATE_IN_PROGRESS", creation_time=now)
            self._note(self.name, "CREATE_IN_PROGRESS", self.stack_id)
            return
        assert self._record is not None
        if self._operation == "UPDATE":
            self._record.last_updated_time = now
        else:
            self._record.deletion_time = now
        self._set_stack_status(f"{self._operation}_IN_PROGRESS")

    def _start(self, request: Request) -> Waiter:
        deadline = time.monotonic() + self.framework.total_timeout
        begun = self.framework.begin(copy.deepcopy(request.event))
        if isinstance(begun, Response):
            self._answer(request, begun)
            return Waiter(request, None, deadline, begun)
        return Waiter(request, begun, deadline)

    def _deliver(self, request: Request) -> Response:
        response = self.framework.deliver(copy.deepcopy(request.event))
        self._answer(request, response)
        return response

    def _answer(self, request: Request, response: Response) -> bool:
        """CloudFormation receives an answer: taken if the request is open, else ignored."""
        with self._lock:
            if not request.open:
                request.ignored.append(response)
                return False
            request.accepted = response
            self._take(request, response)
            self._refresh()
            self._publish()
            return True

    def _take(self, request: Request, response: Response) -> None:
        """The statuses an accepted answer leads to, and what CloudFormation then owes."""
        assert self._record is not None
        logical_id, kind = request.logical_id, request.request_type
        current = self._record.resources.get(logical_id)
        reason = None if response.ok else response.reason
        if kind == "Create":
            status = "CREATE_COMPLETE" if response.ok else "CREATE_FAILED"
            self._set_resource(logical_id, status, response.physical_id, reason)
            if response.ok:
                self._record_success(logical_id, request.event, response)
            else:
                self._failed = True
                request.owes = self._rollback_delete_phase()
        elif kind == "Update":
            physical_id = (
                response.physical_id if response.ok else request.event["PhysicalResourceId"]
            )
            status = "UPDATE_COMPLETE" if response.ok else "UPDATE_FAILED"
            self._set_resource(logical_id, status, physical_id, reason)
            if request.phase == "rollback":
                self._rollback_failed |= not response.ok
            elif not response.ok:
                self._failed, request.owes = True, "rollback"
            else:
                self._record_success(logical_id, request.event, response)
                replaced = physical_id != request.event["PhysicalResourceId"]
                if replaced and logical_id not in self.retained:
                    request.owes = "cleanup"
        else:
            deleted = request.event["PhysicalResourceId"]
            status = "DELETE_COMPLETE" if response.ok else "DELETE_FAILED"
            if current is not None and current.physical_id == deleted:
                self._set_resource(logical_id, status, deleted, reason)
            else:
                self._note(logical_id, status, deleted, reason)
            if response.ok and self.physical_ids.get(logical_id) == deleted:
                del self.physical_ids[logical_id]
            if request.phase == "rollback":
                self._rollback_failed |= not response.ok
            elif request.phase == "delete":
                self._failed |= not response.ok

    def _follow_up(self, request: Request) -> Response | None:
        with self._lock:
            if request.owes is None or request.accepted is None:
                return None
            event, answer = request.event, request.accepted
            if request.request_type == "Create":
                follow = self.event(
                    "Delete", request.logical_id, {}, PhysicalResourceId=answer.physical_id
                ) | {"ResourceProperties": event["ResourceProperties"]}
            elif answer.ok:  # a replacement: the old physical id goes in the cleanup
                follow = self.event(
                    "Delete", request.logical_id, {}, PhysicalResourceId=event["PhysicalResourceId"]
                ) | {"ResourceProperties": event["OldResourceProperties"]}
            else:  # the rollback Update, old and new swapped
                follow = self.event(
                    "Update",
                    request.logical_id,
                    {},
                    PhysicalResourceId=event["PhysicalResourceId"],
                    OldResourceProperties=event["ResourceProperties"],
                ) | {"ResourceProperties": event["OldResourceProperties"]}
            opened = self._open(follow, request.owes)
        return self._deliver(opened)

    def _cancel(
        self, waiter: Waiter, logical_id: str, kind: str, physical_id: str, reason: str
    ) -> None:
        request = waiter.request
        if (request.logical_id, request.request_type) != (logical_id, kind):
            raise ValueError(f"not a {kind} of {logical_id}: {request.event['RequestType']}")
        if not request.open:
            raise ValueError("CloudFormation cancels only a request still open; this one closed")
        request.cancelled = True
        self._failed = True
        self._set_resource(logical_id, f"{kind.upper()}_FAILED", physical_id, reason)

    def _record_success(
        self, logical_id: str, event: Mapping[str, Any], response: Response
    ) -> None:
        self.physical_ids[logical_id] = response.physical_id
        self.properties[logical_id] = event["ResourceProperties"]
        self.data[logical_id] = response.data

    def _set_resource(
        self, logical_id: str, status: str, physical_id: str | None, reason: str | None = None
    ) -> None:
        assert self._record is not None
        self._record.resources[logical_id] = ResourceRecord(
            logical_id, self.resource_type, status, physical_id=physical_id, status_reason=reason
        )
        self._note(logical_id, status, physical_id, reason)

    def _note(
        self, logical_id: str, status: str, physical_id: str | None, reason: str | None = None
    ) -> None:
        self.history.append(StatusChange(logical_id, status, physical_id, reason))

    def _refresh(self) -> None:
        """Move the stack's status on from what is open or owed, through every step between."""
        work = {r.phase for r in self.requests if r.open}
        work |= {r.owes for r in self.requests if r.owes is not None}
        status = self._derived_status(work)
        assert self._record is not None
        if status == self._record.status:
            return
        steps = _STEPS_BEFORE.get(status, ())
        if self._record.status in steps:
            steps = steps[steps.index(self._record.status) + 1 :]
        for step in (*steps, status):
            self._set_stack_status(step)
        if status in ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
            self._record.resources = {
                logical_id: resource
                for logical_id, resource in self._record.resources.items()
                if resource.status != "DELETE_COMPLETE"  # removed from the stack
            }
        if status in ("CREATE_COMPLETE", "DELETE_COMPLETE"):
            self._created = status == "CREATE_COMPLETE"

    def _publish(self) -> None:
        if self.cloudformation is not None and self._record is not None:
            self.cloudformation.put_stack(self._record)

    def _derived_status(self, work: set[Phase]) -> str:
        if self._operation == "DELETE":
            return (
                "DELETE_IN_PROGRESS"
                if work
                else "DELETE_FAILED"
                if self._failed
                else "DELETE_COMPLETE"
            )
        if self._operation == "CREATE":
            if not self._failed:
                return "CREATE_IN_PROGRESS" if work else "CREATE_COMPLETE"
            if work:
                return "ROLLBACK_IN_PROGRESS"
            return "ROLLBACK_FAILED" if self._rollback_failed else "ROLLBACK_COMPLETE"
        if not self._failed:
            if "progress" in work:
                return "UPDATE_IN_PROGRESS"
            return "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" if work else "UPDATE_COMPLETE"
        if work & {"progress", "rollback"}:
            return "UPDATE_ROLLBACK_IN_PROGRESS"
        if self._rollback_failed:
            return "UPDATE_ROLLBACK_FAILED"
        return (
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" if work else "UPDATE_ROLLBACK_COMPLETE"
        )

    def _set_stack_status(self, status: str) -> None:
        assert self._record is not None
        self._record.status = status
        self._note(self.name, status, self.stack_id)
