"""What every construct of the library gets from ``resource_base``, checked once for every kind:
the CfnResource as ``default_child``, the removal policy (DESTROY or RETAIN, no SNAPSHOT), tags
merged from the prop, the stack and ``Tags.of(...)``, a tag rule broken through ``Tags.of``, and
grants on the resource's ARN.

A kind added to ``KINDS`` below is held to all of it, but for what its API lacks: an audience
export job has no removal policy prop (it cannot be deleted), no tags and no ARN to grant on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from cdk_cleanrooms_ml import (
    AudienceDestination,
    AudienceExportJob,
    AudienceGenerationJob,
    AudienceModel,
    AudienceSize,
    ConfiguredAudienceModel,
    ConfiguredAudienceModelAssociation,
    SeedAudience,
    SharedAudienceMetrics,
)

ACCOUNT = "111122223333"
CONFIGURED = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/m"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/clean-rooms-ml"

Make = Callable[..., Any]
KINDS: dict[str, tuple[str, str, Make]] = {
    "job": (
        "Custom::CleanRoomsMLAudienceGenerationJob",
        "a job",
        lambda scope, **props: AudienceGenerationJob(
            scope,
            "Resource0",
            configured_audience_model_arn=CONFIGURED,
            seed_audience=SeedAudience.from_s3("s3://seeds/seed/", ROLE),
            **props,
        ),
    ),
    "audience model": (
        "Custom::CleanRoomsMLAudienceModel",
        "an audience model",
        lambda scope, **props: AudienceModel(
            scope,
            "Resource0",
            training_dataset_arn=f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:training-dataset/t",
            **props,
        ),
    ),
    "configured audience model": (
        "Custom::CleanRoomsMLConfiguredAudienceModel",
        "a configured audience model",
        lambda scope, **props: ConfiguredAudienceModel(
            scope,
            "Resource0",
            audience_model_arn=f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/a",
            output_config=AudienceDestination.from_s3("s3://audiences/out/", ROLE),
            shared_audience_metrics=SharedAudienceMetrics.ALL,
            **props,
        ),
    ),
    "association": (
        "Custom::CleanRoomsConfiguredAudienceModelAssociation",
        "a configured audience model association",
        lambda scope, **props: ConfiguredAudienceModelAssociation(
            scope,
            "Resource0",
            membership_id="11111111-2222-3333-4444-555555555555",
            configured_audience_model_arn=CONFIGURED,
            manage_resource_policies=False,
            **props,
        ),
    ),
    "audience export job": (
        "Custom::CleanRoomsMLAudienceExportJob",
        "an audience export job",
        lambda scope, **props: AudienceExportJob(
            scope,
            "Resource0",
            audience_generation_job_arn=(
                f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-generation-job/j"
            ),
            audience_size=AudienceSize.absolute(1000),
            **props,
        ),
    ),
}
UNDELETABLE_UNTAGGED = {"audience export job"}
"""Kinds whose API has no Delete, no tags and no ARN: no removal policy, tags or grants."""
every_kind = pytest.mark.parametrize("kind", sorted(KINDS))
managed_kinds = pytest.mark.parametrize("kind", sorted(set(KINDS) - UNDELETABLE_UNTAGGED))


def resource(stack: cdk.Stack, kind: str) -> dict[str, Any]:
    (found,) = Template.from_stack(stack).find_resources(KINDS[kind][0]).values()
    return dict(found)


@every_kind
def test_default_child_is_the_cloudformation_resource_for_escape_hatches(kind: str) -> None:
    stack = cdk.Stack(cdk.App(), "Stack")
    construct = KINDS[kind][2](stack)

    child = construct.node.default_child
    assert isinstance(child, cdk.CfnResource)
    assert child.cfn_resource_type == KINDS[kind][0]
    child.add_property_override("Description", "set through the escape hatch")

    assert resource(stack, kind)["Properties"]["Description"] == "set through the escape hatch"


@managed_kinds
def test_retain_keeps_it_and_destroy_is_cloudformation_s_default(kind: str) -> None:
    retained, destroyed = cdk.Stack(cdk.App(), "Retained"), cdk.Stack(cdk.App(), "Destroyed")
    KINDS[kind][2](retained, removal_policy=cdk.RemovalPolicy.RETAIN)
    KINDS[kind][2](destroyed)

    assert resource(retained, kind)["DeletionPolicy"] == "Retain"
    assert resource(retained, kind)["UpdateReplacePolicy"] == "Retain"
    assert resource(destroyed, kind).get("DeletionPolicy", "Delete") == "Delete"


@managed_kinds
def test_snapshot_is_refused_as_a_prop_and_through_apply_removal_policy(kind: str) -> None:
    noun = KINDS[kind][1]
    message = (
        r"removal_policy: must be RemovalPolicy\.DESTROY or RemovalPolicy\.RETAIN "
        rf"\({noun} has no snapshot\)"
    )
    with pytest.raises(ValueError, match=message):
        KINDS[kind][2](cdk.Stack(cdk.App(), "Stack"), removal_policy=cdk.RemovalPolicy.SNAPSHOT)

    construct = KINDS[kind][2](cdk.Stack(cdk.App(), "Stack"))
    construct.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    with pytest.raises(ValueError, match=message):
        construct.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)


@managed_kinds
def test_tags_of_the_app_the_stack_and_the_prop_arrive_merged(kind: str) -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Stack", tags={"team": "stack-team", "env": "stack-env"})
    KINDS[kind][2](stack, tags={"env": "own-env"})
    cdk.Tags.of(app).add("owner", "app-owner")
    others = [KINDS[other][0] for other in KINDS if other != kind]
    cdk.Tags.of(app).add("others-only", "yes", include_resource_types=others)
    cdk.Tags.of(app).add("this-kind-only", "yes", include_resource_types=[KINDS[kind][0]])

    assert resource(stack, kind)["Properties"]["Tags"] == [
        {"Key": "env", "Value": "own-env"},
        {"Key": "owner", "Value": "app-owner"},
        {"Key": "team", "Value": "stack-team"},
        {"Key": "this-kind-only", "Value": "yes"},
    ]


@managed_kinds
def test_a_reserved_tag_from_tags_of_fails_at_synth_naming_the_construct(kind: str) -> None:
    app = cdk.App()
    KINDS[kind][2](cdk.Stack(app, "Stack"))
    cdk.Tags.of(app).add("aws:owner", "x")

    with pytest.raises(RuntimeError, match=r"Stack/Resource0: tags key 'aws:owner'"):
        app.synth()


@managed_kinds
def test_grant_and_grant_read_name_the_resource_s_arn(kind: str) -> None:
    stack = cdk.Stack(cdk.App(), "Stack")
    construct = KINDS[kind][2](stack)
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())

    construct.grant_read(reader)
    construct.grant(reader, "cleanrooms-ml:Something")

    statements = [
        statement
        for policy in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        if any(
            role == {"Ref": stack.get_logical_id(reader.node.default_child)}  # type: ignore[arg-type]
            for role in policy["Properties"].get("Roles", [])
        )
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert len(statements) == 2
    assert all(
        statement["Resource"] == stack.resolve(construct._grant_arn) for statement in statements
    )
