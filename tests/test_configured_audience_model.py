"""ConfiguredAudienceModel, read through the synthesized template: properties, the resource policy,
the shared handler's permissions per kind (jobs, configured audience models, both, in one stack or
two), from_bucket's grant, imports, synth-time checks and cdk-nag. What every kind shares (removal
policy, tags, default child, grants) is in test_resource_base.py."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import cdk_nag
import pytest
import template_queries
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from nag_harness import nag2_findings, nag3_violations
from template_queries import actions_of, logical_id, statement_with

from cdk_cleanrooms_ml import (
    AudienceDestination,
    AudienceGenerationJob,
    AudienceSizeConfig,
    AudienceSizeType,
    CleanRoomsMLProvider,
    ConfiguredAudienceModel,
    ConfiguredAudienceModelBase,
    SeedAudience,
    SharedAudienceMetrics,
    TagOnCreatePolicy,
    validation,
)
from cdk_cleanrooms_ml import configured_audience_model as configured_module

RESOURCE_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
JOB_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
ACCOUNT = "111122223333"
AUDIENCE_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/model-1"
CONFIGURED_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/m"
OTHER_AUDIENCE_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/model-2"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/audience-writer"
SEED_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/seed-reader"
OUTPUT_URI = "s3://audiences-bucket/audiences/"
ENV = cdk.Environment(account=ACCOUNT, region="us-east-1")

CONFIGURED_ACTIONS = [
    "cleanrooms-ml:DeleteConfiguredAudienceModel",
    "cleanrooms-ml:DeleteConfiguredAudienceModelPolicy",
    "cleanrooms-ml:GetConfiguredAudienceModel",
    "cleanrooms-ml:GetConfiguredAudienceModelPolicy",
    "cleanrooms-ml:ListTagsForResource",
    "cleanrooms-ml:PutConfiguredAudienceModelPolicy",
    "cleanrooms-ml:TagResource",
    "cleanrooms-ml:UntagResource",
    "cleanrooms-ml:UpdateConfiguredAudienceModel",
]
JOB_ACTIONS = [
    "cleanrooms-ml:DeleteAudienceGenerationJob",
    "cleanrooms-ml:GetAudienceGenerationJob",
    "cleanrooms-ml:ListTagsForResource",
    "cleanrooms-ml:TagResource",
    "cleanrooms-ml:UntagResource",
]
PASSED_TO_CLEAN_ROOMS_ML = {"StringEquals": {"iam:PassedToService": "cleanrooms-ml.amazonaws.com"}}


def make_stack(app: cdk.App | None = None, id: str = "Audiences", **props: Any) -> cdk.Stack:
    return cdk.Stack(app or cdk.App(), id, **props)


def configured(scope: cdk.Stack, id: str = "Configured", **props: Any) -> ConfiguredAudienceModel:
    props.setdefault("audience_model_arn", AUDIENCE_MODEL)
    props.setdefault("output_config", AudienceDestination.from_s3(OUTPUT_URI, ROLE_ARN))
    props.setdefault("shared_audience_metrics", SharedAudienceMetrics.ALL)
    return ConfiguredAudienceModel(scope, id, **props)


def job(scope: cdk.Stack, model_arn: str, id: str = "Job") -> AudienceGenerationJob:
    return AudienceGenerationJob(
        scope,
        id,
        configured_audience_model_arn=model_arn,
        seed_audience=SeedAudience.from_s3("s3://seeds/seed/", SEED_ROLE_ARN),
    )


def properties(template: Template, resource_type: str = RESOURCE_TYPE) -> dict[str, Any]:
    return template_queries.properties(template, resource_type)


def handler_statements(template: Template) -> list[dict[str, Any]]:
    """The statements of the shared handler's policy (the one that grants cleanrooms-ml actions)."""
    return template_queries.handler_statements(template, "cleanrooms-ml:")


