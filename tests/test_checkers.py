"""Tools no one on this project wrote check what it makes: cfn-lint, cdk-nag 2.x and 3.x, bandit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from nag_harness import NAG2, nag3_violations

from cdk_cleanrooms_ml import (
    AudienceGenerationJob,
    AudienceGenerationJobProvider,
    ComputeConfiguration,
    SeedAudience,
    WorkerComputeType,
)
from cdk_cleanrooms_ml.nag import flatten_cfn_reference

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
ROLE_ARN = "arn:aws:iam::111122223333:role/seed-reader"
TEMPLATE_ARN = (
    "arn:aws:cleanrooms:us-east-1:111122223333:membership/"
    "11111111-2222-3333-4444-555555555555/analysistemplate/seed-template"
)


ENVIRONMENTS: dict[str, cdk.Environment | None] = {
    "env-agnostic": None,
    "env-specific": cdk.Environment(account="123456789012", region="eu-west-1"),
    # One template for many Regions of one account.
    "token-region": cdk.Environment(account="123456789012", region=cdk.Aws.REGION),
    # An account known only at deploy time, in another partition.
    "token-account": cdk.Environment(
        account=cdk.Fn.import_value("TargetAccountId"), region="cn-north-1"
    ),
}
"""Stacks of jobs must give cdk-nag nothing to acknowledge whatever their environment."""


def model_in(environment: cdk.Environment | None) -> str:
    """A configured audience model in the stack's Region, where that is concrete (synth checks)."""
    region = None if environment is None else environment.region
    if region is None or cdk.Token.is_unresolved(region):
        return MODEL
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return MODEL.replace("arn:aws:", f"arn:{partition}:").replace("us-east-1", region)


