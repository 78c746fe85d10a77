"""The harness that runs the CDK Provider framework's own runtime (tests/provider_runtime.py).

Each test drives the framework with a handler module whose two functions it writes itself, and
checks a rule of the framework, of the waiter state machine, or of CloudFormation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cloudformation import CREATE_FAILED_MARKER, RESPONSE_URL, STACK_ID, ResponseTooLarge
from provider_runtime import (
    IS_COMPLETE_FUNCTION_ARN,
    NO_RESPONSE,
    ON_EVENT_FUNCTION_ARN,
    RUNTIME_FILES,
    RealProviderFramework,
    runtime_dir,
)

Function = Callable[[dict[str, Any]], Any]
SERVICE_TOKEN = (
    "arn:aws:lambda:us-east-1:123456789012:function:"
    "Jobs-CleanRoomsMLJobProviderframeworkonEv-StUvWx901234"
)


def complete(event: dict[str, Any]) -> dict[str, Any]:
    return {"IsComplete": True}


class Handler(ModuleType):
    """A handler module made of the two functions given; it notes every event it receives."""

    def __init__(self, on_event: Function, is_complete: Function = complete) -> None:
        super().__init__("handler")
        self.functions = {"on_event": on_event, "is_complete": is_complete}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def on_event(self, event: dict[str, Any], context: Any) -> Any:
        return self._call("on_event", event)

    def is_complete(self, event: dict[str, Any], context: Any) -> Any:
        return self._call("is_complete", event)

    def _call(self, name: str, event: dict[str, Any]) -> Any:
        self.calls.append((name, event))
        return self.functions[name](event)


def request(request_type: str, physical_id: str | None = None, **properties: Any) -> dict[str, Any]:
    """An event as CloudFormation sends it to the framework's onEvent function."""
    event = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": RESPONSE_URL,
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "Resource",
        "ResourceType": "Custom::Test",
        "ResourceProperties": {"ServiceToken": SERVICE_TOKEN, **properties},
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def raises(error: Exception) -> Function:
    def function(event: dict[str, Any]) -> Any:
        raise error

    return function


def test_the_runtime_is_the_one_cdk_deploys(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from cdk_cleanrooms_ml import AudienceGenerationJob, SeedAudience

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Jobs")
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=(
            "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
        ),
        seed_audience=SeedAudience.from_s3(
            "s3://seed-bucket/seed/", "arn:aws:iam::111122223333:role/seed-reader"
        ),
    )
    template = app.synth().get_stack_artifact("Jobs").template
    (on_event,) = (
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Handler"] == "framework.onEvent"
    )
    asset = tmp_path / f"asset.{on_event['Properties']['Code']['S3Key'].removesuffix('.zip')}"

    assert sorted(path.name for path in asset.iterdir()) == sorted(RUNTIME_FILES)
    for name in RUNTIME_FILES:
        assert (asset / name).read_bytes() == (runtime_dir() / name).read_bytes(), name


def test_a_create_merges_the_data_of_both_functions() -> None:
    polls = iter([{"IsComplete": False}, {"IsComplete": True, "Data": {"B": "is_complete"}}])
    handler = Handler(
        lambda event: {"PhysicalResourceId": "res-1", "Data": {"A": "1", "B": "on_event"}},
        lambda event: next(polls),
    )
    slept: list[float] = []
    framework = RealProviderFramework(handler, query_interval=0.25, sleep=slept.append)

    response = framework.deliver(request("Create", Size="10"))

    assert (response.status, response.physical_id) == ("SUCCESS", "res-1")
    assert response.data == {"A": "1", "B": "is_complete"}
    assert (response.polls, slept) == (2, [0.25])
    (_, on_event), (_, first_poll), _ = handler.calls
    assert on_event["ResponseURL"] == RESPONSE_URL
    assert on_event["ResourceProperties"]["Size"] == "10"
    assert first_poll["PhysicalResourceId"] == "res-1", "is_complete gets on_event's result"


def test_a_failed_create_reports_the_marker_and_the_framework_answers_its_delete() -> None:
    handler = Handler(raises(ValueError("Name: must be 1 to 63 characters")))
    framework = RealProviderFramework(handler)

    failed = framework.deliver(request("Create"))
    deleted = framework.deliver(request("Delete", failed.physical_id))

    assert (failed.status, failed.physical_id) == ("FAILED", CREATE_FAILED_MARKER)
    assert failed.reason == "Name: must be 1 to 63 characters"
    function_name = ON_EVENT_FUNCTION_ARN.split(":")[-1]
    assert failed.raw_reason.startswith(
        f"Error: {failed.reason}\n\nLogs: /aws/lambda/{function_name}\n\n    at "
    )
    assert "(/var/task/framework.js:" in failed.raw_reason
    assert deleted.ok
    assert [name for name, _ in handler.calls] == ["on_event"], "the Delete never reached it"
    assert "ignoring DELETE event caused by a failed CREATE event" in "\n".join(framework.log)


