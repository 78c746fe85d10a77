"""Waits beyond the hour and job lanes, as synthesized: the WaitCondition beside a resource, the
stack's LongWait state machine and its permissions, what waits for what, cfn-lint and cdk-nag.

The handler's side (the loop, the signals) is ``test_long_wait.py``; whole stacks deployed on a
virtual clock are ``test_long_deployments.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_cleanroomsml as cleanroomsml
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from nag_harness import cfn_lint_findings, nag2_findings, nag3_violations
from template_queries import logical_id

from cdk_cleanrooms_ml import (
    AudienceDestination,
    AudienceExportJob,
    AudienceGenerationJob,
    AudienceModel,
    AudienceSize,
    CleanRoomsMLProvider,
    ConfiguredAudienceModel,
    SeedAudience,
    SharedAudienceMetrics,
)

ACCOUNT, REGION = "111122223333", "us-east-1"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)
MODEL = f"arn:aws:cleanrooms-ml:{REGION}:{ACCOUNT}:configured-audience-model/model-1"
DATASET = f"arn:aws:cleanrooms-ml:{REGION}:{ACCOUNT}:training-dataset/clicks"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/clean-rooms-ml"
WAIT = "AWS::CloudFormation::WaitCondition"
HANDLE = "AWS::CloudFormation::WaitConditionHandle"


def job(scope: cdk.Stack, id: str = "Job", **props: Any) -> AudienceGenerationJob:
    return AudienceGenerationJob(
        scope,
        id,
        configured_audience_model_arn=MODEL,
        seed_audience=SeedAudience.from_s3("s3://seeds/seed/", ROLE),
        **props,
    )


def resources(stack: cdk.Stack) -> dict[str, Any]:
    found: dict[str, Any] = Template.from_stack(stack).to_json()["Resources"]
    return found


def of_type(stack: cdk.Stack, resource_type: str) -> dict[str, Any]:
    return {k: v for k, v in resources(stack).items() if v["Type"] == resource_type}


def depends_on(resource: dict[str, Any]) -> list[str]:
    value = resource.get("DependsOn", [])
    return [value] if isinstance(value, str) else list(value)


def test_a_job_waiting_beyond_the_hour_gets_a_wait_condition_signaled_through_its_handle() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    waiting = job(stack, wait_timeout=Duration.hours(3))

    ((condition_id, condition),) = of_type(stack, WAIT).items()
    (handle_id,) = of_type(stack, HANDLE)
    job_id = logical_id(stack, waiting)
    assert condition["Properties"] == {
        "Count": 1,
        "Handle": {"Ref": handle_id},
        "Timeout": "10800",
    }
    assert depends_on(condition) == [job_id]
    job_properties = resources(stack)[job_id]["Properties"]
    assert job_properties["WaitConditionHandle"] == {"Ref": handle_id}
    assert job_properties["WaitTimeoutSeconds"] == 10800
    assert condition_id.startswith("JobWait")


def test_within_the_hour_there_is_no_wait_condition_and_no_long_wait_at_all() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    job(stack, wait_timeout=Duration.minutes(54))
    job(stack, "NoWait", wait_timeout=Duration.hours(3), wait_for_completion=False)

    assert of_type(stack, WAIT) == {} and of_type(stack, HANDLE) == {}
    assert of_type(stack, "AWS::StepFunctions::StateMachine").keys() == {
        logical_id(
            stack,
            CleanRoomsMLProvider.of(stack)
            .provider.node.find_child("waiter-state-machine")
            .node.default_child,
        )
    }, "the Provider framework's waiter only"
    assert not any("LongWait" in name for name in resources(stack))
    assert "WaitConditionHandle" not in json.dumps(resources(stack))


def test_the_long_wait_s_permissions_are_each_the_least_it_needs() -> None:
    stack = cdk.Stack(cdk.App(), "Both", env=ENV)
    job(stack, wait_timeout=Duration.hours(3))
    AudienceModel(stack, "Model", training_dataset_arn=DATASET)

    long_wait = CleanRoomsMLProvider.of(stack).node.find_child("LongWait")
    policies = {
        name: resources(stack)[
            logical_id(stack, long_wait.node.find_child(name).node.find_child("DefaultPolicy"))
        ]["Properties"]["PolicyDocument"]["Statement"]
        for name in ("FunctionRole", "StateMachineRole")
    }
    reads = [s for s in policies["FunctionRole"] if not _actions(s)[0].startswith("logs:")]
    assert sorted((s["Action"], _joined(s["Resource"])) for s in reads) == [
        (
            "cleanrooms-ml:GetAudienceGenerationJob",
            f"arn:<AWS::Partition>:cleanrooms-ml:{REGION}:{ACCOUNT}:audience-generation-job/*",
        ),
        (
            "cleanrooms-ml:GetAudienceModel",
            f"arn:<AWS::Partition>:cleanrooms-ml:{REGION}:{ACCOUNT}:audience-model/*",
        ),
    ]
    assert {a for s in policies["StateMachineRole"] for a in _actions(s)} == {
        "lambda:InvokeFunction"
    }
    function = logical_id(stack, long_wait.node.find_child("Function"))
    handler_functions = [
        r
        for r in resources(stack).values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] in ("index.on_event", "index.is_complete")
    ]
    state_machine = logical_id(stack, long_wait.node.find_child("StateMachine"))
    for handler in handler_functions:
        environment = handler["Properties"]["Environment"]["Variables"]
        assert environment["CLEANROOMS_ML_LONG_WAIT_STATE_MACHINE_ARN"] == {"Ref": state_machine}
    assert resources(stack)[function]["Properties"]["Handler"] == "index.watch"


def test_a_check_that_keeps_failing_is_tried_again_later_not_left_unsignaled() -> None:
    """Past the task's retries, a Catch waits 5 minutes and checks again: the loop never ends
    without a signal while its WaitCondition waits."""
    stack = cdk.Stack(cdk.App(), "Jobs")
    job(stack, wait_timeout=Duration.hours(3))
    (machine,) = [
        r
        for name, r in of_type(stack, "AWS::StepFunctions::StateMachine").items()
        if "LongWait" in name
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "ARN" for p in parts))

    states = definition["States"]
    (catch,) = states["Check"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "CheckAgainLater"
    assert states["CheckAgainLater"] == {"Type": "Wait", "Seconds": 300, "Next": "Check"}
    assert states["Pause"]["Next"] == "Check" and definition["TimeoutSeconds"] == 13 * 3600


def _joined(value: Any) -> str:
    """An ARN pattern as a string, its partition as ``<AWS::Partition>``."""
    if isinstance(value, str):
        return value
    return "".join(
        part if isinstance(part, str) else f"<{part['Ref']}>" for part in value["Fn::Join"][1]
    )


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_what_uses_a_waiting_resource_waits_for_its_wait_condition_in_any_stack() -> None:
    app = cdk.App()
    producer = cdk.Stack(app, "Producer", env=ENV)
    consumer = cdk.Stack(app, "Consumer", env=ENV)
    model = AudienceModel(producer, "Model", training_dataset_arn=DATASET)
    output = AudienceDestination.from_s3("s3://audiences/out/", ROLE)
    here = ConfiguredAudienceModel(
        producer,
        "Here",
        audience_model_arn=model.audience_model_arn,
        output_config=output,
        shared_audience_metrics=SharedAudienceMetrics.ALL,
    )
    ConfiguredAudienceModel(
        consumer,
        "There",
        audience_model_arn=model.audience_model_arn,
        output_config=output,
        shared_audience_metrics=SharedAudienceMetrics.ALL,
    )
    generation = job(producer, wait_timeout=Duration.hours(3))
    export = AudienceExportJob(
        producer,
        "Export",
        audience_generation_job_arn=generation.audience_generation_job_arn,
        audience_size=AudienceSize.absolute(1000),
    )

    waits = of_type(producer, WAIT)
    model_wait = next(k for k, v in waits.items() if depends_on(v) == [logical_id(producer, model)])
    job_wait = next(
        k for k, v in waits.items() if depends_on(v) == [logical_id(producer, generation)]
    )
    assert model_wait in depends_on(resources(producer)[logical_id(producer, here)])
    assert job_wait in depends_on(resources(producer)[logical_id(producer, export)])
    assert producer in consumer.dependencies


def test_jobs_start_in_lanes_behind_the_job_that_many_places_ahead() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    jobs = [job(stack, f"Job{n}") for n in range(12)]
    configured = cdk.Stack(cdk.App(), "Configured")
    CleanRoomsMLProvider.configure(configured, max_jobs_in_progress=2)
    narrow = [job(configured, f"Job{n}", wait_timeout=Duration.hours(2)) for n in range(3)]

    ids = [logical_id(stack, j) for j in jobs]
    lanes = {n: depends_on(resources(stack)[ids[n]]) for n in range(12)}
    assert all(lanes[n] == [] for n in range(10))
    assert lanes[10] == [ids[0]] and lanes[11] == [ids[1]]
    # With a wait beyond the hour, the job ahead has ended when its WaitCondition has.
    third = resources(configured)[logical_id(configured, narrow[2])]
    first_wait = next(
        k
        for k, v in of_type(configured, WAIT).items()
        if depends_on(v) == [logical_id(configured, narrow[0])]
    )
    assert depends_on(third) == [first_wait]


def test_max_jobs_in_progress_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="max_jobs_in_progress: must be 1 to 1000 jobs, got 0"):
        CleanRoomsMLProvider.configure(cdk.Stack(cdk.App(), "S"), max_jobs_in_progress=0)


def test_a_change_that_may_replace_the_resource_makes_a_new_wait_condition_a_tag_does_not() -> None:
    def wait_id(**props: Any) -> str:
        stack = cdk.Stack(cdk.App(), "Models")
        model = AudienceModel(stack, "Model", training_dataset_arn=DATASET, **props)
        cdk.Tags.of(model).add("stage", str(props.get("description")))
        (found,) = of_type(stack, WAIT)
        return str(found)

    base = wait_id()
    assert wait_id(tags={"team": "ml"}) == base
    assert wait_id(description="new") != base
    assert wait_id(wait_timeout=Duration.hours(6)) != base, "a WaitCondition cannot be updated"


def test_a_replacement_by_a_value_referred_to_makes_a_new_wait_condition_too() -> None:
    """A new training dataset (its name replaces it) means a new ARN, so a new model: its
    properties hold only the GetAtt, but the WaitCondition must be new too."""

    def wait_ids(dataset_name: str, configured_name: str) -> set[str]:
        stack = cdk.Stack(cdk.App(), "Pipeline")
        role = iam.Role(
            stack, "Reader", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
        )
        dataset = cleanroomsml.CfnTrainingDataset(
            stack, "Data", name=dataset_name, role_arn=role.role_arn, training_data=[]
        )
        model = AudienceModel(
            stack, "Model", training_dataset_arn=dataset.attr_training_dataset_arn
        )
        configured = ConfiguredAudienceModel(
            stack,
            "Configured",
            name=configured_name,
            audience_model_arn=model.audience_model_arn,
            output_config=AudienceDestination.from_s3("s3://audiences/out/", ROLE),
            shared_audience_metrics=SharedAudienceMetrics.ALL,
        )
        AudienceGenerationJob(
            stack,
            "Job",
            configured_audience_model_arn=configured.configured_audience_model_arn,
            seed_audience=SeedAudience.from_s3("s3://seeds/seed/", ROLE),
            wait_timeout=Duration.hours(3),
        )
        return set(of_type(stack, WAIT))

    model_wait, job_wait = sorted(wait_ids("clicks", "one"))[::-1]
    assert model_wait.startswith("ModelWait") and job_wait.startswith("JobWait")
    # A new dataset: a new model; the configured model takes its ARN in place, the job stays.
    assert model_wait not in wait_ids("views", "one") and job_wait in wait_ids("views", "one")
    # A new configured model (its name replaces it): a new job; the model stays.
    assert model_wait in wait_ids("clicks", "two") and job_wait not in wait_ids("clicks", "two")


def nag_stacks(app: cdk.App) -> list[cdk.Stack]:
    """Jobs, a model and an export waiting beyond the hour, with and without ``env``."""
    stacks = []
    for name, env in (("Agnostic", None), ("Specific", ENV)):
        stack = cdk.Stack(app, f"LongWaits{name}", env=env)
        generation = job(stack, wait_timeout=Duration.hours(3))
        job(stack, "Other", wait_timeout=Duration.hours(2))
        AudienceModel(stack, "Model", training_dataset_arn=DATASET)
        AudienceExportJob(
            stack,
            "Export",
            audience_generation_job_arn=generation.audience_generation_job_arn,
            audience_size=AudienceSize.percentage(10),
        )
        stacks.append(stack)
    return stacks


def test_cdk_nag_3_finds_nothing_to_acknowledge(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_2_finds_nothing_to_acknowledge() -> None:
    assert nag2_findings("test_long_wait_construct") == []


def test_cfn_lint_finds_nothing(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert cfn_lint_findings(app, tmp_path) == ""
