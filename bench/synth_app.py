"""One CDK app, three ways to declare N audience generation jobs; synthesized into CDK_OUTDIR.

    python bench/synth_app.py construct|aws-custom-resource|cfn-resource N
    python bench/synth_app.py pipeline 1

The work is the same for every variant: a tagged stack, one seed role in the stack and one
configured audience model shared by most jobs, a few jobs with a model and a role of their own
(every ``DISTINCT_EVERY``-th job), each job seeded from its own S3 prefix and tagged.

- ``construct``: ``AudienceGenerationJob`` (this library);
- ``aws-custom-resource``: what most apps write today, one ``AwsCustomResource`` per job
  (StartAudienceGenerationJob on create, DeleteAudienceGenerationJob on delete, physical id from
  the response's ``audienceGenerationJobArn``, a policy with just those calls and PassRole);
- ``cfn-resource``: a bare ``CfnResource`` per job with the construct's properties and a fixed
  ServiceToken string: the floor, nothing can synthesize less.

``pipeline`` is not a way to declare jobs but the example app's whole pipeline (app.py's
``add_pipeline``: Glue table, training dataset, audience model, configured audience model,
membership, association, one job and its export), in the same stack (name, environment, tags)
as the variants', to set against ``construct 1``: what the rest of the pipeline costs beside
one job.

Each variant imports only what it uses. With BENCH_PHASES=<file>, the seconds spent importing
aws-cdk-lib (which starts the jsii kernel, Node), importing the variant's modules, building the
construct tree and synthesizing are written to that file as JSON.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import aws_cdk as cdk  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402

CDK_IMPORTED = time.perf_counter()

VARIANTS = ("construct", "aws-custom-resource", "cfn-resource")
PIPELINE = "pipeline"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNT = "111122223333"
REGION = "us-east-1"
STACK_NAME = "Audiences"
SHARED_MODEL_ARN = (
    f"arn:aws:cleanrooms-ml:{REGION}:{ACCOUNT}:configured-audience-model/"
    "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
)
SEED_BUCKET = "example-seed-audiences"
DISTINCT_EVERY = 25
"""Every 25th job has a model and a seed role of its own: 4 of 100 jobs, 16 of 400."""
STACK_TAGS = {"project": "lookalikes"}
JOB_TAGS = {"cost-center": "marketing"}
SERVICE_TOKEN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cleanrooms-ml-jobs-provider"
RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"

AddJob = Callable[[cdk.Stack, int, str], None]
"""Declare job ``index`` in the stack; the str is the shared seed role's ARN (a token)."""


def _distinct(index: int) -> bool:
    return index % DISTINCT_EVERY == DISTINCT_EVERY - 1


def model_arn(index: int) -> str:
    if _distinct(index):
        return f"{SHARED_MODEL_ARN.removesuffix('EXAMPLE11111')}{index:012d}"
    return SHARED_MODEL_ARN


def seed_role_arn(index: int, shared_role_arn: str) -> str:
    if _distinct(index):
        return f"arn:aws:iam::{ACCOUNT}:role/seed-reader-{index}"
    return shared_role_arn


def seed_uri(index: int) -> str:
    return f"s3://{SEED_BUCKET}/seeds/segment-{index:04d}/"


def construct_variant() -> AddJob:
    from cdk_cleanrooms_ml import AudienceGenerationJob, SeedAudience

    def add_job(stack: cdk.Stack, index: int, shared_role_arn: str) -> None:
        AudienceGenerationJob(
            stack,
            f"Job{index}",
            configured_audience_model_arn=model_arn(index),
            seed_audience=SeedAudience.from_s3(
                seed_uri(index), seed_role_arn(index, shared_role_arn)
            ),
            tags=JOB_TAGS,
        )

    return add_job