def test_is_complete_raising_fails_with_the_physical_id_on_event_returned() -> None:
    handler = Handler(
        lambda event: {"PhysicalResourceId": "res-1"}, raises(RuntimeError("res-1 failed"))
    )

    response = RealProviderFramework(handler).deliver(request("Create"))

    assert (response.status, response.physical_id) == ("FAILED", "res-1")
    assert response.reason == "res-1 failed"
    assert f"Logs: /aws/lambda/{IS_COMPLETE_FUNCTION_ARN.split(':')[-1]}\n" in response.raw_reason


def test_data_is_not_allowed_before_is_complete() -> None:
    handler = Handler(lambda event: {}, lambda event: {"IsComplete": False, "Data": {"A": "1"}})

    response = RealProviderFramework(handler).deliver(request("Update", "res-1"))

    assert (response.status, response.physical_id, response.polls) == ("FAILED", "res-1", 1)
    assert response.reason == '"Data" is not allowed if "IsComplete" is "False"'


def test_a_delete_may_not_change_the_physical_id() -> None:
    handler = Handler(lambda event: {"PhysicalResourceId": "res-2"})

    response = RealProviderFramework(handler).deliver(request("Delete", "res-1"))

    assert (response.status, response.physical_id) == ("FAILED", "res-1")
    assert response.reason == (
        'DELETE: cannot change the physical resource ID from "res-1" to "res-2" during deletion'
    )
    assert [name for name, _ in handler.calls] == ["on_event"]


def test_cloudformation_takes_a_response_of_4096_bytes_and_no_more() -> None:
    event = request("Create")
    body = {
        "Status": "SUCCESS",
        "Reason": "SUCCESS",
        "StackId": STACK_ID,
        "RequestId": event["RequestId"],
        "PhysicalResourceId": "res-1",
        "LogicalResourceId": "Resource",
        "Data": {"Pad": ""},
    }
    room = 4096 - len(json.dumps(body, separators=(",", ":")))
    framework = RealProviderFramework(Handler(lambda event: event["ResourceProperties"]["Out"]))

    def deliver(pad: str) -> Any:
        out = {"PhysicalResourceId": "res-1", "Data": {"Pad": pad}}
        return framework.deliver({**event, "ResourceProperties": {"Out": out}})

    assert deliver("a" * room).ok
    # 4095 characters, 4097 bytes of UTF-8: CloudFormation counts bytes.
    with pytest.raises(ResponseTooLarge, match=r"^response of 4097 bytes"):
        deliver("a" * (room - 2) + "\u8a9e")


@pytest.mark.parametrize(
    ("property_size", "status"), [(12_000, "FAILED"), (16_000, NO_RESPONSE)], ids=["12K", "16K"]
)
def test_a_waiter_that_times_out(property_size: int, status: str) -> None:
    """onTimeout reads the event back from the error's Cause, which holds it twice: above about
    15 KB, Step Functions has cut the Cause and CloudFormation gets no response at all."""
    handler = Handler(
        lambda event: {"PhysicalResourceId": "res-1"}, lambda e: {"IsComplete": False}
    )
    slept: list[float] = []
    framework = RealProviderFramework(
        handler, query_interval=0.01, total_timeout=0.03, sleep=slept.append
    )

    response = framework.deliver(request("Create", Big="x" * property_size))

    assert (response.status, response.polls, slept) == (status, 4, [0.01] * 3)
    if status == "FAILED":
        assert (response.reason, response.physical_id) == ("Operation timed out", "res-1")
    else:
        assert response.reason.startswith("no response (SyntaxError: "), response.reason


def test_a_start_execution_input_over_256_kib_fails_the_request() -> None:
    """The framework then answers the request CloudFormation sent: on_event's result is lost."""
    handler = Handler(lambda event: {"PhysicalResourceId": "res-1", "State": "x" * 262_144})

    response = RealProviderFramework(handler).deliver(request("Create"))

    assert (response.status, response.physical_id) == ("FAILED", CREATE_FAILED_MARKER)
    assert "Member must have length less than or equal to 262144" in response.reason
    assert [name for name, _ in handler.calls] == ["on_event"]


def test_the_waiter_needs_a_whole_number_of_attempts() -> None:
    with pytest.raises(ValueError, match="not integral to queryInterval"):
        RealProviderFramework(Handler(complete), query_interval=0.3, total_timeout=1.0)