def jobs_only_stack(app: cdk.App, environment: str = "env-agnostic") -> cdk.Stack:
    """A stack holding nothing but audience generation jobs, one of each seed kind."""
    stack = cdk.Stack(
        app,
        "JobsOnly" if environment == "env-agnostic" else f"JobsOnly-{environment}",
        tags={"team": "ml"},
        env=ENVIRONMENTS[environment],
    )
    imported_role = iam.Role.from_role_arn(stack, "Seed", ROLE_ARN)
    model = model_in(ENVIRONMENTS[environment])
    AudienceGenerationJob(
        stack,
        "FromS3",
        configured_audience_model_arn=model,
        seed_audience=SeedAudience.from_s3("s3://seed-bucket/seed/", imported_role),
        tags={"cost-center": "marketing"},
    )
    AudienceGenerationJob(
        stack,
        "FromSql",
        configured_audience_model_arn=model,
        seed_audience=SeedAudience.from_sql(
            "SELECT user_id FROM customers",
            ROLE_ARN,
            parameters={"segment": "gold"},
            compute=ComputeConfiguration(worker_type=WorkerComputeType.CR_1X, number=2),
        ),
        name="sql-seeded",
        wait_for_completion=False,
    )
    AudienceGenerationJob(
        stack,
        "FromTemplate",
        configured_audience_model_arn=model,
        seed_audience=SeedAudience.from_analysis_template(TEMPLATE_ARN, ROLE_ARN),
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    return stack


SEED_ROLES = ("role-in-the-stack", "role-arn", "role-of-another-stack")
"""Where ``from_bucket``'s grant lands: the role's own policy, or a policy inside the job."""
SEED_READ_REASON = "Clean Rooms ML reads the seed audience under seed/ in this bucket"


def from_bucket_stack(app: cdk.App, seed_role: str) -> tuple[cdk.Stack, Construct, list[str]]:
    """A job seeded with ``from_bucket``: the stack, where the grant is, and its findings.

    The findings are those the README tells users to acknowledge, computed as it shows.
    """
    stack = cdk.Stack(app, f"FromBucket-{seed_role}")
    bucket = s3.Bucket(
        stack,
        "Seeds",
        enforce_ssl=True,
        server_access_logs_prefix="access-logs/",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    role: iam.IRole | str = ROLE_ARN
    if seed_role != "role-arn":
        owner = stack if seed_role == "role-in-the-stack" else cdk.Stack(app, "SeedRoles")
        role = iam.Role(
            owner, "SeedRole", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
        )
    job = AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=MODEL,
        seed_audience=SeedAudience.from_bucket(bucket, "seed/", role),
    )

    # As in the README: the grant is on the role when it is of the job's stack, else in the job.
    granted_on = role if seed_role == "role-in-the-stack" else job
    bucket_id = stack.get_logical_id(cast(cdk.CfnElement, bucket.node.default_child))
    seed_read = [
        "Action::s3:GetObject*",
        "Action::s3:GetBucket*",
        "Action::s3:List*",
        f"Resource::<{bucket_id}.Arn>/seed/*",
    ]
    return stack, cast(Construct, granted_on), seed_read


def test_cfn_lint_finds_nothing_in_the_example_and_test_templates(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path / "tests"))
    jobs_only_stack(app)
    consumer = cdk.Stack(app, "Consumer")
    bucket_stack = cdk.Stack(app, "FromBucket")
    bucket = s3.Bucket(bucket_stack, "Seeds", enforce_ssl=True)
    role = iam.Role(
        bucket_stack, "Role", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    job = AudienceGenerationJob(
        bucket_stack,
        "Job",
        configured_audience_model_arn=MODEL,
        seed_audience=SeedAudience.from_bucket(bucket, "seed/", role),
    )
    reader = iam.Role(consumer, "Reader", assumed_by=iam.AccountRootPrincipal())
    AudienceGenerationJob.from_audience_generation_job_arn(
        consumer, "Imported", job.audience_generation_job_arn
    ).grant_read(reader)
    app.synth()
    example = subprocess.run(  # noqa: S603 - the example app of this repository
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env={**os.environ, "CDK_OUTDIR": str(tmp_path / "example")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert example.returncode == 0, example.stderr
    templates = sorted(str(path) for path in tmp_path.glob("*/*.template.json"))
    assert len(templates) == 4

    lint = subprocess.run(  # noqa: S603 - cfn-lint from this venv
        [str(BIN / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    assert lint.returncode & (2 | 4) == 0, lint.stdout + lint.stderr
    assert lint.returncode in (0, 8), lint.stdout + lint.stderr


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cdk_nag_3_finds_nothing_to_acknowledge_in_a_stack_of_jobs(
    tmp_path: Path, environment: str
) -> None:
    app = cdk.App(outdir=str(tmp_path))
    jobs_only_stack(app, environment)

    assert nag3_violations(app, tmp_path) == []


@pytest.mark.parametrize("seed_role", SEED_ROLES)
def test_cdk_nag_3_with_the_readme_s_acknowledgment_of_from_bucket_s_grant(
    tmp_path: Path, seed_role: str
) -> None:
    app = cdk.App(outdir=str(tmp_path))
    _, granted_on, seed_read = from_bucket_stack(app, seed_role)
    for finding in seed_read:
        cdk.Validations.of(granted_on).acknowledge(
            cdk.Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=SEED_READ_REASON)
        )

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_3_finds_nothing_to_acknowledge_with_a_configured_handler(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Configured", env=ENVIRONMENTS["env-specific"])
    provider = AudienceGenerationJobProvider.configure(
        stack,
        memory_size=1024,
        log_retention=logs.RetentionDays.ONE_YEAR,
        permissions_boundary=iam.ManagedPolicy.from_managed_policy_name(stack, "B", "boundary"),
        role_path="/service/",
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.X86_64,
    )
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=model_in(ENVIRONMENTS["env-specific"]),
        seed_audience=SeedAudience.from_s3("s3://seed-bucket/seed/", ROLE_ARN),
    )
    # A runtime older than the newest is the app's choice, and cdk-nag says so: the README's
    # acknowledgment of it.
    cdk.Validations.of(provider).acknowledge(
        cdk.Acknowledgment(id="AwsSolutions-L1", reason="Our organisation runs Python 3.12")
    )

    assert nag3_violations(app, tmp_path) == []


@pytest.mark.parametrize(
    ("resolved", "finding"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/*"),
        ({"Ref": "AWS::Region"}, "<AWS::Region>"),
        ({"Fn::GetAtt": ["Bucket1", "Arn"]}, "<Bucket1.Arn>"),
        (
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x:eu-west-1:1:y/*"]]},
            "arn:<AWS::Partition>:x:eu-west-1:1:y/*",
        ),
        ({"Fn::Sub": "arn:${AWS::Partition}:x"}, "arn:<AWS::Partition>:x"),
        ({"Fn::ImportValue": "Account"}, "Account"),
        ({"Fn::Select": [0, ["a"]]}, '{"Fn::Select":[0,["a"]]}'),
    ],
)
def test_findings_are_worded_as_cdk_nag_words_them(resolved: object, finding: str) -> None:
    assert flatten_cfn_reference(resolved) == finding


NAG2_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import aws_cdk as cdk, cdk_nag, importlib.metadata as meta
    from aws_cdk.assertions import Annotations, Match
    from test_checkers import ENVIRONMENTS, SEED_READ_REASON, SEED_ROLES
    from test_checkers import from_bucket_stack, jobs_only_stack
    assert meta.version("cdk-nag").startswith("2."), meta.version("cdk-nag")
    app = cdk.App()
    stacks = {environment: jobs_only_stack(app, environment) for environment in ENVIRONMENTS}
    for seed_role in SEED_ROLES:
        stack, granted_on, seed_read = from_bucket_stack(app, seed_role)
        cdk_nag.NagSuppressions.add_resource_suppressions(
            granted_on,
            # A struct, not a dict: jsii drops a dict's applies_to, which would acknowledge every
            # IAM5 finding of the role instead of the listed ones.
            [
                cdk_nag.NagPackSuppression(
                    id="AwsSolutions-IAM5", reason=SEED_READ_REASON, applies_to=seed_read
                )
            ],
            apply_to_children=True,
        )
        stacks[seed_role] = stack
    cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks())
    app.synth()
    pattern = Match.string_like_regexp("AwsSolutions-.*")
    findings = {}
    for environment, stack in stacks.items():
        found = Annotations.from_stack(stack)
        findings[environment] = [
            f"{finding.id} {finding.entry.data}"
            for finding in [*found.find_error("*", pattern), *found.find_warning("*", pattern)]
        ]
    print(json.dumps({"version": meta.version("cdk-nag"), "findings": findings}))
    """
)


@pytest.fixture(scope="module")
def nag2_findings() -> dict[str, Any]:
    """cdk-nag 2.x (installed apart in .venv/nag2) as an aspect, in a process of its own."""
    assert (NAG2 / "cdk_nag").is_dir(), "cdk-nag 2.x is missing: run `make install`"
    pythonpath = os.pathsep.join([str(NAG2), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(  # noqa: S603 - this venv's Python
        [sys.executable, "-c", NAG2_SCRIPT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cdk_nag_2_finds_nothing_to_acknowledge_in_a_stack_of_jobs(
    nag2_findings: dict[str, Any], environment: str
) -> None:
    assert nag2_findings["version"].startswith("2.")
    assert nag2_findings["findings"][environment] == []


@pytest.mark.parametrize("seed_role", SEED_ROLES)
def test_cdk_nag_2_with_the_readme_s_acknowledgment_of_from_bucket_s_grant(
    nag2_findings: dict[str, Any], seed_role: str
) -> None:
    assert nag2_findings["findings"][seed_role] == []


def test_acknowledged_findings_are_in_the_template_for_cdk_nag_2() -> None:
    stack = jobs_only_stack(cdk.App())

    template = cdk.assertions.Template.from_stack(stack).to_json()

    acknowledged = sorted(
        (rule["id"], finding)
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        for finding in rule.get("applies_to", [""])
    )
    assert [rule for rule, _ in acknowledged] == ["AwsSolutions-IAM5"] * 8 + [
        "AwsSolutions-SF1",
        "AwsSolutions-SF2",
    ]
    assert ("AwsSolutions-IAM5", "Resource::*") in acknowledged


def test_bandit_finds_nothing_in_the_library_and_the_handler() -> None:
    result = subprocess.run(  # noqa: S603 - bandit from this venv
        [str(BIN / "bandit"), "-q", "-r", "constructs", "lambda"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