def aws_custom_resource_variant() -> AddJob:
    from aws_cdk import custom_resources as cr

    def add_job(stack: cdk.Stack, index: int, shared_role_arn: str) -> None:
        role_arn = seed_role_arn(index, shared_role_arn)
        cr.AwsCustomResource(
            stack,
            f"Job{index}",
            on_create=cr.AwsSdkCall(
                service="CleanRoomsML",
                action="StartAudienceGenerationJob",
                parameters={
                    "name": f"{STACK_NAME}-job-{index}",
                    "configuredAudienceModelArn": model_arn(index),
                    "seedAudience": {
                        "dataSource": {"s3Uri": seed_uri(index)},
                        "roleArn": role_arn,
                    },
                    "tags": {**STACK_TAGS, **JOB_TAGS},
                },
                physical_resource_id=cr.PhysicalResourceId.from_response(
                    "audienceGenerationJobArn"
                ),
            ),
            on_delete=cr.AwsSdkCall(
                service="CleanRoomsML",
                action="DeleteAudienceGenerationJob",
                parameters={"audienceGenerationJobArn": cr.PhysicalResourceIdReference()},
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["cleanrooms-ml:StartAudienceGenerationJob"],
                        resources=[model_arn(index)],
                    ),
                    iam.PolicyStatement(
                        actions=["cleanrooms-ml:DeleteAudienceGenerationJob"],
                        resources=[
                            f"arn:aws:cleanrooms-ml:{REGION}:{ACCOUNT}:audience-generation-job/*"
                        ],
                    ),
                    iam.PolicyStatement(actions=["iam:PassRole"], resources=[role_arn]),
                ]
            ),
            install_latest_aws_sdk=False,
        )

    return add_job


def cfn_resource_variant() -> AddJob:
    tags = {**STACK_TAGS, **JOB_TAGS}
    rendered_tags = [{"Key": key, "Value": tags[key]} for key in sorted(tags)]

    def add_job(stack: cdk.Stack, index: int, shared_role_arn: str) -> None:
        properties: dict[str, Any] = {
            "ServiceToken": SERVICE_TOKEN,
            "ConfiguredAudienceModelArn": model_arn(index),
            "SeedAudience": {
                "DataSource": {"S3Uri": seed_uri(index)},
                "RoleArn": seed_role_arn(index, shared_role_arn),
            },
            "WaitForCompletion": True,
            "Tags": rendered_tags,
        }
        cdk.CfnResource(stack, f"Job{index}", type=RESOURCE_TYPE, properties=properties)

    return add_job


def pipeline_variant() -> AddJob:
    """The example app's pipeline; its one job is the pipeline's (no shared seed role)."""
    sys.path.insert(0, REPO)  # app.py is a script at the repository's root
    from app import add_pipeline

    def add_job(stack: cdk.Stack, index: int, shared_role_arn: str) -> None:
        add_pipeline(stack)

    return add_job


VARIANT_MODULES: dict[str, Callable[[], AddJob]] = {
    "construct": construct_variant,
    "aws-custom-resource": aws_custom_resource_variant,
    "cfn-resource": cfn_resource_variant,
    PIPELINE: pipeline_variant,
}


def stack_of(app: cdk.App) -> cdk.Stack:
    """The stack every variant declares its jobs in: one name, environment and tags."""
    return cdk.Stack(
        app, STACK_NAME, env=cdk.Environment(account=ACCOUNT, region=REGION), tags=STACK_TAGS
    )


def build(app: cdk.App, add_job: AddJob, jobs: int) -> cdk.Stack:
    """The stack: a seed role shared by most jobs, then ``jobs`` jobs."""
    stack = stack_of(app)
    role = iam.Role(
        stack, "SeedRole", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    shared_role_arn = role.role_arn
    for index in range(jobs):
        add_job(stack, index, shared_role_arn)
    return stack


def main(argv: list[str]) -> None:
    pipeline = argv[1:] == [PIPELINE, "1"]
    if not pipeline and (len(argv) != 3 or argv[1] not in VARIANTS or not argv[2].isdigit()):
        raise SystemExit(f"usage: {argv[0]} {{{'|'.join(VARIANTS)}}} N, or {PIPELINE} 1")
    add_job = VARIANT_MODULES[argv[1]]()
    imported = time.perf_counter()
    # CDK refuses a stack of over 500 resources at synth; lift that so every variant synthesizes
    # at every N (the footprint table tells which would deploy).
    app = cdk.App(context={"@aws-cdk/core:stackResourceLimit": 0})
    if pipeline:
        add_job(stack_of(app), 0, "")
    else:
        build(app, add_job, int(argv[2]))
    built = time.perf_counter()
    app.synth()
    synthesized = time.perf_counter()
    phases_file = os.environ.get("BENCH_PHASES")
    if phases_file:
        phases = {
            "import_cdk": CDK_IMPORTED - STARTED,
            "import_variant": imported - CDK_IMPORTED,
            "build": built - imported,
            "synth": synthesized - built,
        }
        with open(phases_file, "w", encoding="utf-8") as file:
            json.dump(phases, file)


if __name__ == "__main__":
    main(sys.argv)
