"""CloudFormation creating a whole synthesized stack, on a virtual clock.

``tests/cloudformation.py`` plays CloudFormation for one resource at a time; a deployment of many
resources that wait hours needs the rest of it: creating every resource once what it refers to
(``Ref``, ``Fn::GetAtt``) and its ``DependsOn`` are complete, in parallel; a WaitCondition that
completes on its handle's SUCCESS signal, fails on FAILURE or at its ``Timeout``; on a failure, no
new resource, and a rollback that deletes what was created in reverse order; and the stack's
long-wait state machine, whose executions (started by the handler, recorded by the local Step
Functions double) call ``watch`` and wait what it says.

Custom resources go through aws-cdk-lib's real Provider framework runtime (``provider_runtime``),
polled every ``query_interval`` of virtual time, up to its total timeout. Other resources complete
at once, with placeholder ids. The handler's clock is the virtual one (its ``time`` module is
replaced for the deployment's length), as is the local Clean Rooms ML endpoint's: a job that runs
30 minutes takes 30 virtual minutes and a moment of real time.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from cleanrooms.engine import lifecycle, long_wait, state
from cleanrooms_ml_endpoint import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, ManualClock
from cloudformation import RESPONSE_URL, Response, stringify
from cloudformation_endpoint import CloudFormationEndpoint, ResourceRecord, StackRecord
from long_wait_endpoints import StepFunctionsEndpoint, WaitConditionHandles
from provider_runtime import RealProviderFramework

STACK_ID = (
    f"arn:aws:cloudformation:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:stack/Pipeline/"
    "0d1c2b3a-4444-5555-6666-777788889999"
)
EPOCH = 1_790_000_000.0
"""The handler's ``time.time()`` when the virtual clock reads 0."""
_WAIT_CONDITION = "AWS::CloudFormation::WaitCondition"
_PSEUDO = {
    "AWS::Region": DEFAULT_REGION,
    "AWS::AccountId": DEFAULT_ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": STACK_ID,
    "AWS::StackName": "Pipeline",
    "AWS::NoValue": None,
}


@dataclass
class Resource:
    logical_id: str
    type: str
    definition: dict[str, Any]
    depends_on: set[str]
    status: str = "PENDING"
    physical_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    started: float = 0.0
    ended: float = 0.0
    request_type: str = ""
    polls: int = 0


@dataclass
class Outcome:
    """How the deployment ended: the stack's status, and each resource as it was left."""

    status: str
    resources: dict[str, Resource]
    took: float
    """Virtual seconds from the first request to the last answer."""

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    @property
    def failures(self) -> list[str]:
        return [f"{r.logical_id}: {r.reason}" for r in self.resources.values() if r.reason]


