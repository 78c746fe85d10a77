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
in cleanup, and a failed Update is rolled back by another Update with old and new swapped.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

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


@dataclass
class Stack:
    """One stack's custom resources as CloudFormation tracks them."""

    framework: Framework
    stack_id: str = STACK_ID
    resource_type: str = "Custom::CleanRoomsMLAudienceGenerationJob"
    physical_ids: dict[str, str] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    def create(self, logical_id: str, properties: Mapping[str, Any]) -> Response:
        """Create; on failure CloudFormation deletes what was reported (the rollback)."""
        event = self.event("Create", logical_id, properties)
        response = self.framework.deliver(event)
        if response.ok:
            self._record(logical_id, event, response)
        return response

    def rollback_create(
        self, logical_id: str, failed: Response, properties: Mapping[str, Any]
    ) -> Response:
        """The Delete CloudFormation sends for the physical id a failed Create reported."""
        return self.framework.deliver(
            self.event("Delete", logical_id, properties, PhysicalResourceId=failed.physical_id)
        )

    def update(
        self, logical_id: str, properties: Mapping[str, Any]
    ) -> tuple[Response, Response | None]:
        """Update; a replacement's cleanup Delete follows success, a rollback Update failure.

        Returns the Update's response and the cleanup Delete's or rollback Update's response.
        """
        old_properties = self.properties[logical_id]
        old_physical_id = self.physical_ids[logical_id]
        event = self.event(
            "Update",
            logical_id,
            properties,
            PhysicalResourceId=old_physical_id,
            OldResourceProperties=old_properties,
        )
        response = self.framework.deliver(event)
        if not response.ok:
            rollback = self.framework.deliver(
                self.event(
                    "Update",
                    logical_id,
                    {},
                    PhysicalResourceId=old_physical_id,
                    OldResourceProperties=event["ResourceProperties"],
                )
                | {"ResourceProperties": old_properties}
            )
            return response, rollback
        self._record(logical_id, event, response)
        if response.physical_id == old_physical_id:
            return response, None
        cleanup = self.framework.deliver(
            self.event("Delete", logical_id, {}, PhysicalResourceId=old_physical_id)
            | {"ResourceProperties": old_properties}
        )
        return response, cleanup

    def delete(self, logical_id: str) -> Response:
        event = self.event(
            "Delete", logical_id, {}, PhysicalResourceId=self.physical_ids[logical_id]
        ) | {"ResourceProperties": self.properties[logical_id]}
        response = self.framework.deliver(event)
        if response.ok:
            del self.physical_ids[logical_id]
        return response

    def _record(self, logical_id: str, event: Mapping[str, Any], response: Response) -> None:
        self.physical_ids[logical_id] = response.physical_id
        self.properties[logical_id] = event["ResourceProperties"]
        self.data[logical_id] = response.data
