"""Whole stacks that take hours, deployed in one go on a virtual clock (``deployment.py``).

The stacks are synthesized with the constructs, as ``cdk deploy`` would deploy them; CloudFormation,
the Provider framework's waiter and the long-wait state machine are played over the template
against the local endpoints, whose quota of 10 jobs in progress holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import index
import pytest
from aws_cdk import Duration
from cleanrooms_ml_endpoint import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    CleanRoomsMLEndpoint,
    ManualClock,
)
from cloudformation_endpoint import CloudFormationEndpoint
from deployment import Deployment, Outcome
from local_endpoint import local_endpoint

from cdk_cleanrooms_ml import (
    AudienceDestination,
    AudienceGenerationJob,
    AudienceModel,
    CleanRoomsMLProvider,
    ConfiguredAudienceModel,
    SeedAudience,
    SharedAudienceMetrics,
)

MINUTE, HOUR = 60, 3600
JOB = "Custom::CleanRoomsMLAudienceGenerationJob"
MODEL = "Custom::CleanRoomsMLAudienceModel"
CONFIGURED = "Custom::CleanRoomsMLConfiguredAudienceModel"
WAIT = "AWS::CloudFormation::WaitCondition"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/clean-rooms-ml"
DATASET = f"arn:aws:cleanrooms-ml:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:training-dataset/customers"
FAILING = f"arn:aws:cleanrooms-ml:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:training-dataset/too-small"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def endpoint(clock: ManualClock) -> Iterator[CleanRoomsMLEndpoint]:
    """Jobs run 30 minutes, training 3 hours, deletions 2 minutes, on the virtual clock."""
    with local_endpoint(
        clock=clock,
        create_duration=30 * MINUTE,
        training_duration=3 * HOUR,
        delete_duration=2 * MINUTE,
        quota=10,
    ) as local:
        local.add_training_dataset(DATASET)
        local.add_training_dataset(
            FAILING, fail_training=("INSUFFICIENT_DATA", "Not enough rows to train a model")
        )
        yield local


def stack() -> cdk.Stack:
    env = cdk.Environment(account=DEFAULT_ACCOUNT_ID, region=DEFAULT_REGION)
    return cdk.Stack(cdk.App(), "Pipeline", env=env)


def jobs_template(
    endpoint: CleanRoomsMLEndpoint,
    count: int,
    max_jobs_in_progress: int | None = None,
    **props: Any,
) -> dict[str, Any]:
    scope = stack()
    if max_jobs_in_progress is not None:
        CleanRoomsMLProvider.configure(scope, max_jobs_in_progress=max_jobs_in_progress)
    for number in range(count):
        AudienceGenerationJob(
            scope,
            f"Job{number}",
            configured_audience_model_arn=endpoint.default_model_arn,
            seed_audience=SeedAudience.from_s3(f"s3://seeds/{number}/", ROLE),
            **props,
        )
    return template_of(scope)


def template_of(scope: cdk.Stack) -> dict[str, Any]:
    app = scope.node.root
    assert isinstance(app, cdk.App)
    template: dict[str, Any] = app.synth().get_stack_by_name(scope.stack_name).template
    return template


def calls_per_job_hour(endpoint: Any, outcome: Outcome, operation: str) -> float:
    """Calls of ``operation`` per hour a job was waited for (its custom resource's and its
    WaitCondition's time in progress)."""
    waited = sum((r.ended - r.started) for r in outcome.resources.values() if r.type in (JOB, WAIT))
    return len(endpoint.calls_of(operation)) / (waited / HOUR)


def report(title: str, endpoint: CleanRoomsMLEndpoint, outcome: Outcome) -> dict[str, float]:
    """Print the calls per waiting job-hour (the closing note's figures); return them."""
    cloudformation = CloudFormationEndpoint.running()
    assert cloudformation is not None
    figures = {
        name: calls_per_job_hour(double, outcome, name)
        for name, double in (
            ("GetAudienceGenerationJob", endpoint),
            ("DescribeStackResource", cloudformation),
            ("DescribeStacks", cloudformation),
        )
    }
    per_hour = ", ".join(f"{name} {value:.1f}" for name, value in figures.items())
    print(f"\n{title}: {outcome.took / MINUTE:.0f} virtual minutes; per job-hour: {per_hour}")
    return figures


def test_thirty_jobs_of_thirty_minutes_deploy_in_one_go_under_a_quota_of_ten(
    endpoint: CleanRoomsMLEndpoint, clock: ManualClock
) -> None:
    deployment = Deployment(jobs_template(endpoint, 30), index, clock)

    outcome = deployment.create()

    assert outcome.status == "CREATE_COMPLETE", outcome.failures
    arns = [r.physical_id for r in outcome.of_type(JOB)]
    assert len(set(arns)) == 30 and sorted(arns) == sorted(endpoint.jobs)
    assert {job.status for job in endpoint.jobs.values()} == {"ACTIVE"}
    starts = endpoint.calls_of("StartAudienceGenerationJob")
    assert len(starts) == 30, "each job started once: none waited for a slot"
    assert 90 * MINUTE <= outcome.took < 100 * MINUTE, "three lanes' worth of 30 minutes"
    report("30 jobs x 30 min, quota 10, waits in the custom resources", endpoint, outcome)


def test_without_lanes_the_same_stack_rolls_back_at_the_hour(
    endpoint: CleanRoomsMLEndpoint, clock: ManualClock
) -> None:
    """What lanes are for: 30 jobs asked for at once. The second ten get their slots at 30
    minutes and cannot be ACTIVE within the 50 minutes their requests may take; the last ten
    would get theirs at 60 minutes."""
    deployment = Deployment(jobs_template(endpoint, 30, max_jobs_in_progress=1000), index, clock)

    outcome = deployment.create()

    assert outcome.status == "ROLLBACK_COMPLETE"
    assert any(
        "is still CREATE_IN_PROGRESS after WaitTimeoutSeconds=3000" in failure
        for failure in outcome.failures
    ), outcome.failures
    assert endpoint.live_jobs() == {}, "the rollback leaves no job"


def test_thirty_jobs_of_seventy_minutes_wait_beyond_the_hour(
    endpoint: CleanRoomsMLEndpoint, clock: ManualClock
) -> None:
    endpoint.create_duration = 70 * MINUTE
    template = jobs_template(endpoint, 30, wait_timeout=Duration.hours(3))
    deployment = Deployment(template, index, clock)

    outcome = deployment.create()

    assert outcome.status == "CREATE_COMPLETE", outcome.failures
    waits = outcome.of_type(WAIT)
    assert len(waits) == 30
    assert {job.status for job in endpoint.jobs.values()} == {"ACTIVE"}
    assert len(endpoint.calls_of("StartAudienceGenerationJob")) == 30
    assert 210 * MINUTE <= outcome.took < 230 * MINUTE, "three lanes' worth of 70 minutes"
    figures = report("30 jobs x 70 min, quota 10, WaitConditions", endpoint, outcome)
    assert figures["GetAudienceGenerationJob"] < 20, "read every few minutes, not every 30 s"
    assert deployment.checks < 30 * 20, "about 12 checks an hour per job"


def model_stack(dataset: str) -> dict[str, Any]:
    scope = stack()
    model = AudienceModel(scope, "Model", training_dataset_arn=dataset)
    ConfiguredAudienceModel(
        scope,
        "Configured",
        audience_model_arn=model.audience_model_arn,
        output_config=AudienceDestination.from_s3("s3://audiences/out/", ROLE),
        shared_audience_metrics=SharedAudienceMetrics.ALL,
    )
    return template_of(scope)


def test_a_configured_model_is_made_only_once_its_model_trained_for_hours(
    endpoint: CleanRoomsMLEndpoint, clock: ManualClock
) -> None:
    outcome = Deployment(model_stack(DATASET), index, clock).create()

    assert outcome.status == "CREATE_COMPLETE", outcome.failures
    (model,) = outcome.of_type(MODEL)
    (wait,) = outcome.of_type(WAIT)
    (configured,) = outcome.of_type(CONFIGURED)
    assert model.ended - model.started < 5 * MINUTE, "the custom resource did not wait"
    assert wait.ended - model.started >= 3 * HOUR, "the WaitCondition waited for training"
    assert configured.started >= wait.ended
    assert endpoint.audience_models[model.physical_id].status == "ACTIVE"


def test_a_training_that_fails_hours_in_rolls_the_stack_back_leaving_nothing(
    endpoint: CleanRoomsMLEndpoint, clock: ManualClock
) -> None:
    outcome = Deployment(model_stack(FAILING), index, clock).create()

    assert outcome.status == "ROLLBACK_COMPLETE"
    (wait,) = outcome.of_type(WAIT)
    assert "ended CREATE_FAILED: INSUFFICIENT_DATA: Not enough rows to train a model" in (
        wait.reason
    )
    (configured,) = outcome.of_type(CONFIGURED)
    assert configured.status == "PENDING", "never created"
    assert [
        arn
        for arn, model in endpoint.audience_models.items()
        if arn != endpoint.default_audience_model_arn
    ] == []
