"""The AudienceExportJob construct: its template (properties, GetAtt, no tags), the handler's IAM
for exports (Start on the generation job, by ARN pattern for a job of the same stack; List on
``*``; nothing without an export), synth-time errors naming the prop, ``AudienceSize``, cfn-lint
and cdk-nag 2.x and 3.x with and without ``env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from nag_harness import cfn_lint_findings, nag2_findings, nag3_violations
from template_queries import (
    actions_of,
    handler_statements,
    logical_id,
    properties,
    statement_with,
)

from cdk_cleanrooms_ml import (
    AudienceExportJob,
    AudienceGenerationJob,
    AudienceSize,
    AudienceSizeType,
    SeedAudience,
)

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceExportJob"
ACCOUNT = "111122223333"
ENV = cdk.Environment(account=ACCOUNT, region="us-east-1")
JOB = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-generation-job/spring"
CONFIGURED = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/m"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/seed-reader"
START = "cleanrooms-ml:StartAudienceExportJob"
LIST = "cleanrooms-ml:ListAudienceExportJobs"


def export(scope: cdk.Stack, id: str = "Export", **props: Any) -> AudienceExportJob:
    props.setdefault("audience_generation_job_arn", JOB)
    props.setdefault("audience_size", AudienceSize.absolute(10000))
    return AudienceExportJob(scope, id, **props)


def job(scope: cdk.Stack) -> AudienceGenerationJob:
    return AudienceGenerationJob(
        scope,
        "Job",
        configured_audience_model_arn=CONFIGURED,
        seed_audience=SeedAudience.from_s3("s3://seeds/seed/", ROLE),
    )


# --- template ----------------------------------------------------------------------------------


def test_properties_are_the_start_request_in_pascal_case() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=ENV)
    export(
        stack,
        audience_size=AudienceSize.percentage(10),
        name="spring-export",
        description="for the spring campaign",
        wait_timeout=cdk.Duration.minutes(20),
    )

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert {key: value for key, value in rendered.items() if key != "ServiceToken"} == {
        "AudienceGenerationJobArn": JOB,
        "AudienceSize": {"Type": "PERCENTAGE", "Value": 10},
        "Name": "spring-export",
        "Description": "for the spring campaign",
        "WaitForCompletion": True,
        "WaitTimeoutSeconds": 1200,
    }


def test_defaults_send_no_name_and_wait_for_completion() -> None:
    stack = cdk.Stack(cdk.App(), "Stack")
    export(stack, name="")

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert set(rendered) == {
        "ServiceToken",
        "AudienceGenerationJobArn",
        "AudienceSize",
        "WaitForCompletion",
    }
    assert rendered["WaitForCompletion"] is True


def test_attributes_are_get_atts_of_name_and_output_location() -> None:
    stack = cdk.Stack(cdk.App(), "Stack")
    made = export(stack)

    assert stack.resolve(made.audience_export_job_name)["Fn::GetAtt"][1] == "Name"
    assert stack.resolve(made.output_location)["Fn::GetAtt"][1] == "OutputLocation"


def test_no_tags_reach_it_the_api_takes_none() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Stack", tags={"team": "stack-team"})
    export(stack)
    cdk.Tags.of(app).add("owner", "app-owner")
    cdk.Tags.of(app).add("aws:reserved", "would fail on a taggable kind")

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert "Tags" not in rendered


def test_a_job_of_the_same_stack_is_exported_after_it_is_active() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=ENV)
    generation = job(stack)
    export(stack, audience_generation_job_arn=generation.audience_generation_job_arn)

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    # The GetAtt makes CloudFormation create the export once the job's resource completed.
    assert rendered["AudienceGenerationJobArn"] == {
        "Fn::GetAtt": [logical_id(stack, generation), "AudienceGenerationJobArn"]
    }


# --- IAM ---------------------------------------------------------------------------------------


def test_the_handler_may_start_exports_of_the_job_and_list_exports_only() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=ENV)
    export(stack)
    export(stack, "Second", audience_size=AudienceSize.absolute(5000))

    statements = handler_statements(Template.from_stack(stack))

    assert statement_with(statements, START)["Resource"] == JOB
    assert actions_of(statement_with(statements, START)) == [START]
    assert statement_with(statements, LIST)["Resource"] == "*"
    granted = {action for statement in statements for action in actions_of(statement)}
    assert {action for action in granted if action.startswith("cleanrooms-ml:")} == {START, LIST}


def test_a_job_of_the_same_stack_is_granted_by_pattern_without_a_cycle() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=ENV)
    generation = job(stack)
    export(stack, audience_generation_job_arn=generation.audience_generation_job_arn)

    start = statement_with(handler_statements(Template.from_stack(stack)), START)

    assert stack.resolve(start["Resource"]) == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":cleanrooms-ml:us-east-1:{ACCOUNT}:audience-generation-job/*",
            ],
        ]
    }


def test_the_handler_role_says_exports_are_started_not_tagged_or_deleted() -> None:
    def description(with_job: bool) -> str:
        stack = cdk.Stack(cdk.App(), "Stack", env=ENV)
        if with_job:
            job(stack)
        export(stack)
        roles = Template.from_stack(stack).find_resources(
            "AWS::IAM::Role", {"Properties": {"Description": Match.any_value()}}
        )
        (found,) = [r["Properties"]["Description"] for r in roles.values()]
        return str(found)

    assert description(with_job=False) == "Starts Clean Rooms ML audience export jobs"
    assert description(with_job=True) == (
        "Creates, tags and deletes Clean Rooms ML audience generation jobs; "
        "starts Clean Rooms ML audience export jobs"
    )


def test_no_export_permission_without_an_export() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=ENV)
    job(stack)

    statements = handler_statements(Template.from_stack(stack))

    granted = {action for statement in statements for action in actions_of(statement)}
    assert START not in granted and LIST not in granted


# --- synth-time checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"name": "x" * 64}, r"^name: must be 1 to 63 characters, got 64"),
        ({"description": "d" * 256}, r"^description: must be 0 to 255 characters, got 256"),
        (
            {"audience_generation_job_arn": "arn:aws:s3:::a-bucket-of-audiences"},
            r"^audience_generation_job_arn: must match the pattern",
        ),
        (
            {"audience_generation_job_arn": JOB.replace("us-east-1", "eu-west-1")},
            r"^audience_generation_job_arn: must be an audience generation job in the stack's "
            r"Region, us-east-1",
        ),
        (
            {"audience_generation_job_arn": JOB.replace(ACCOUNT, "444455556666")},
            r"^audience_generation_job_arn: must be an audience generation job of the stack's "
            r"account, 111122223333",
        ),
        (
            {"wait_timeout": cdk.Duration.hours(2)},
            r"^wait_timeout: must be 1 second to 54 minutes, in whole seconds \(this resource "
            r"waits within the hour",
        ),
        (
            {"wait_timeout": cdk.Duration.hours(13)},
            r"^wait_timeout: must be 1 second to 54 minutes, in whole seconds",
        ),
    ],
)
def test_a_bad_prop_fails_at_its_line_naming_it(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        export(cdk.Stack(cdk.App(), "Stack", env=ENV), **props)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: AudienceSize.absolute(0),
            r"^AudienceSize\.absolute: count: must be 1 to 20000000",
        ),
        (
            lambda: AudienceSize.absolute(20_000_001),
            r"^AudienceSize\.absolute: count: must be 1 to 20000000, got 20000001",
        ),
        (
            lambda: AudienceSize.percentage(0),
            r"^AudienceSize\.percentage: percent: must be 1 to 100, got 0$",
        ),
        (
            lambda: AudienceSize.percentage(101),
            r"^AudienceSize\.percentage: percent: must be 1 to 100, got 101",
        ),
    ],
)
def test_an_audience_size_out_of_range_fails_at_its_line(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_audience_size_takes_a_number_token() -> None:
    assert AudienceSize.absolute(25).audience_size_type is AudienceSizeType.ABSOLUTE
    stack = cdk.Stack(cdk.App(), "Stack")
    size = cdk.CfnParameter(stack, "Size", type="Number")
    export(stack, audience_size=AudienceSize.percentage(cast(int, size.value_as_number)))

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert rendered["AudienceSize"] == {"Type": "PERCENTAGE", "Value": {"Ref": "Size"}}


def test_a_wrong_type_is_refused_naming_the_argument() -> None:
    with pytest.raises(TypeError, match="audience_size"):
        export(cdk.Stack(cdk.App(), "Stack"), audience_size=10000)


def test_a_name_pinned_twice_in_one_environment_fails_at_synth() -> None:
    app = cdk.App()
    export(cdk.Stack(app, "One", env=ENV), name="spring-export")

    with pytest.raises(ValueError, match="spring-export"):
        export(cdk.Stack(app, "Two", env=ENV), name="spring-export")


# --- cfn-lint and cdk-nag ----------------------------------------------------------------------


def nag_stacks(app: cdk.App) -> list[cdk.Stack]:
    """Exports of a job of the same stack and of another, with and without ``env``."""
    stacks = []
    for name, env in (("Agnostic", None), ("Specific", ENV)):
        both = cdk.Stack(app, f"JobAndExport{name}", env=env)
        generation = job(both)
        export(both, audience_generation_job_arn=generation.audience_generation_job_arn)
        alone = cdk.Stack(app, f"ExportOnly{name}", env=env)
        export(alone, name=f"pinned-{name.lower()}", description="d")
        export(alone, "Percentage", audience_size=AudienceSize.percentage(5))
        stacks += [both, alone]
    return stacks


def test_cdk_nag_3_finds_nothing_to_acknowledge(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_2_finds_nothing_to_acknowledge() -> None:
    assert nag2_findings("test_audience_export_job") == []


def test_cfn_lint_finds_nothing(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert cfn_lint_findings(app, tmp_path) == ""