class Deployment:
    """One stack create of ``template`` against the running local endpoints (see the module)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        handler: types.ModuleType,
        clock: ManualClock,
        *,
        query_interval: float = 30.0,
        total_timeout: float = 55 * 60.0,
    ) -> None:
        self.clock = clock
        self.handler = handler
        self.framework = RealProviderFramework(
            handler, query_interval=query_interval, total_timeout=total_timeout
        )
        self.resources = {
            logical_id: Resource(logical_id, d["Type"], d, dependencies(d))
            for logical_id, d in template["Resources"].items()
        }
        self.handles = _running(WaitConditionHandles)
        self.states = _running(StepFunctionsEndpoint)
        self.cloudformation = _running(CloudFormationEndpoint)
        self.record = StackRecord(STACK_ID, "CREATE_IN_PROGRESS", creation_time=_now())
        self.checks = 0
        """Calls of the long wait's ``watch``."""
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._played: set[str] = set()
        self._failed = False

    # ------------------------------------------------------------------------------ running

    def create(self, *, limit: float = 24 * 3600.0) -> Outcome:
        """Create the stack (and roll it back if anything fails); ends when nothing is left."""
        with self._virtual_time():
            began = self.clock()
            self._publish()
            self._start_ready()
            while self._queue:
                when, _, action = heapq.heappop(self._queue)
                if when - began > limit:
                    raise AssertionError(f"still deploying after {limit} virtual seconds")
                self.clock.advance(max(0.0, when - self.clock()))
                action()
                self._start_executions()
                if not self._failed:
                    self._start_ready()
                elif not self._in_flight():
                    self._roll_back()
            if self._failed:
                status = "ROLLBACK_COMPLETE"
                if any(r.status == "DELETE_FAILED" for r in self.resources.values()):
                    status = "ROLLBACK_FAILED"
            else:
                pending = [r.logical_id for r in self.resources.values() if r.status == "PENDING"]
                assert not pending, f"never created (a dependency cycle?): {pending}"
                status = "CREATE_COMPLETE"
            self.record.status = status
            self._publish()
            return Outcome(status, self.resources, self.clock() - began)

    def _at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.clock() + delay, next(self._sequence), action))

    def _in_flight(self) -> bool:
        return any(r.status.endswith("_IN_PROGRESS") for r in self.resources.values())

    def _start_ready(self) -> None:
        started = True
        while started:  # a resource that completes at once may free others
            started = False
            for resource in self.resources.values():
                if resource.status == "PENDING" and all(
                    self.resources[d].status == "CREATE_COMPLETE" for d in resource.depends_on
                ):
                    self._begin(resource)
                    started = True

    # ---------------------------------------------------------------------------- creating

    def _begin(self, resource: Resource) -> None:
        resource.status, resource.started = "CREATE_IN_PROGRESS", self.clock()
        self._set_record(resource)
        kind = resource.type
        if kind.startswith("Custom::"):
            self._request(resource, "Create")
        elif kind == "AWS::CloudFormation::WaitConditionHandle":
            self._complete(resource, self.handles.new_handle())
        elif kind == _WAIT_CONDITION:
            self._at(0, lambda: self._await_signals(resource))
        else:
            self._complete(resource, f"{resource.logical_id}-physical")

    def _request(self, resource: Resource, request_type: str) -> None:
        resource.request_type = request_type
        properties = self._resolve(resource.definition.get("Properties", {}))
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": properties.get("ServiceToken"),
            "ResponseURL": RESPONSE_URL,
            "StackId": STACK_ID,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": resource.logical_id,
            "ResourceType": resource.type,
            "ResourceProperties": stringify(properties),
        }
        if request_type == "Delete":
            event["PhysicalResourceId"] = resource.physical_id
        begun = self.framework.begin(event)
        if isinstance(begun, Response):
            self._answered(resource, begun)
            return
        resource.polls = 0
        self._at(self.framework.query_interval, lambda: self._poll(resource, begun))

    def _poll(self, resource: Resource, execution: Mapping[str, Any]) -> None:
        resource.polls += 1
        timed_out = resource.polls > self.framework.max_attempts
        response = self.framework.poll(execution, resource.polls, timed_out=timed_out)
        if response is None:
            self._at(self.framework.query_interval, lambda: self._poll(resource, execution))
        else:
            self._answered(resource, response)

    def _answered(self, resource: Resource, response: Response) -> None:
        deleting = resource.request_type == "Delete"
        if response.ok:
            if deleting:
                resource.status, resource.ended = "DELETE_COMPLETE", self.clock()
                self._set_record(resource)
            else:
                resource.data = response.data
                self._complete(resource, response.physical_id)
            return
        resource.reason = response.reason
        resource.physical_id = response.physical_id
        self._fail(resource, "DELETE_FAILED" if deleting else "CREATE_FAILED")

    def _complete(self, resource: Resource, physical_id: str) -> None:
        resource.status, resource.physical_id, resource.ended = (
            "CREATE_COMPLETE",
            physical_id,
            self.clock(),
        )
        self._set_record(resource)

    def _fail(self, resource: Resource, status: str) -> None:
        resource.status, resource.ended = status, self.clock()
        self._set_record(resource)
        if not self._failed and status == "CREATE_FAILED":
            self._failed = True
            self.record.status = "ROLLBACK_IN_PROGRESS"
            self._publish()
            for other in self.resources.values():  # CloudFormation cancels what still waits
                if other.type == _WAIT_CONDITION and other.status == "CREATE_IN_PROGRESS":
                    other.status, other.reason = "CREATE_FAILED", "Resource creation cancelled"
                    self._set_record(other)

    def _await_signals(self, resource: Resource) -> None:
        if resource.status != "CREATE_IN_PROGRESS":
            return
        properties = self._resolve(resource.definition["Properties"])
        signals = self.handles.signals(properties["Handle"])
        failed = [s for s in signals if s.status == "FAILURE"]
        if failed:
            resource.reason = f"WaitCondition received failed message: '{failed[0].reason}'"
            self._fail(resource, "CREATE_FAILED")
        elif len(signals) >= int(properties.get("Count", 1)):
            resource.data = {"Data": json.dumps({s.unique_id: s.data for s in signals})}
            self._complete(resource, properties["Handle"])
        elif self.clock() - resource.started >= float(properties["Timeout"]):
            resource.reason = "WaitCondition timed out. Received 0 conditions when expecting 1"
            self._fail(resource, "CREATE_FAILED")
        else:
            self._at(10, lambda: self._await_signals(resource))

    # -------------------------------------------------------------------------- rolling back

    def _roll_back(self) -> None:
        """Delete what was created, each once nothing created that depends on it is left."""
        for resource in self.resources.values():
            if resource.status not in ("CREATE_COMPLETE", "CREATE_FAILED"):
                continue
            dependents = [
                r
                for r in self.resources.values()
                if resource.logical_id in r.depends_on
                and r.status in ("CREATE_COMPLETE", "CREATE_FAILED", "DELETE_IN_PROGRESS")
            ]
            if dependents:
                continue
            resource.status = "DELETE_IN_PROGRESS"
            self._set_record(resource)
            if resource.type.startswith("Custom::") and resource.physical_id:
                self._request(resource, "Delete")
            else:
                resource.status = "DELETE_COMPLETE"
                self._set_record(resource)
        if not self._in_flight() and any(
            r.status in ("CREATE_COMPLETE", "CREATE_FAILED") for r in self.resources.values()
        ):
            self._at(0, lambda: None)  # another round: what those deletes freed

    # ------------------------------------------------------------------- the long-wait loop

    def _start_executions(self) -> None:
        for execution in self.states.executions:
            if execution.name not in self._played:
                self._played.add(execution.name)
                self._at(0, functools.partial(self._check, dict(execution.input)))

    def _check(self, payload: dict[str, Any]) -> None:
        self.checks += 1
        output = self.handler.watch(payload)
        if not output["Done"]:
            self._at(output["WaitSeconds"], lambda: self._check(output))

    # ----------------------------------------------------------------------------- plumbing

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            return _PSEUDO[name] if name in _PSEUDO else self.resources[name].physical_id
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            target = self.resources[logical_id]
            if attribute in target.data:
                return target.data[attribute]
            if target.type == "AWS::IAM::Role" and attribute == "Arn":
                return f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{logical_id}"
            return f"{logical_id}.{attribute}"
        if set(value) == {"Fn::Join"}:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(str(self._resolve(item)) for item in items)
        return {key: self._resolve(item) for key, item in value.items()}

    def _set_record(self, resource: Resource) -> None:
        self.record.resources[resource.logical_id] = ResourceRecord(
            resource.logical_id,
            resource.type,
            resource.status,
            last_updated=_now(),
            physical_id=resource.physical_id or None,
        )
        self._publish()

    def _publish(self) -> None:
        self.cloudformation.put_stack(self.record)

    @contextmanager
    def _virtual_time(self) -> Iterator[None]:
        clock = self.clock
        virtual = types.SimpleNamespace(time=lambda: EPOCH + clock(), sleep=lambda seconds: None)
        with pytest.MonkeyPatch.context() as patch:
            for module in (lifecycle, long_wait, state):
                patch.setattr(module, "time", virtual)
            yield


def references(value: Any) -> set[str]:
    """The logical ids a template value refers to (``Fn::GetAtt``, ``Ref`` of a resource)."""
    if isinstance(value, Mapping):
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        if "Ref" in value and not str(value["Ref"]).startswith("AWS::"):
            return {value["Ref"]}
        return set().union(*(references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(references(item) for item in value))
    return set()


def dependencies(definition: Mapping[str, Any]) -> set[str]:
    """What a resource waits for: what its properties refer to, and its ``DependsOn``."""
    depends_on = definition.get("DependsOn", [])
    return references(definition.get("Properties", {})) | set(
        [depends_on] if isinstance(depends_on, str) else depends_on
    )


def _running(double: Any) -> Any:
    found = double.running()
    assert found is not None, f"no {double.__name__} runs: use local_endpoint()"
    return found


def _now() -> datetime:
    return datetime.now(timezone.utc)
