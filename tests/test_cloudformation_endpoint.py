"""The local CloudFormation endpoint, and the statuses ``cloudformation.Stack`` serves from it.

Real boto3 clients, pointed at the endpoint by ``AWS_ENDPOINT_URL_CLOUDFORMATION`` alone, must
parse every answer; the status sequences are CloudFormation's, watched from inside a request by a
tiny handler that asks DescribeStackResource and DescribeStacks on every ``is_complete``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cloudformation import STACK_ID, Stack, Waiter
from cloudformation_endpoint import (
    CloudFormationEndpoint,
    CloudFormationFault,
    ResourceRecord,
    StackRecord,
    running,
)
from local_endpoint import local_endpoint
from provider_runtime import RealProviderFramework

DESCRIBE = "DescribeStackResource"
OTHER_ID = STACK_ID.replace("Jobs", "Other")


@pytest.fixture
def cloudformation() -> Iterator[CloudFormationEndpoint]:
    """The CloudFormation endpoint local_endpoint() starts, with boto3's environment set."""
    with local_endpoint():
        endpoint = running()
        assert endpoint is not None
        yield endpoint
        assert endpoint.internal_errors == []


@pytest.fixture
def client(cloudformation: CloudFormationEndpoint) -> Any:
    """A plain boto3 client: no endpoint_url, the environment points it at the endpoint."""
    return boto3.client("cloudformation")


def error_of(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return {
        **raised.value.response["Error"],
        "HTTPStatusCode": raised.value.response["ResponseMetadata"]["HTTPStatusCode"],
    }


# ---------------------------------------------------------------------------------- protocol


def test_both_operations_parse_with_boto3(
    cloudformation: CloudFormationEndpoint, client: Any
) -> None:
    stack = StackRecord(STACK_ID, "UPDATE_IN_PROGRESS")
    stack.resources["Job"] = ResourceRecord("Job", "Custom::X", "CREATE_IN_PROGRESS")
    stack.resources["Done"] = ResourceRecord(
        "Done", "Custom::X", "UPDATE_FAILED", physical_id="arn:job/1", status_reason="<&>"
    )
    cloudformation.put_stack(stack)

    (by_id,) = client.describe_stacks(StackName=STACK_ID)["Stacks"]
    (by_name,) = client.describe_stacks(StackName="Jobs")["Stacks"]
    (listed,) = client.describe_stacks()["Stacks"]
    in_progress = client.describe_stack_resource(StackName=STACK_ID, LogicalResourceId="Job")
    failed = client.describe_stack_resource(StackName=STACK_ID, LogicalResourceId="Done")

    assert by_id == by_name == listed
    assert (by_id["StackId"], by_id["StackName"], by_id["StackStatus"]) == (
        STACK_ID,
        "Jobs",
        "UPDATE_IN_PROGRESS",
    )
    assert isinstance(by_id["CreationTime"], datetime)
    detail = in_progress["StackResourceDetail"]
    assert "PhysicalResourceId" not in detail, "none while a create is in progress"
    assert (detail["StackId"], detail["StackName"], detail["ResourceType"]) == (
        STACK_ID,
        "Jobs",
        "Custom::X",
    )
    assert isinstance(detail["LastUpdatedTimestamp"], datetime)
    detail = failed["StackResourceDetail"]
    assert (detail["ResourceStatus"], detail["PhysicalResourceId"]) == (
        "UPDATE_FAILED",
        "arn:job/1",
    )
    assert detail["ResourceStatusReason"] == "<&>", "XML escaped on the wire"
    assert cloudformation.calls_of(DESCRIBE) == [
        {"StackName": STACK_ID, "LogicalResourceId": "Job"},
        {"StackName": STACK_ID, "LogicalResourceId": "Done"},
    ]


def test_unknown_stacks_and_resources_are_validation_errors(
    cloudformation: CloudFormationEndpoint, client: Any
) -> None:
    cloudformation.put_stack(StackRecord(STACK_ID, "CREATE_COMPLETE"))

    assert error_of(client.describe_stacks, StackName=OTHER_ID) == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": f"Stack with id {OTHER_ID} does not exist",
        "HTTPStatusCode": 400,
    }
    unknown = error_of(client.describe_stack_resource, StackName=OTHER_ID, LogicalResourceId="A")
    assert unknown["Message"] == f"Stack with id {OTHER_ID} does not exist"
    no_resource = error_of(
        client.describe_stack_resource, StackName=STACK_ID, LogicalResourceId="Job"
    )
    assert (no_resource["Code"], no_resource["Message"]) == (
        "ValidationError",
        "Resource Job does not exist for stack Jobs",
    )


