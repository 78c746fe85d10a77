"""The example app (app.py), the whole pipeline in one stack, synthesized by the real CDK CLI as a
new user would, with no credentials; the order CloudFormation creates its resources in, the grants
it makes, cfn-lint and cdk-nag over it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from nag_harness import nag2_findings, nag3_violations

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py is a script at the root, not an installed module

import app as example_app  # noqa: E402

CDK = ROOT / "node_modules" / ".bin" / "cdk"
VENV_BIN = ROOT / ".venv" / "bin"
TRAINING_DATASET = "AWS::CleanRoomsML::TrainingDataset"
AUDIENCE_MODEL = "Custom::CleanRoomsMLAudienceModel"
CONFIGURED_MODEL = "Custom::CleanRoomsMLConfiguredAudienceModel"
MEMBERSHIP = "AWS::CleanRooms::Membership"
ASSOCIATION = "Custom::CleanRoomsConfiguredAudienceModelAssociation"
JOB = "Custom::CleanRoomsMLAudienceGenerationJob"
EXPORT = "Custom::CleanRoomsMLAudienceExportJob"
PIPELINE = (TRAINING_DATASET, AUDIENCE_MODEL, CONFIGURED_MODEL, ASSOCIATION, JOB, EXPORT)
"""The pipeline's steps, in the order CloudFormation must create them."""


