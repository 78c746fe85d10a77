"""The shared handler, configured once per stack with AudienceGenerationJobProvider.configure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_cleanrooms_ml import (
    AudienceGenerationJob,
    AudienceGenerationJobProvider,
    CleanRoomsMLProvider,
    SeedAudience,
)

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
ROLE_ARN = "arn:aws:iam::111122223333:role/seed-reader"


def add_job(scope: cdk.Stack, id: str = "Job") -> AudienceGenerationJob:
    return AudienceGenerationJob(
        scope,
        id,
        configured_audience_model_arn=MODEL,
        seed_audience=SeedAudience.from_s3("s3://seed/prefix/", ROLE_ARN),
    )


def handlers(template: Template) -> list[Mapping[str, Any]]:
    """The two handler functions (on_event and is_complete), not the framework's."""
    functions = template.find_resources("AWS::Lambda::Function").values()
    found = [f for f in functions if f["Properties"]["Handler"].startswith("index.")]
    assert len(found) == 2
    return found


def test_defaults() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    add_job(stack)

    template = Template.from_stack(stack)

    for function in handlers(template):
        assert function["Properties"]["MemorySize"] == 256
        assert function["Properties"]["Runtime"] == "python3.14"
        assert function["Properties"]["Architectures"] == ["arm64"]
    (log_group,) = template.find_resources("AWS::Logs::LogGroup").values()
    assert log_group["Properties"] == {"RetentionInDays": 30}
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "Path" not in role["Properties"]
        assert "PermissionsBoundary" not in role["Properties"]


def test_every_setting_reaches_the_handler() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    key = kms.Key(stack, "LogsKey", enable_key_rotation=True)
    boundary = iam.ManagedPolicy.from_managed_policy_name(stack, "Boundary", "org-boundary")

    provider = AudienceGenerationJobProvider.configure(
        stack,
        memory_size=512,
        log_retention=logs.RetentionDays.ONE_YEAR,
        log_group_encryption_key=key,
        permissions_boundary=boundary,
        role_path="/service/cleanrooms/",
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.X86_64,
    )
    add_job(stack, "A")
    add_job(stack, "B")
    template = Template.from_stack(stack)

    assert AudienceGenerationJobProvider.of(stack) is provider
    for function in handlers(template):
        assert function["Properties"]["MemorySize"] == 512
        assert function["Properties"]["Runtime"] == "python3.12"
        assert function["Properties"]["Architectures"] == ["x86_64"]
    (log_group,) = template.find_resources("AWS::Logs::LogGroup").values()
    assert log_group["Properties"]["RetentionInDays"] == 365
    assert log_group["Properties"]["KmsKeyId"] == {
        "Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]  # type: ignore[arg-type]
    }
    roles = template.find_resources("AWS::IAM::Role").values()
    assert len(roles) == 4, "the handler's, the framework's two and the waiter's"
    for role in roles:
        assert role["Properties"]["Path"] == "/service/cleanrooms/"
        assert "org-boundary" in json.dumps(role["Properties"]["PermissionsBoundary"])
    template.resource_count_is(RESOURCE_TYPE, 2)
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)


def test_settings_are_per_stack() -> None:
    app = cdk.App()
    large, default = cdk.Stack(app, "Large"), cdk.Stack(app, "Default")
    AudienceGenerationJobProvider.configure(large, memory_size=1024)
    add_job(large)
    add_job(default)

    memory = {
        stack.stack_name: {
            function["Properties"]["MemorySize"]
            for function in handlers(Template.from_stack(stack))
        }
        for stack in (large, default)
    }

    assert memory == {"Large": {1024}, "Default": {256}}


def test_configuring_after_the_first_job_is_an_error() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    add_job(stack)

    with pytest.raises(ValueError, match=r"has its handler already .* before the stack's first"):
        AudienceGenerationJobProvider.configure(stack, memory_size=512)


def test_configuring_twice_is_an_error() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    AudienceGenerationJobProvider.configure(stack, memory_size=512)

    with pytest.raises(ValueError, match="has its handler already"):
        AudienceGenerationJobProvider.configure(stack, memory_size=1024)


def test_both_names_configure_the_one_provider_of_the_stack() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    provider = AudienceGenerationJobProvider.configure(stack, memory_size=512)
    add_job(stack)

    assert AudienceGenerationJobProvider is CleanRoomsMLProvider
    assert CleanRoomsMLProvider.of(stack) is provider
    with pytest.raises(ValueError, match="has its handler already"):
        CleanRoomsMLProvider.configure(stack, memory_size=1024)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"memory_size": 64}, "memory_size: must be 128 to 10240 MiB, got 64"),
        ({"runtime": lambda_.Runtime.NODEJS_22_X}, "runtime: must be Python 3.10 or newer"),
        ({"runtime": lambda_.Runtime.PYTHON_3_9}, "runtime: must be Python 3.10 or newer"),
    ],
)
def test_settings_the_handler_cannot_run_with_are_refused(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AudienceGenerationJobProvider.configure(cdk.Stack(cdk.App(), "Jobs"), **settings)