def test_a_deleted_stack_is_described_by_its_id_only(
    cloudformation: CloudFormationEndpoint, client: Any
) -> None:
    cloudformation.put_stack(StackRecord(STACK_ID, "DELETE_COMPLETE"))

    (stack,) = client.describe_stacks(StackName=STACK_ID)["Stacks"]

    assert stack["StackStatus"] == "DELETE_COMPLETE"
    assert error_of(client.describe_stacks, StackName="Jobs")["Code"] == "ValidationError"
    assert client.describe_stacks()["Stacks"] == []


@pytest.mark.parametrize(
    ("fault", "times", "code", "calls"),
    [
        (CloudFormationFault.throttle(), 2, None, 3),
        (CloudFormationFault.throttle(), 3, "Throttling", 3),
        (CloudFormationFault.server_error(), 2, None, 3),
        (CloudFormationFault.server_error(503, "ServiceUnavailable"), 3, "ServiceUnavailable", 3),
        (CloudFormationFault.after_success(), 1, None, 2),
        (CloudFormationFault.access_denied(), 1, "AccessDenied", 1),
        (CloudFormationFault.error("StackNotFoundException"), 1, "StackNotFoundException", 1),
    ],
    ids=["throttled-then-ok", "throttled-out", "5xx-then-ok", "503-out", "lost", "denied", "404"],
)
def test_faults_meet_botocores_standard_retries(
    cloudformation: CloudFormationEndpoint,
    client: Any,
    fault: CloudFormationFault,
    times: int,
    code: str | None,
    calls: int,
) -> None:
    cloudformation.put_stack(StackRecord(STACK_ID, "CREATE_COMPLETE"))
    cloudformation.inject("DescribeStacks", fault, times=times)

    if code is None:
        assert client.describe_stacks(StackName=STACK_ID)["Stacks"][0]["StackName"] == "Jobs"
    else:
        assert error_of(client.describe_stacks, StackName=STACK_ID)["Code"] == code
    assert len(cloudformation.calls_of("DescribeStacks")) == calls


def test_a_fault_without_a_count_lasts_until_cleared(
    cloudformation: CloudFormationEndpoint, client: Any
) -> None:
    cloudformation.put_stack(StackRecord(STACK_ID, "CREATE_COMPLETE"))
    cloudformation.inject("DescribeStacks", CloudFormationFault.access_denied(), times=None)
    for _ in range(2):
        assert error_of(client.describe_stacks, StackName=STACK_ID)["HTTPStatusCode"] == 403

    cloudformation.clear_faults()
    cloudformation.clear_calls()

    assert client.describe_stacks(StackName=STACK_ID)["Stacks"]
    assert len(cloudformation.calls) == 1


def test_a_slow_answer_arrives_late(cloudformation: CloudFormationEndpoint, client: Any) -> None:
    cloudformation.put_stack(StackRecord(STACK_ID, "CREATE_COMPLETE"))
    cloudformation.inject("DescribeStacks", CloudFormationFault.slow(0.3))

    began = time.monotonic()
    client.describe_stacks(StackName=STACK_ID)

    assert time.monotonic() - began >= 0.3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"Version=2010-05-15", 400, "MissingAction"),
        (b"Action=ListStacks&Version=2010-05-15", 400, "InvalidAction"),
        (b"Action=Frobnicate&Version=2010-05-15", 400, "InvalidAction"),
        (b"Action=DescribeStacks&Version=2011-01-01", 400, "InvalidParameterValue"),
        (b"Action=DescribeStacks&Version=2010-05-15&Colour=red", 400, "ValidationError"),
        (b"Action=DescribeStackResource&Version=2010-05-15&StackName=Jobs", 400, "ValidationError"),
        (b"\xff", 400, "MissingAction"),
    ],
)
def test_requests_off_the_model_are_refused(body: bytes, status: int, code: str) -> None:
    answer_status, headers, payload = CloudFormationEndpoint().handle_request(body)

    assert (answer_status, headers["Content-Type"]) == (status, "text/xml")
    assert f"<Code>{code}</Code>".encode() in payload
    assert b"<Type>Sender</Type>" in payload