def arn_pattern(resource: str) -> dict[str, Any]:
    """A ``Stack.format_arn`` pattern of an environment-agnostic stack, resolved."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":cleanrooms-ml:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}/*",
            ],
        ]
    }


# --- properties ---------------------------------------------------------------------------------


def test_every_prop_renders_the_create_request_in_pascal_case() -> None:
    stack = make_stack()
    configured(
        stack,
        shared_audience_metrics=SharedAudienceMetrics.NONE,
        min_matching_seed_size=500,
        audience_size_config=AudienceSizeConfig(
            audience_size_type=AudienceSizeType.ABSOLUTE, audience_size_bins=[1000, 5000]
        ),
        child_resource_tag_on_create_policy=TagOnCreatePolicy.FROM_PARENT_RESOURCE,
        name="spring-lookalikes",
        description="Spring campaign",
        tags={"cost-center": "marketing"},
    )

    rendered = properties(Template.from_stack(stack))

    del rendered["ServiceToken"]
    assert rendered == {
        "AudienceModelArn": AUDIENCE_MODEL,
        "OutputConfig": {
            "Destination": {"S3Destination": {"S3Uri": OUTPUT_URI}},
            "RoleArn": ROLE_ARN,
        },
        "SharedAudienceMetrics": ["NONE"],
        "MinMatchingSeedSize": 500,
        "AudienceSizeConfig": {"AudienceSizeType": "ABSOLUTE", "AudienceSizeBins": [1000, 5000]},
        "ChildResourceTagOnCreatePolicy": "FROM_PARENT_RESOURCE",
        "Name": "spring-lookalikes",
        "Description": "Spring campaign",
        "Tags": [{"Key": "cost-center", "Value": "marketing"}],
    }


def test_optional_props_left_out_are_absent() -> None:
    stack = make_stack()
    configured(stack, name="")  # "" is no name: the handler generates one

    rendered = properties(Template.from_stack(stack))

    assert set(rendered) == {
        "ServiceToken",
        "AudienceModelArn",
        "OutputConfig",
        "SharedAudienceMetrics",
    }
    assert rendered["SharedAudienceMetrics"] == ["ALL"]


def test_enum_props_take_the_api_strings_too() -> None:
    stack = make_stack()
    configured(
        stack,
        shared_audience_metrics="NONE",
        child_resource_tag_on_create_policy="NONE",
        audience_size_config=AudienceSizeConfig(
            audience_size_type="PERCENTAGE", audience_size_bins=[10, 100]
        ),
    )

    rendered = properties(Template.from_stack(stack))

    assert rendered["SharedAudienceMetrics"] == ["NONE"]
    assert rendered["ChildResourceTagOnCreatePolicy"] == "NONE"
    assert rendered["AudienceSizeConfig"] == {
        "AudienceSizeType": "PERCENTAGE",
        "AudienceSizeBins": [10, 100],
    }


def test_the_arn_is_a_getatt_token() -> None:
    stack = make_stack()
    model = configured(stack)

    assert stack.resolve(model.configured_audience_model_arn) == {
        "Fn::GetAtt": [logical_id(stack, model), "ConfiguredAudienceModelArn"]
    }


def test_number_tokens_are_taken_where_numbers_are_expected() -> None:
    stack = make_stack()
    seed_size = cdk.CfnParameter(stack, "SeedSize", type="Number")
    bin_size = cdk.CfnParameter(stack, "Bin", type="Number")
    configured(
        stack,
        min_matching_seed_size=cast(int, seed_size.value_as_number),
        audience_size_config=AudienceSizeConfig(
            audience_size_type=AudienceSizeType.ABSOLUTE,
            audience_size_bins=[cast(int, bin_size.value_as_number)],
        ),
    )

    rendered = properties(Template.from_stack(stack))

    assert rendered["MinMatchingSeedSize"] == {"Ref": "SeedSize"}
    assert rendered["AudienceSizeConfig"]["AudienceSizeBins"] == [{"Ref": "Bin"}]


# --- the resource policy ------------------------------------------------------------------------


def test_the_resource_policy_is_absent_until_a_statement_is_added() -> None:
    stack = make_stack()
    configured(stack)

    assert "ConfiguredAudienceModelPolicy" not in properties(Template.from_stack(stack))


def test_added_statements_render_a_policy_document_without_resources() -> None:
    stack = make_stack()
    model = configured(stack)
    start = iam.PolicyStatement(
        sid="PartnerStartsJobs",
        actions=["cleanrooms-ml:StartAudienceGenerationJob"],
        principals=[iam.ArnPrincipal("arn:aws:iam::444455556666:role/partner")],
    )

    result = model.add_to_resource_policy(start)
    model.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["cleanrooms-ml:GetConfiguredAudienceModel"],
            principals=[iam.ArnPrincipal("arn:aws:iam::444455556666:role/auditor")],
        )
    )

    assert result.statement_added is True
    policy = properties(Template.from_stack(stack))["ConfiguredAudienceModelPolicy"]
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PartnerStartsJobs",
                "Effect": "Allow",
                "Action": "cleanrooms-ml:StartAudienceGenerationJob",
                "Principal": {"AWS": "arn:aws:iam::444455556666:role/partner"},
            },
            {
                "Effect": "Allow",
                "Action": "cleanrooms-ml:GetConfiguredAudienceModel",
                "Principal": {"AWS": "arn:aws:iam::444455556666:role/auditor"},
            },
        ],
    }


def test_a_statement_added_after_the_model_is_defined_still_arrives() -> None:
    """The policy is rendered at synth: a statement added later, by other code, is in it."""
    app = cdk.App()
    stack = make_stack(app)
    model = configured(stack)
    job(stack, model.configured_audience_model_arn)

    model.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["cleanrooms-ml:StartAudienceGenerationJob"],
            principals=[iam.AccountPrincipal("444455556666")],
        )
    )
    app.synth()

    policy = properties(Template.from_stack(stack))["ConfiguredAudienceModelPolicy"]
    assert len(policy["Statement"]) == 1


def test_a_statement_without_a_principal_is_refused() -> None:
    model = configured(make_stack())

    with pytest.raises(ValueError, match=r"add_to_resource_policy: .* must name a principal"):
        model.add_to_resource_policy(
            iam.PolicyStatement(actions=["cleanrooms-ml:StartAudienceGenerationJob"])
        )


def test_a_statement_without_actions_is_refused() -> None:
    model = configured(make_stack())

    with pytest.raises(ValueError, match=r"add_to_resource_policy: .* must name its actions"):
        model.add_to_resource_policy(
            iam.PolicyStatement(principals=[iam.AccountPrincipal("444455556666")])
        )


def test_a_policy_surely_over_the_service_s_limit_fails_at_synth() -> None:
    app = cdk.App()
    model = configured(make_stack(app, env=ENV))
    for index in range(300):  # literal principals: about 70 characters a statement
        model.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ArnPrincipal(f"arn:aws:iam::444455556666:role/partner-{index}")],
                actions=["cleanrooms-ml:StartAudienceGenerationJob"],
            )
        )

    with pytest.raises(
        RuntimeError,
        match=r"add_to_resource_policy: ConfiguredAudienceModelPolicy: must be at most 20480 "
        r"characters as JSON, got at least \d+",
    ):
        app.synth()


def test_a_policy_of_principals_resolved_at_deploy_is_left_to_the_handler() -> None:
    app = cdk.App()
    model = configured(make_stack(app))
    for index in range(100):  # AccountPrincipal: a Fn::Join on the partition, unknown at synth
        model.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.AccountPrincipal(f"{444455550000 + index}")],
                actions=["cleanrooms-ml:StartAudienceGenerationJob"],
            )
        )

    app.synth()  # the lower bound is under the limit: no false refusal


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        (
            "arn:aws:cleanrooms-ml:eu-west-1:111122223333:audience-model/m",
            "audience_model_arn: must be a model in the stack's Region, us-east-1",
        ),
        (
            "arn:aws:cleanrooms-ml:us-east-1:999999999999:audience-model/m",
            "audience_model_arn: must be a model of the stack's account, 111122223333",
        ),
    ],
)
def test_an_audience_model_of_another_region_or_account_is_refused(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        configured(make_stack(env=ENV), audience_model_arn=arn)


def test_an_env_agnostic_stack_takes_any_audience_model() -> None:
    configured(
        make_stack(),
        audience_model_arn="arn:aws:cleanrooms-ml:eu-west-1:999999999999:audience-model/m",
    )


# --- the handler's permissions per kind ---------------------------------------------------------


def test_a_stack_of_configured_audience_models_grants_only_what_they_need() -> None:
    stack = make_stack()
    writer = iam.Role(
        stack, "Writer", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    configured(stack, "A")
    configured(stack, "B")  # the same audience model and role again: no duplicates
    configured(
        stack,
        "C",
        audience_model_arn=OTHER_AUDIENCE_MODEL,
        output_config=AudienceDestination.from_s3(OUTPUT_URI, writer),
    )

    statements = handler_statements(Template.from_stack(stack))
    clean_rooms = [s for s in statements if not actions_of(s)[0].startswith("logs:")]

    lifecycle = statement_with(clean_rooms, "cleanrooms-ml:DeleteConfiguredAudienceModel")
    assert actions_of(lifecycle) == CONFIGURED_ACTIONS
    assert lifecycle["Resource"] == arn_pattern("configured-audience-model")
    create = statement_with(clean_rooms, "cleanrooms-ml:CreateConfiguredAudienceModel")
    assert actions_of(create) == [
        "cleanrooms-ml:CreateConfiguredAudienceModel",
        "cleanrooms-ml:UpdateConfiguredAudienceModel",
    ]
    assert create["Resource"] == [AUDIENCE_MODEL, OTHER_AUDIENCE_MODEL]
    listing = statement_with(clean_rooms, "cleanrooms-ml:ListConfiguredAudienceModels")
    assert listing["Action"] == "cleanrooms-ml:ListConfiguredAudienceModels"
    assert listing["Resource"] == "*"
    pass_role = statement_with(clean_rooms, "iam:PassRole")
    assert pass_role["Resource"] == [ROLE_ARN, {"Fn::GetAtt": [logical_id(stack, writer), "Arn"]}]
    assert pass_role["Condition"] == PASSED_TO_CLEAN_ROOMS_ML
    describe = statement_with(clean_rooms, "cloudformation:DescribeStacks")
    assert describe["Resource"] == {"Ref": "AWS::StackId"}
    assert len(clean_rooms) == 5
    every_action = json.dumps(clean_rooms)
    assert "AudienceGenerationJob" not in every_action, "no job permissions without a job"
    assert "cleanrooms-ml:*" not in every_action
    assert [actions_of(s) for s in clean_rooms if s["Resource"] == "*"] == [
        ["cleanrooms-ml:ListConfiguredAudienceModels"]
    ]


def test_a_stack_of_jobs_gets_no_configured_audience_model_permissions() -> None:
    stack = make_stack()
    job(stack, CONFIGURED_MODEL)

    every_action = json.dumps(handler_statements(Template.from_stack(stack)))

    assert "ConfiguredAudienceModel" not in every_action


def test_a_stack_of_both_kinds_shares_one_handler_and_its_list_and_pass_role_statements() -> None:
    stack = make_stack()
    configured(stack)
    job(stack, CONFIGURED_MODEL)

    template = Template.from_stack(stack)
    statements = handler_statements(template)

    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    (token,) = {
        json.dumps(resource["Properties"]["ServiceToken"])
        for kind in (RESOURCE_TYPE, JOB_TYPE)
        for resource in template.find_resources(kind).values()
    }
    assert "CleanRoomsMLJobProvider" in token, "the provider's construct id, kept"
    assert actions_of(statement_with(statements, "cleanrooms-ml:DeleteAudienceGenerationJob")) == (
        JOB_ACTIONS
    )
    assert actions_of(
        statement_with(statements, "cleanrooms-ml:DeleteConfiguredAudienceModel")
    ) == (CONFIGURED_ACTIONS)
    listing = statement_with(statements, "cleanrooms-ml:ListAudienceGenerationJobs")
    assert actions_of(listing) == [
        "cleanrooms-ml:ListAudienceGenerationJobs",
        "cleanrooms-ml:ListConfiguredAudienceModels",
    ]
    assert listing["Resource"] == "*"
    assert statement_with(statements, "iam:PassRole")["Resource"] == [ROLE_ARN, SEED_ROLE_ARN]
    statement_with(statements, "cloudformation:DescribeStacks")  # once


def test_a_job_on_a_configured_audience_model_of_its_own_stack_makes_no_cycle() -> None:
    app = cdk.App()
    stack = make_stack(app)
    model = configured(stack)
    job(stack, model.configured_audience_model_arn)

    app.synth()  # raises on a dependency cycle

    template = Template.from_stack(stack)
    model_arn = {"Fn::GetAtt": [logical_id(stack, model), "ConfiguredAudienceModelArn"]}
    assert properties(template, JOB_TYPE)["ConfiguredAudienceModelArn"] == model_arn
    start = statement_with(handler_statements(template), "cleanrooms-ml:StartAudienceGenerationJob")
    assert start["Resource"] == arn_pattern("configured-audience-model")
    assert "ConfiguredAudienceModelArn" not in json.dumps(handler_statements(template))


def test_a_string_holding_the_arn_is_scoped_by_pattern_too() -> None:
    app = cdk.App()
    stack = make_stack(app)
    model = configured(stack)
    imported = ConfiguredAudienceModel.from_configured_audience_model_arn(
        stack, "Imported", model.configured_audience_model_arn
    )
    job(stack, f"{imported.configured_audience_model_arn}", "A")
    job(stack, CONFIGURED_MODEL, "B")

    app.synth()

    start = statement_with(
        handler_statements(Template.from_stack(stack)), "cleanrooms-ml:StartAudienceGenerationJob"
    )
    assert start["Resource"] == [
        arn_pattern("configured-audience-model"),
        CONFIGURED_MODEL,
    ]


def test_a_job_in_another_stack_is_granted_the_exported_arn() -> None:
    app = cdk.App()
    models = make_stack(app, "Models", env=ENV)
    jobs = make_stack(app, "Jobs", env=ENV)
    model = configured(models)
    job(jobs, model.configured_audience_model_arn)

    app.synth()

    assert [stack.stack_name for stack in jobs.dependencies] == ["Models"]
    start = statement_with(
        handler_statements(Template.from_stack(jobs)), "cleanrooms-ml:StartAudienceGenerationJob"
    )
    assert list(start["Resource"]) == ["Fn::ImportValue"]
    exports = Template.from_stack(models).to_json()["Outputs"].values()
    assert {"Fn::GetAtt": [logical_id(models, model), "ConfiguredAudienceModelArn"]} in [
        output["Value"] for output in exports
    ]
    assert "audience-generation-job" not in json.dumps(
        handler_statements(Template.from_stack(models))
    ), "the models' stack has no job"


# --- from_bucket --------------------------------------------------------------------------------


def write_statements(template: Template, policy_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template.to_json()["Resources"][policy_id]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    return statements


def expected_write_grant(bucket_id: str, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{prefix}*"]]},
        },
        {
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [bucket_id, "Arn"]},
        },
    ]


def test_from_bucket_grants_the_role_write_access_to_the_prefix() -> None:
    stack = make_stack()
    bucket = s3.Bucket(stack, "Audiences")
    role = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    configured(stack, output_config=AudienceDestination.from_bucket(bucket, "audiences/", role))

    template = Template.from_stack(stack)
    bucket_id = logical_id(stack, bucket)

    assert properties(template)["OutputConfig"] == {
        "Destination": {
            "S3Destination": {
                "S3Uri": {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/audiences/"]]}
            }
        },
        "RoleArn": {"Fn::GetAtt": [logical_id(stack, role), "Arn"]},
    }
    policy = role.node.find_child("DefaultPolicy")
    assert write_statements(template, logical_id(stack, policy)) == expected_write_grant(
        bucket_id, "audiences/"
    )


def test_the_model_is_created_once_the_write_grant_is_in_place() -> None:
    stack = make_stack()
    bucket = s3.Bucket(stack, "Audiences")
    writer = iam.Role(
        stack, "Writer", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    configured(stack, output_config=AudienceDestination.from_bucket(bucket, "audiences/", writer))

    template = Template.from_stack(stack)

    (model,) = template.find_resources(RESOURCE_TYPE).values()
    policies = template.find_resources("AWS::IAM::Policy")
    (writer_policy,) = [
        logical_id
        for logical_id, policy in policies.items()
        if "s3:PutObject" in json.dumps(policy["Properties"]["PolicyDocument"])
    ]
    assert writer_policy in model.get("DependsOn", [])


def test_from_bucket_with_a_kms_bucket_lets_the_role_encrypt() -> None:
    stack = make_stack()
    bucket = s3.Bucket(stack, "Audiences", encryption=s3.BucketEncryption.KMS)
    role = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    configured(stack, output_config=AudienceDestination.from_bucket(bucket, "", role))

    template = Template.from_stack(stack)
    statements = write_statements(
        template, logical_id(stack, role.node.find_child("DefaultPolicy"))
    )

    kms = [s for s in statements if "kms:" in json.dumps(s["Action"])]
    assert len(kms) == 1
    assert "kms:Encrypt" in kms[0]["Action"]
    assert "kms:Decrypt" not in kms[0]["Action"]


def test_from_bucket_with_a_role_arn_grants_through_a_policy_in_the_construct() -> None:
    stack = make_stack()
    bucket = s3.Bucket(stack, "Audiences")
    model = configured(stack, output_config=AudienceDestination.from_bucket(bucket, "a/", ROLE_ARN))

    template = Template.from_stack(stack)

    policy = model.node.find_child("OutputRole").node.find_child("Policy")
    resource = template.to_json()["Resources"][logical_id(stack, policy)]
    assert resource["Properties"]["Roles"] == ["audience-writer"]
    assert write_statements(template, logical_id(stack, policy)) == expected_write_grant(
        logical_id(stack, bucket), "a/"
    )


def test_from_bucket_with_a_role_of_a_third_stack_makes_no_cycle() -> None:
    app = cdk.App()
    roles = make_stack(app, "Roles", env=ENV)
    data = make_stack(app, "Data", env=ENV)
    models = make_stack(app, "Models", env=ENV)
    role = iam.Role(roles, "Writer", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    bucket = s3.Bucket(data, "Audiences")
    model = configured(models, output_config=AudienceDestination.from_bucket(bucket, "a/", role))

    app.synth()  # raises on a cycle between the stacks

    assert sorted(stack.stack_name for stack in models.dependencies) == ["Data", "Roles"]
    Template.from_stack(roles).resource_count_is("AWS::IAM::Policy", 0)
    assert model.node.find_child("OutputRole").node.try_find_child("Policy") is not None


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("audiences", "prefix: must end with '/' (the role is granted write on 'audiences*'"),
        ("/audiences/", "prefix: must not start with '/'"),
    ],
)
def test_from_bucket_refuses_a_prefix_that_names_other_keys(prefix: str, message: str) -> None:
    bucket = s3.Bucket(make_stack(), "Audiences")

    with pytest.raises(ValueError, match=re.escape(message)):
        AudienceDestination.from_bucket(bucket, prefix, ROLE_ARN)


# --- imports ------------------------------------------------------------------------------------


def test_an_import_by_arn_has_the_arn_s_environment_and_grants_read() -> None:
    stack = make_stack()
    arn = "arn:aws:cleanrooms-ml:eu-west-1:444455556666:configured-audience-model/abc"
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())

    imported = ConfiguredAudienceModel.from_configured_audience_model_arn(
        stack, id="Imported", configured_audience_model_arn=arn
    )
    imported.grant_read(reader)

    assert isinstance(imported, ConfiguredAudienceModelBase)
    assert imported.configured_audience_model_arn == arn
    assert (imported.env.account, imported.env.region) == ("444455556666", "eu-west-1")
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": [
                            "cleanrooms-ml:GetConfiguredAudienceModel",
                            "cleanrooms-ml:GetConfiguredAudienceModelPolicy",
                            "cleanrooms-ml:ListTagsForResource",
                        ],
                        "Effect": "Allow",
                        "Resource": arn,
                    }
                ]
            }
        },
    )


def test_an_imported_model_s_policy_is_not_the_app_s_to_change() -> None:
    stack = make_stack()
    imported = ConfiguredAudienceModel.from_configured_audience_model_arn(
        stack,
        "Imported",
        "arn:aws:cleanrooms-ml:us-east-1:444455556666:configured-audience-model/x",
    )

    result = imported.add_to_resource_policy(
        iam.PolicyStatement(actions=["cleanrooms-ml:*"], principals=[iam.AnyPrincipal()])
    )

    assert result.statement_added is False
    Template.from_stack(stack).resource_count_is(RESOURCE_TYPE, 0)


def test_grant_gives_the_actions_on_a_defined_model() -> None:
    stack = make_stack()
    model = configured(stack)
    user = iam.Role(stack, "User", assumed_by=iam.AccountRootPrincipal())

    model.grant(user, "cleanrooms-ml:StartAudienceGenerationJob")

    statements = write_statements(
        Template.from_stack(stack), logical_id(stack, user.node.find_child("DefaultPolicy"))
    )
    assert statements == [
        {
            "Action": "cleanrooms-ml:StartAudienceGenerationJob",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical_id(stack, model), "ConfiguredAudienceModelArn"]},
        }
    ]


# --- synth-time checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"min_matching_seed_size": 24}, "min_matching_seed_size: must be 25 to 500000, got 24"),
        (
            {"min_matching_seed_size": 500001},
            "min_matching_seed_size: must be 25 to 500000, got 500001",
        ),
        ({"name": "n" * 64}, "name: must be 1 to 63 characters, got 64"),
        ({"name": "  "}, "name: must match the pattern"),
        ({"description": "d" * 256}, "description: must be 0 to 255 characters, got 256"),
        (
            {"audience_model_arn": CONFIGURED_MODEL},
            "audience_model_arn: must match the pattern",
        ),
        ({"shared_audience_metrics": "SOME"}, "shared_audience_metrics: must be one of ALL, NONE"),
        (
            {"child_resource_tag_on_create_policy": "PARENT"},
            "child_resource_tag_on_create_policy: must be one of FROM_PARENT_RESOURCE, NONE",
        ),
        ({"tags": {"aws:x": "y"}}, "tags key 'aws:x': the prefix 'aws:' is reserved"),
    ],
)
def test_bad_props_fail_where_the_model_is_defined(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        configured(make_stack(), **props)


@pytest.mark.parametrize(
    ("size_type", "bins", "message"),
    [
        (AudienceSizeType.ABSOLUTE, [], "audience_size_bins: must be 1 to 25 items, got 0"),
        (AudienceSizeType.ABSOLUTE, [10] * 26, "audience_size_bins: must be 1 to 25 items, got 26"),
        (AudienceSizeType.ABSOLUTE, [10, 0], "audience_size_bins[1]: must be 1 to 20000000, got 0"),
        (
            AudienceSizeType.PERCENTAGE,
            [50, 101],
            "audience_size_bins[1]: must be 1 to 100 for AudienceSizeType.PERCENTAGE",
        ),
        ("BIG", [10], "audience_size_type: must be one of ABSOLUTE, PERCENTAGE, got 'BIG'"),
    ],
)
def test_bad_audience_sizes_fail_where_they_are_written(
    size_type: AudienceSizeType | str, bins: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        AudienceSizeConfig(audience_size_type=size_type, audience_size_bins=bins)


@pytest.mark.parametrize(
    ("s3_uri", "role", "message"),
    [
        ("https://bucket/a/", ROLE_ARN, "s3_uri: must match the pattern s3://.+, got 'https://"),
        (OUTPUT_URI, "audience-writer", "role: must be 20 to 2048 characters, got 15"),
        (OUTPUT_URI, "arn:aws:iam::111122223333:user/someone", "role: must match the pattern"),
    ],
)
def test_bad_destinations_fail_where_they_are_written(s3_uri: str, role: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        AudienceDestination.from_s3(s3_uri, role)


def test_wrong_types_fail_at_the_user_s_line() -> None:
    with pytest.raises(TypeError, match="type of argument shared_audience_metrics must be one of"):
        configured(make_stack(), shared_audience_metrics=1)
    with pytest.raises(TypeError, match="type of argument output_config must be "):
        configured(make_stack(), output_config=OUTPUT_URI)
    with pytest.raises(TypeError, match=r"type of argument audience_size_bins\[0\] must be int"):
        AudienceSizeConfig(audience_size_type=AudienceSizeType.ABSOLUTE, audience_size_bins=["1"])  # type: ignore[list-item]


def test_a_name_pinned_twice_in_one_environment_fails_at_the_second() -> None:
    app = cdk.App()
    configured(make_stack(app, "First", env=ENV), name="pinned")
    other = make_stack(app, "Second", env=ENV)

    with pytest.raises(ValueError, match=r"^name: .* which First/Configured pins too"):
        configured(other, name="pinned")


def test_a_job_and_a_model_may_pin_the_same_name() -> None:
    stack = make_stack()
    configured(stack, name="spring")
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=CONFIGURED_MODEL,
        seed_audience=SeedAudience.from_s3("s3://seeds/seed/", SEED_ROLE_ARN),
        name="spring",
    )


def test_the_handler_s_checks_get_every_rendered_property_and_its_user_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The construct runs the handler's checks (check_resource); every path has a user name."""
    calls: list[tuple[str, dict[str, Any], Mapping[str, str]]] = []

    def check_resource(
        resource_type: str,
        properties: Mapping[str, Any],
        *,
        user_names: Mapping[str, str],
        scope: str = "",
    ) -> None:
        calls.append((resource_type, dict(properties), user_names))

    monkeypatch.setattr(validation, "check_resource", check_resource, raising=False)
    stack = make_stack()
    configured(
        stack,
        min_matching_seed_size=500,
        audience_size_config=AudienceSizeConfig(
            audience_size_type=AudienceSizeType.ABSOLUTE, audience_size_bins=[1000]
        ),
        child_resource_tag_on_create_policy=TagOnCreatePolicy.NONE,
        name="n",
        description="d",
    )

    ((resource_type, checked, user_names),) = calls
    assert resource_type == RESOURCE_TYPE
    rendered = properties(Template.from_stack(stack))
    assert checked == {k: v for k, v in rendered.items() if k not in ("ServiceToken", "Tags")}

    def paths(value: Any, prefix: str = "") -> list[str]:
        if not isinstance(value, Mapping):
            return []
        return [
            path
            for key, item in value.items()
            for path in [f"{prefix}{key}", *paths(item, f"{prefix}{key}.")]
        ]

    assert sorted(set(paths(checked)) - set(user_names)) == []
    assert {"Tags", "ConfiguredAudienceModelPolicy"} <= set(user_names)