@dataclass(frozen=True)
class Synthesized:
    """What `cdk synth` wrote for the example app."""

    outdir: Path
    template: dict[str, Any]
    stderr: str

    @property
    def resources(self) -> dict[str, Any]:
        found: dict[str, Any] = self.template["Resources"]
        return found

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        """The logical id and the resource of the one resource of ``resource_type``."""
        (found,) = [(k, r) for k, r in self.resources.items() if r["Type"] == resource_type]
        return found


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """`cdk synth` of the example app, once for this module, with no AWS configuration at all."""
    assert CDK.exists(), "the pinned CDK CLI is missing: run `make install` (npm ci)"
    outdir = tmp_path_factory.mktemp("cdk.out")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        PATH=os.pathsep.join([str(VENV_BIN), str(CDK.parent), env.get("PATH", "")]),
        CDK_DISABLE_CLI_TELEMETRY="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )

    result = subprocess.run(  # noqa: S603 - a fixed command from this repository
        [str(CDK), "synth", "--no-notices", "--quiet", "--output", str(outdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    template = json.loads((outdir / f"{example_app.STACK_NAME}.template.json").read_text())
    yield Synthesized(outdir, template, result.stderr)


def references(value: Any) -> set[str]:
    """The logical ids that ``value`` names with Ref or Fn::GetAtt (or ${X} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str) and not item.startswith("AWS::"):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item[0] if isinstance(item, list) else item.split(".")[0])
            else:
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def created_before(resources: dict[str, Any], logical_ids: set[str]) -> set[str]:
    """Every resource CloudFormation creates before any of ``logical_ids`` (Ref, GetAtt,
    DependsOn), transitively."""
    seen: set[str] = set()
    pending = list(logical_ids)
    while pending:
        resource = resources.get(pending.pop(), {})
        depends_on = resource.get("DependsOn", [])
        direct = references(resource.get("Properties", {})) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        for logical_id in direct - seen:
            seen.add(logical_id)
            pending.append(logical_id)
    return seen


def test_the_cli_synthesizes_the_pipeline_offline(synthesized: Synthesized) -> None:
    assert "end-of-life" not in synthesized.stderr, "jsii or the CLI ran on an unsupported Node"
    kinds = [resource["Type"] for resource in synthesized.resources.values()]
    for kind in (*PIPELINE, MEMBERSHIP, "AWS::Glue::Table"):
        assert kinds.count(kind) == 1, kind
    # One shared handler (one asset, one on_event and one is_complete) serves every kind.
    handlers = [
        resource
        for resource in synthesized.resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Runtime"].startswith("python")
    ]
    entry_points = [handler["Properties"]["Handler"] for handler in handlers]
    assert entry_points.count("index.on_event") == entry_points.count("index.is_complete") == 1
    assets = {handler["Metadata"]["aws:asset:path"] for handler in handlers}
    assert len(assets) == 1
    asset = synthesized.outdir / assets.pop()
    asset_files = {path.relative_to(asset).as_posix() for path in asset.rglob("*")}
    assert {
        "index.py",
        "cleanrooms/engine/lifecycle.py",
        "cleanrooms/kinds/audience_export_job.py",
        "cleanrooms/kinds/audience_generation_job.py",
        "cleanrooms/kinds/audience_model.py",
        "cleanrooms/kinds/configured_audience_model.py",
        "cleanrooms/kinds/configured_audience_model_association.py",
    } <= asset_files
    assert not any("__pycache__" in path for path in asset_files)


def test_each_step_refers_to_the_one_before(synthesized: Synthesized) -> None:
    ids = {kind: synthesized.one(kind)[0] for kind in (*PIPELINE, MEMBERSHIP)}

    def prop(kind: str, name: str) -> Any:
        return synthesized.one(kind)[1]["Properties"][name]

    def leads_to(value: Any, kind: str) -> bool:
        direct = references(value)
        return ids[kind] in direct | created_before(synthesized.resources, direct)

    assert leads_to(prop(AUDIENCE_MODEL, "TrainingDatasetArn"), TRAINING_DATASET)
    assert leads_to(prop(CONFIGURED_MODEL, "AudienceModelArn"), AUDIENCE_MODEL)
    assert leads_to(prop(ASSOCIATION, "ConfiguredAudienceModelArn"), CONFIGURED_MODEL)
    assert leads_to(prop(ASSOCIATION, "MembershipIdentifier"), MEMBERSHIP)
    assert leads_to(prop(JOB, "ConfiguredAudienceModelArn"), CONFIGURED_MODEL)
    assert leads_to(prop(EXPORT, "AudienceGenerationJobArn"), JOB)
    # A size the configured model offers: the service refuses any other.
    size = prop(EXPORT, "AudienceSize")
    assert size == {"Type": "ABSOLUTE", "Value": 10_000}
    assert size["Value"] in prop(CONFIGURED_MODEL, "AudienceSizeConfig")["AudienceSizeBins"]
    # The job runs in the collaboration: after the association, which it does not name.
    assert prop(JOB, "CollaborationId") == example_app.COLLABORATION_ID
    for earlier, later in pairwise(PIPELINE):
        assert ids[earlier] in created_before(synthesized.resources, {ids[later]}), (earlier, later)


def test_the_training_dataset_reads_the_glue_table_once_its_role_may(
    synthesized: Synthesized,
) -> None:
    resources = synthesized.resources
    _, dataset = synthesized.one(TRAINING_DATASET)
    table_id, _ = synthesized.one("AWS::Glue::Table")
    database_id, _ = synthesized.one("AWS::Glue::Database")
    (data,) = dataset["Properties"]["TrainingData"]
    glue = data["InputConfig"]["DataSource"]["GlueDataSource"]
    assert glue == {"DatabaseName": {"Ref": database_id}, "TableName": {"Ref": table_id}}
    role_id = dataset["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    trust = resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "cleanrooms-ml.amazonaws.com"},
        }
    ]
    (policy_id,) = dataset["DependsOn"]
    policy = resources[policy_id]["Properties"]
    assert policy["Roles"] == [{"Ref": role_id}]
    statements = policy["PolicyDocument"]["Statement"]
    glue_statement, *s3_statements = statements
    assert glue_statement["Action"] == ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"]
    assert len(glue_statement["Resource"]) == 3  # the catalog, the database, the table
    assert table_id in json.dumps(glue_statement["Resource"][2])
    # S3: read under training/ only, not the seeds beside it.
    objects = [s["Resource"] for s in s3_statements]
    assert "/training/*" in json.dumps(objects)
    assert "/seed/" not in json.dumps(statements)


def test_the_configured_model_is_shared_with_the_partner_account(
    synthesized: Synthesized,
) -> None:
    _, configured = synthesized.one(CONFIGURED_MODEL)
    (statement,) = configured["Properties"]["ConfiguredAudienceModelPolicy"]["Statement"]
    assert statement["Action"] == "cleanrooms-ml:StartAudienceGenerationJob"
    assert example_app.PARTNER_ACCOUNT in json.dumps(statement["Principal"])
    _, association = synthesized.one(ASSOCIATION)
    assert association["Properties"]["ManageResourcePolicies"] is True
    _, membership = synthesized.one(MEMBERSHIP)
    assert membership["Properties"]["CollaborationIdentifier"] == example_app.COLLABORATION_ID
    assert membership["Properties"]["PaymentConfiguration"] == {
        "QueryCompute": {"IsResponsible": True}
    }


def test_buckets_are_private_encrypted_and_ssl_only(synthesized: Synthesized) -> None:
    resources = synthesized.resources
    buckets = {k: r for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    assert len(buckets) == 2
    for bucket in buckets.values():
        properties = bucket["Properties"]
        rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule == [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    ssl_only = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in resources.values()
        if policy["Type"] == "AWS::S3::BucketPolicy"
        and '"aws:SecureTransport": "false"' in json.dumps(policy)
    }
    assert ssl_only == set(buckets)


def test_tags_of_the_app_the_stack_and_the_job_arrive(synthesized: Synthesized) -> None:
    def tag_keys(kind: str) -> set[str]:
        return {tag["Key"] for tag in synthesized.one(kind)[1]["Properties"]["Tags"]}

    assert tag_keys(JOB) == {"cost-center", "owner", "project"}
    for kind in (AUDIENCE_MODEL, CONFIGURED_MODEL, ASSOCIATION):
        assert tag_keys(kind) == {"owner", "project"}, kind
    # CloudFormation gives the stack's tags to these itself, at deploy time.
    for kind in (TRAINING_DATASET, MEMBERSHIP):
        assert tag_keys(kind) == {"owner"}, kind
    # An export takes no tags (the API has none for it).
    assert "Tags" not in synthesized.one(EXPORT)[1]["Properties"]


def test_cfn_lint_finds_nothing(synthesized: Synthesized) -> None:
    template = synthesized.outdir / f"{example_app.STACK_NAME}.template.json"
    lint = subprocess.run(  # noqa: S603 - cfn-lint from this venv
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    assert lint.returncode in (0, 8), lint.stdout + lint.stderr


def nag_stacks(app: cdk.App) -> list[cdk.Stack]:
    """The example's stack, for cdk-nag (nag_harness)."""
    return [example_app.build(app)]


def test_cdk_nag_3_finds_nothing_the_app_does_not_acknowledge(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_2_finds_only_what_the_app_acknowledges_for_cdk_nag_3() -> None:
    """cdk-nag 2.x reads its own metadata, not CDK's acknowledgments: it reports the app's
    acknowledged findings, and nothing else."""
    findings = nag2_findings("test_app")

    reported = sorted({finding.split(": ")[0].split(" ", 2)[2] for finding in findings})
    assert reported == sorted(example_app_acknowledgments())


def example_app_acknowledgments() -> set[str]:
    """The finding ids app.py acknowledges on its buckets and roles (the library's constructs
    acknowledge theirs in both forms), read from the construct tree's metadata."""
    app = cdk.App()
    stack = example_app.build(app)
    found: set[str] = set()
    for child in stack.node.children:
        if not isinstance(child, (s3.Bucket, iam.Role)):
            continue
        for construct in child.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    found |= {re.sub(r"^annotation::", "", key, flags=re.I) for key in entry.data}
    return found