def test_a_status_off_the_models_enum_is_a_bug_of_the_double() -> None:
    endpoint = CloudFormationEndpoint()
    endpoint.put_stack(StackRecord(STACK_ID, "CREATE_DONE"))

    status, _, payload = endpoint.handle_request(
        f"Action=DescribeStacks&Version=2010-05-15&StackName={STACK_ID}".encode()
    )

    assert status == 500 and b"<Code>InternalFailure</Code>" in payload
    assert "CREATE_DONE" in endpoint.internal_errors[0]


# ------------------------------------------------------------------- statuses from a Stack

Seen = tuple[str, str | None, str]  # (resource status, physical id, stack status)


class WatchingHandler(ModuleType):
    """A handler whose physical id is its ``Id`` property, whose ``on_event`` refuses the request
    type in ``FailOn`` and ``is_complete`` the one in ``FailLater``, and not done with the
    (request type, Id) pairs in ``held``; each ``is_complete`` notes what CloudFormation says of
    its resource and stack."""

    def __init__(self) -> None:
        super().__init__("watching_handler")
        self.held: set[tuple[str, str]] = set()
        self.events: list[dict[str, Any]] = []
        self.seen: list[Seen] = []
        self.client = boto3.client("cloudformation")

    def on_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        self.events.append(dict(event))
        properties = event["ResourceProperties"]
        if properties.get("FailOn") == event["RequestType"]:
            raise RuntimeError(f"{event['RequestType']} refused")
        if event["RequestType"] == "Delete":
            return {}
        return {"PhysicalResourceId": properties["Id"]}

    def is_complete(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        stack_id, logical_id = event["StackId"], event["LogicalResourceId"]
        status = self.client.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        try:
            detail = self.client.describe_stack_resource(
                StackName=stack_id, LogicalResourceId=logical_id
            )["StackResourceDetail"]
            self.seen.append((detail["ResourceStatus"], detail.get("PhysicalResourceId"), status))
        except ClientError as error:
            self.seen.append((error.response["Error"]["Message"], None, status))
        properties = event["ResourceProperties"]
        if properties.get("FailLater") == event["RequestType"]:
            raise RuntimeError(f"{event['RequestType']} failed")
        return {"IsComplete": (event["RequestType"], properties.get("Id")) not in self.held}


@pytest.fixture
def handler(cloudformation: CloudFormationEndpoint) -> WatchingHandler:
    return WatchingHandler()


@pytest.fixture
def stack(handler: WatchingHandler) -> Stack:
    """Overrides conftest's: a stack served by the watching handler."""
    return Stack(RealProviderFramework(handler, query_interval=0.01, total_timeout=5))


def changes(stack: Stack, since: int = 0) -> list[tuple[str, str]]:
    return [(change.logical_id, change.status) for change in stack.history[since:]]


def test_create_update_delete(stack: Stack, handler: WatchingHandler, client: Any) -> None:
    assert stack.create("Job", {"Id": "job-1"}).ok
    assert handler.seen == [("CREATE_IN_PROGRESS", None, "CREATE_IN_PROGRESS")]
    updated, follow_up = stack.update("Job", {"Id": "job-1", "Description": "new"})
    assert updated.ok and follow_up is None
    assert handler.seen[1:] == [("UPDATE_IN_PROGRESS", "job-1", "UPDATE_IN_PROGRESS")]
    assert stack.delete("Job").ok
    assert handler.seen[2:] == [("DELETE_IN_PROGRESS", "job-1", "DELETE_IN_PROGRESS")]

    assert changes(stack) == [
        ("Jobs", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_COMPLETE"),
        ("Jobs", "CREATE_COMPLETE"),
        ("Jobs", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_COMPLETE"),
        ("Jobs", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Jobs", "UPDATE_COMPLETE"),
        ("Jobs", "DELETE_IN_PROGRESS"),
        ("Job", "DELETE_IN_PROGRESS"),
        ("Job", "DELETE_COMPLETE"),
        ("Jobs", "DELETE_COMPLETE"),
    ]
    detail = client.describe_stack_resource(StackName=STACK_ID, LogicalResourceId="Job")
    assert detail["StackResourceDetail"]["ResourceStatus"] == "DELETE_COMPLETE"
    assert stack.physical_ids == {}
    assert all(r.accepted is not None and r.ignored == [] for r in stack.requests)


def test_a_replacement_deletes_the_old_id_in_the_cleanup(
    stack: Stack, handler: WatchingHandler
) -> None:
    stack.create("Job", {"Id": "job-1"})
    mark = len(stack.history)

    updated, cleanup = stack.update("Job", {"Id": "job-2"})

    assert updated.physical_id == "job-2" and cleanup is not None and cleanup.ok
    assert handler.events[-1]["PhysicalResourceId"] == "job-1"
    assert handler.seen[-1] == ("UPDATE_COMPLETE", "job-2", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    assert changes(stack, mark) == [
        ("Jobs", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_COMPLETE"),
        ("Jobs", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Job", "DELETE_IN_PROGRESS"),
        ("Job", "DELETE_COMPLETE"),
        ("Jobs", "UPDATE_COMPLETE"),
    ]
    assert stack.history[-2].physical_id == "job-1", "the stack's events show the old id"
    assert (stack.resource("Job").status, stack.resource("Job").physical_id) == (
        "UPDATE_COMPLETE",
        "job-2",
    )


def test_a_failed_create_is_rolled_back(stack: Stack, handler: WatchingHandler) -> None:
    props = {"Id": "job-1", "FailLater": "Create"}
    failed = stack.create("Job", props)
    assert stack.status == "ROLLBACK_IN_PROGRESS"
    assert stack.resource("Job").status_reason == "Create failed"

    assert stack.rollback_create("Job", failed, props).ok

    assert changes(stack) == [
        ("Jobs", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_FAILED"),
        ("Jobs", "ROLLBACK_IN_PROGRESS"),
        ("Job", "DELETE_IN_PROGRESS"),
        ("Job", "DELETE_COMPLETE"),
        ("Jobs", "ROLLBACK_COMPLETE"),
    ]
    assert handler.seen == [
        ("CREATE_IN_PROGRESS", None, "CREATE_IN_PROGRESS"),
        ("DELETE_IN_PROGRESS", "job-1", "ROLLBACK_IN_PROGRESS"),
    ]


def test_a_failed_update_is_rolled_back(stack: Stack, handler: WatchingHandler) -> None:
    stack.create("Job", {"Id": "job-1"})
    mark = len(stack.history)

    updated, rollback = stack.update("Job", {"Id": "job-1", "FailOn": "Update"})

    assert not updated.ok and rollback is not None and rollback.ok
    assert handler.events[-1]["ResourceProperties"] == {"Id": "job-1"}
    assert handler.events[-1]["OldResourceProperties"] == {"Id": "job-1", "FailOn": "Update"}
    assert handler.seen[-1] == ("UPDATE_IN_PROGRESS", "job-1", "UPDATE_ROLLBACK_IN_PROGRESS")
    assert changes(stack, mark) == [
        ("Jobs", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_FAILED"),
        ("Jobs", "UPDATE_ROLLBACK_IN_PROGRESS"),
        ("Job", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_COMPLETE"),
        ("Jobs", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Jobs", "UPDATE_ROLLBACK_COMPLETE"),
    ]


def test_a_failed_delete(stack: Stack) -> None:
    stack.create("Job", {"Id": "job-1", "FailOn": "Delete"})

    assert not stack.delete("Job").ok

    assert changes(stack)[-3:] == [
        ("Job", "DELETE_IN_PROGRESS"),
        ("Job", "DELETE_FAILED"),
        ("Jobs", "DELETE_FAILED"),
    ]
    assert stack.physical_ids == {"Job": "job-1"}, "CloudFormation still holds it"


def test_removing_one_of_two_resources_is_an_update(stack: Stack, client: Any) -> None:
    stack.create("Kept", {"Id": "job-1"})
    stack.create("Gone", {"Id": "job-2"})

    assert stack.delete("Gone").ok

    assert changes(stack)[-5:] == [
        ("Jobs", "UPDATE_IN_PROGRESS"),
        ("Jobs", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Gone", "DELETE_IN_PROGRESS"),
        ("Gone", "DELETE_COMPLETE"),
        ("Jobs", "UPDATE_COMPLETE"),
    ]
    refused = error_of(client.describe_stack_resource, StackName=STACK_ID, LogicalResourceId="Gone")
    assert refused["Message"] == "Resource Gone does not exist for stack Jobs"


def _poll(stack: Stack, waiter: Waiter) -> None:
    assert stack.poll_open(waiter) is None, "the handler is not done"


def test_a_cancelled_create_is_deleted_with_an_id_cloudformation_made_up(
    stack: Stack, handler: WatchingHandler
) -> None:
    handler.held = {("Create", "job-1")}
    waiter = stack.begin_create("Job", {"Id": "job-1"})
    _poll(stack, waiter)

    deleted = stack.cancel_create("Job", {"Id": "job-1"}, waiter)

    made_up = deleted.physical_id
    assert deleted.ok and re.fullmatch(r"Jobs-Job-[A-Z0-9]{12}", made_up), made_up
    assert handler.events[-1]["RequestType"] == "Delete"
    assert handler.events[-1]["PhysicalResourceId"] == made_up
    assert changes(stack) == [
        ("Jobs", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_FAILED"),
        ("Jobs", "ROLLBACK_IN_PROGRESS"),
        ("Job", "DELETE_IN_PROGRESS"),
        ("Job", "DELETE_COMPLETE"),
        ("Jobs", "ROLLBACK_COMPLETE"),
    ]
    assert stack.history[2].reason == "Resource creation cancelled"

    # The cancelled waiter runs on; what it sees says its request is over; its answer is ignored.
    _poll(stack, waiter)
    handler.held.clear()
    late = stack.poll_open(waiter)

    assert late is not None and late.ok and late.physical_id == "job-1"
    assert handler.seen == [
        ("CREATE_IN_PROGRESS", None, "CREATE_IN_PROGRESS"),
        ("DELETE_IN_PROGRESS", made_up, "ROLLBACK_IN_PROGRESS"),
        ("DELETE_COMPLETE", made_up, "ROLLBACK_COMPLETE"),
        ("DELETE_COMPLETE", made_up, "ROLLBACK_COMPLETE"),
    ]
    assert waiter.request.cancelled and waiter.request.accepted is None
    assert waiter.request.ignored == [late]
    assert stack.status == "ROLLBACK_COMPLETE" and stack.physical_ids == {}


def test_a_resource_cancelled_while_added_by_an_update_leaves_the_stack(
    stack: Stack, handler: WatchingHandler
) -> None:
    stack.create("Kept", {"Id": "job-1"})
    handler.held = {("Create", "job-2")}
    waiter = stack.begin_create("Added", {"Id": "job-2"})
    mark = len(stack.history)

    assert stack.cancel_create("Added", {"Id": "job-2"}, waiter).ok
    _poll(stack, waiter)

    assert changes(stack, mark) == [
        ("Added", "CREATE_FAILED"),
        ("Jobs", "UPDATE_ROLLBACK_IN_PROGRESS"),
        ("Jobs", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Added", "DELETE_IN_PROGRESS"),
        ("Added", "DELETE_COMPLETE"),
        ("Jobs", "UPDATE_ROLLBACK_COMPLETE"),
    ]
    assert handler.seen[-1] == (
        "Resource Added does not exist for stack Jobs",
        None,
        "UPDATE_ROLLBACK_COMPLETE",
    )


def test_a_redelivered_create_has_two_waiters_and_one_answer(
    stack: Stack, handler: WatchingHandler
) -> None:
    handler.held = {("Create", "job-1")}
    first = stack.begin_create("Job", {"Id": "job-1"})
    second = stack.redeliver(first)
    _poll(stack, first)
    _poll(stack, second)
    handler.held.clear()

    taken = stack.wait_open(first)
    ignored = stack.wait_open(second)

    request_id = first.request.event["RequestId"]
    assert [event["RequestId"] for event in handler.events] == [request_id, request_id]
    assert handler.seen[-1] == ("CREATE_COMPLETE", "job-1", "CREATE_COMPLETE")
    assert first.request is second.request
    assert first.request.accepted is taken and first.request.ignored == [ignored]
    assert changes(stack) == [
        ("Jobs", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_IN_PROGRESS"),
        ("Job", "CREATE_COMPLETE"),
        ("Jobs", "CREATE_COMPLETE"),
    ]


def test_a_create_redelivered_after_its_answer_is_ignored(stack: Stack) -> None:
    waiter = stack.begin_create("Job", {"Id": "job-1"})
    taken = stack.wait_open(waiter)

    again = stack.wait_open(stack.redeliver(waiter))

    assert waiter.request.accepted is taken and waiter.request.ignored == [again]
    assert stack.status == "CREATE_COMPLETE"


def test_a_cancelled_update_is_rolled_back(stack: Stack, handler: WatchingHandler) -> None:
    stack.create("Job", {"Id": "job-1"})
    handler.held = {("Update", "job-2")}
    waiter = stack.begin_update("Job", {"Id": "job-2"})
    _poll(stack, waiter)
    mark = len(stack.history)

    rollback = stack.cancel_update("Job", waiter)

    assert rollback.ok and rollback.physical_id == "job-1"
    assert handler.events[-1]["ResourceProperties"] == {"Id": "job-1"}
    assert handler.events[-1]["OldResourceProperties"] == {"Id": "job-2"}
    assert changes(stack, mark) == [
        ("Job", "UPDATE_FAILED"),
        ("Jobs", "UPDATE_ROLLBACK_IN_PROGRESS"),
        ("Job", "UPDATE_IN_PROGRESS"),
        ("Job", "UPDATE_COMPLETE"),
        ("Jobs", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("Jobs", "UPDATE_ROLLBACK_COMPLETE"),
    ]
    assert stack.history[mark].reason == "Resource update cancelled"
    handler.held.clear()
    late = stack.wait_open(waiter)

    assert late.physical_id == "job-2" and waiter.request.ignored == [late]
    assert handler.seen[-1] == ("UPDATE_COMPLETE", "job-1", "UPDATE_ROLLBACK_COMPLETE")
    assert stack.physical_ids == {"Job": "job-1"}


def test_an_open_update_then_its_replacement_cleanup(stack: Stack) -> None:
    stack.create("Job", {"Id": "job-1"})
    waiter = stack.begin_update("Job", {"Id": "job-2"})

    assert stack.wait_open(waiter).physical_id == "job-2"
    assert stack.status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "the old id is still owed"
    cleanup = stack.follow_up(waiter)

    assert cleanup is not None and cleanup.physical_id == "job-1"
    assert stack.status == "UPDATE_COMPLETE"
    assert stack.follow_up(waiter) is None, "nothing more is owed"


def test_a_create_refused_by_on_event_is_answered_at_once(stack: Stack) -> None:
    waiter = stack.begin_create("Job", {"Id": "job-1", "FailOn": "Create"})

    assert waiter.response is not None and stack.poll_open(waiter) is waiter.response
    assert stack.status == "ROLLBACK_IN_PROGRESS"
    rollback = stack.follow_up(waiter)
    assert rollback is not None and rollback.ok
    assert stack.status == "ROLLBACK_COMPLETE"
    with pytest.raises(ValueError, match="still open"):
        stack.cancel_create("Job", {}, waiter)


def test_parallel_creates_keep_the_stack_in_progress_until_both_end(
    stack: Stack, handler: WatchingHandler
) -> None:
    first = stack.begin_create("First", {"Id": "job-1"})
    second = stack.begin_create("Second", {"Id": "job-2"})

    stack.wait_open(first)
    assert stack.status == "CREATE_IN_PROGRESS"
    stack.wait_open(second)

    assert stack.status == "CREATE_COMPLETE"
    assert handler.seen[-1] == ("CREATE_IN_PROGRESS", None, "CREATE_IN_PROGRESS")


def test_a_waiter_times_out_with_the_framework(handler: WatchingHandler) -> None:
    stack = Stack(RealProviderFramework(handler, total_timeout=0.1))
    handler.held = {("Create", "job-1")}

    response = stack.wait_open(stack.begin_create("Job", {"Id": "job-1"}))

    assert (response.status, response.reason) == ("FAILED", "Operation timed out")
    assert stack.resource("Job").status == "CREATE_FAILED"
    assert stack.status == "ROLLBACK_IN_PROGRESS"


def test_a_stack_without_an_endpoint_still_tracks_statuses(client: Any) -> None:
    class Quiet(ModuleType):
        def on_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
            return {"PhysicalResourceId": "job-1"}

        def is_complete(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
            return {"IsComplete": True}

    stack = Stack(RealProviderFramework(Quiet("quiet")), stack_id=OTHER_ID, cloudformation=None)

    assert stack.create("Job", {}).ok

    assert stack.status == "CREATE_COMPLETE"
    assert error_of(client.describe_stacks, StackName=OTHER_ID)["Code"] == "ValidationError"