def test_the_handler_s_message_is_raised_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    def check_resource(resource_type: str, properties: Mapping[str, Any], **_: Any) -> None:
        raise ValueError("output_config.s3_uri: must be at most 1285 characters, got 2000")

    monkeypatch.setattr(validation, "check_resource", check_resource, raising=False)

    with pytest.raises(ValueError, match=r"^output_config\.s3_uri: must be at most 1285"):
        configured(make_stack())


def test_every_user_name_names_a_prop_of_the_construct_or_its_values() -> None:
    written = {
        "audience_model_arn",
        "output_config",
        "shared_audience_metrics",
        "min_matching_seed_size",
        "audience_size_config",
        "child_resource_tag_on_create_policy",
        "name",
        "description",
        "tags",
        "add_to_resource_policy",
    }

    for name in configured_module._USER_NAMES.values():
        assert name.split(".")[0] in written, name


# --- the shared handler's settings --------------------------------------------------------------


def test_configure_after_the_first_configured_audience_model_is_an_error() -> None:
    stack = make_stack()
    configured(stack)

    with pytest.raises(ValueError, match=r"has its handler already .* first resource"):
        CleanRoomsMLProvider.configure(stack, memory_size=512)


def test_configure_before_the_first_model_sets_up_its_handler() -> None:
    stack = make_stack()
    provider = CleanRoomsMLProvider.configure(stack, memory_size=1024)
    configured(stack)

    template = Template.from_stack(stack)

    assert CleanRoomsMLProvider.of(stack) is provider
    handlers = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp("^index\\.")}}
    )
    assert {h["Properties"]["MemorySize"] for h in handlers.values()} == {1024}
    role = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.any_value()}}
    )
    (description,) = [r["Properties"]["Description"] for r in role.values()]
    assert description == "Creates, tags and deletes Clean Rooms ML configured audience models"


# --- cdk-nag ------------------------------------------------------------------------------------


def nag_stacks(app: cdk.App) -> list[cdk.Stack]:
    """Configured audience models alone and with a job, in stacks with and without ``env``."""
    stacks = []
    for name, env in (("Agnostic", None), ("Specific", ENV)):
        models = make_stack(app, f"Models{name}", env=env)
        configured(models, tags={"team": "ml"})
        both = make_stack(app, f"Both{name}", env=env)
        model = configured(both, removal_policy=cdk.RemovalPolicy.RETAIN)
        model.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["cleanrooms-ml:StartAudienceGenerationJob"],
                principals=[iam.AccountPrincipal("444455556666")],
            )
        )
        job(both, model.configured_audience_model_arn)
        stacks += [models, both]
    return stacks


def test_cdk_nag_3_finds_nothing_to_acknowledge(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_3_with_from_bucket_s_grant_acknowledged_as_for_a_seed(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = make_stack(app)
    bucket = s3.Bucket(
        stack,
        "Audiences",
        enforce_ssl=True,
        server_access_logs_prefix="access-logs/",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    role = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    configured(stack, output_config=AudienceDestination.from_bucket(bucket, "audiences/", role))
    bucket_id = stack.get_logical_id(cast(cdk.CfnElement, bucket.node.default_child))
    cdk.Validations.of(role).acknowledge(
        cdk.Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/audiences/*]",
            reason="Clean Rooms ML writes the audiences under audiences/ in this bucket",
        )
    )
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))

    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
    report = json.loads((tmp_path / "validation-report.json").read_text())

    assert [v for p in report.get("pluginReports", []) for v in p.get("violations", [])] == []


def test_cdk_nag_2_finds_nothing_to_acknowledge() -> None:
    assert nag2_findings("test_configured_audience_model") == []
