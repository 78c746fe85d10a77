"""AudienceModel, read through the synthesized template: properties, replacement semantics, the
handler's permissions (only with a model; the key's only with one), a training dataset and a
configured audience model in the same stack, other stacks, imports, removal policy, tags,
synth-time checks and cdk-nag."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cleanroomsml as cleanroomsml
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from nag_harness import nag2_findings, nag3_violations
from template_queries import actions_of, logical_id, statement_with
from test_configured_audience_model import (
    ACCOUNT,
    ENV,
    arn_pattern,
    configured,
    handler_statements,
    make_stack,
    properties,
)

from cdk_cleanrooms_ml import AudienceModel, AudienceModelBase, CleanRoomsMLProvider
from cdk_cleanrooms_ml import audience_model as model_module

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceModel"
CONFIGURED_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
DATASET = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:training-dataset/clicks"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MODEL_ACTIONS = [
    "cleanrooms-ml:DeleteAudienceModel",
    "cleanrooms-ml:GetAudienceModel",
    "cleanrooms-ml:ListTagsForResource",
    "cleanrooms-ml:TagResource",
    "cleanrooms-ml:UntagResource",
]
KEY_ACTIONS = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]


def model(scope: cdk.Stack, id: str = "Model", **props: Any) -> AudienceModel:
    props.setdefault("training_dataset_arn", DATASET)
    return AudienceModel(scope, id, **props)


def via_clean_rooms_ml(region: Any) -> dict[str, Any]:
    return {"StringEquals": {"kms:ViaService": region}}


# --- properties ---------------------------------------------------------------------------------


def test_every_prop_renders_the_create_request_in_pascal_case() -> None:
    stack = make_stack()
    model(
        stack,
        name="clicks-model",
        description="Trained on clicks",
        training_data_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        training_data_end_time=datetime(2024, 6, 30, 12, tzinfo=timezone(timedelta(hours=2))),
        kms_key=KEY_ARN,
        tags={"team": "ml"},
        wait_for_completion=True,
        wait_timeout=cdk.Duration.minutes(30),
    )

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    del rendered["ServiceToken"]
    assert rendered == {
        "TrainingDatasetArn": DATASET,
        "TrainingDataStartTime": "2024-01-01T00:00:00+00:00",
        "TrainingDataEndTime": "2024-06-30T12:00:00+02:00",
        "KmsKeyArn": KEY_ARN,
        "Name": "clicks-model",
        "Description": "Trained on clicks",
        "WaitForCompletion": True,
        "WaitTimeoutSeconds": 1800,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }


def test_optional_props_left_out_are_absent() -> None:
    stack = make_stack()
    model(stack, name="")  # "" is no name: the handler generates one

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert rendered == {
        "ServiceToken": rendered["ServiceToken"],
        "TrainingDatasetArn": DATASET,
        "WaitForCompletion": True,
        # Waits up to 12 hours by default, through a WaitCondition (test_long_wait.py).
        "WaitTimeoutSeconds": 43200,
        "WaitConditionHandle": rendered["WaitConditionHandle"],
    }


def test_iso_strings_are_passed_as_they_are_and_waiting_can_be_turned_off() -> None:
    stack = make_stack()
    model(
        stack,
        training_data_start_time="2024-01-01T00:00:00Z",
        training_data_end_time="2024-02-01T00:00:00.500+01:00",
        wait_for_completion=False,
    )

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert rendered["TrainingDataStartTime"] == "2024-01-01T00:00:00Z"
    assert rendered["TrainingDataEndTime"] == "2024-02-01T00:00:00.500+01:00"
    assert rendered["WaitForCompletion"] is False


def test_a_key_object_renders_its_arn() -> None:
    stack = make_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    model(stack, kms_key=key)

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert rendered["KmsKeyArn"] == {"Fn::GetAtt": [logical_id(stack, key), "Arn"]}


def test_the_arn_is_a_getatt_token_and_the_default_child_the_resource() -> None:
    stack = make_stack()
    audience_model = model(stack)

    assert stack.resolve(audience_model.audience_model_arn) == {
        "Fn::GetAtt": [logical_id(stack, audience_model), "AudienceModelArn"]
    }
    resource = audience_model.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    assert resource.cfn_resource_type == RESOURCE_TYPE


def test_replacement_semantics_are_documented() -> None:
    """No update API: the docstrings say that a change of any prop but tags replaces the model."""
    doc = " ".join((AudienceModel.__doc__ or "").split())
    init_doc = AudienceModel.__init__.__doc__ or ""
    assert "cannot update an audience model" in doc
    assert "any prop but ``tags``" in doc
    assert "replaces it" in doc
    assert "12 hours" in doc and "54 minutes" in doc
    for prop in (
        "training_dataset_arn",
        "name",
        "description",
        "training_data_start_time",
        "training_data_end_time",
        "kms_key",
    ):
        section = init_doc.split(f":param {prop}:")[1].split(":param")[0]
        assert "replaces the model" in " ".join(section.split()), prop
    tags_section = init_doc.split(":param tags:")[1].split(":param")[0]
    assert "Changed in place" in " ".join(tags_section.split())


# --- the handler's permissions ------------------------------------------------------------------


def test_a_stack_of_audience_models_grants_only_what_they_need() -> None:
    stack = make_stack()
    other = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:training-dataset/views"
    model(stack, "A")
    model(stack, "B")  # the same dataset again: no duplicate
    model(stack, "C", training_dataset_arn=other)

    statements = handler_statements(Template.from_stack(stack))
    clean_rooms = [s for s in statements if not actions_of(s)[0].startswith("logs:")]

    lifecycle = statement_with(clean_rooms, "cleanrooms-ml:DeleteAudienceModel")
    assert actions_of(lifecycle) == MODEL_ACTIONS
    assert lifecycle["Resource"] == arn_pattern("audience-model")
    create = statement_with(clean_rooms, "cleanrooms-ml:CreateAudienceModel")
    assert create["Action"] == "cleanrooms-ml:CreateAudienceModel"
    assert create["Resource"] == [DATASET, other]
    listing = statement_with(clean_rooms, "cleanrooms-ml:ListAudienceModels")
    assert listing["Action"] == "cleanrooms-ml:ListAudienceModels"
    assert listing["Resource"] == "*"
    statement_with(clean_rooms, "cloudformation:DescribeStacks")
    # Their waits beyond the hour (by default): only the stack's long-wait state machine.
    start = statement_with(clean_rooms, "states:StartExecution")
    assert start["Action"] == "states:StartExecution"
    state_machine = CleanRoomsMLProvider.of(stack).node.find_child("LongWait")
    state_machine = state_machine.node.find_child("StateMachine")
    assert start["Resource"] == {"Ref": logical_id(stack, state_machine)}
    assert len(clean_rooms) == 5
    every_action = json.dumps(clean_rooms)
    assert "kms:" not in every_action, "no key permissions without a key"
    assert "iam:PassRole" not in every_action
    assert "ConfiguredAudienceModel" not in every_action
    assert "AudienceGenerationJob" not in every_action


def test_a_stack_without_an_audience_model_gets_none_of_its_permissions() -> None:
    stack = make_stack()
    configured(stack)

    every_action = json.dumps(handler_statements(Template.from_stack(stack)))

    assert "cleanrooms-ml:CreateAudienceModel" not in every_action
    assert "cleanrooms-ml:GetAudienceModel" not in every_action
    assert "ListAudienceModels" not in every_action


def test_a_key_arn_is_granted_through_clean_rooms_ml_only() -> None:
    stack = make_stack(env=ENV)
    model(stack, "A", kms_key=KEY_ARN)
    model(stack, "B", kms_key=KEY_ARN)

    key = statement_with(handler_statements(Template.from_stack(stack)), "kms:CreateGrant")

    assert actions_of(key) == KEY_ACTIONS
    assert key["Resource"] == KEY_ARN
    assert key["Condition"] == via_clean_rooms_ml("cleanrooms-ml.us-east-1.amazonaws.com")


def test_a_key_of_another_stack_is_granted_in_the_role_s_policy_not_the_key_s() -> None:
    app = cdk.App()
    keys = make_stack(app, "Keys", env=ENV)
    models = make_stack(app, "Models", env=ENV)
    key = kms.Key(keys, "Key", enable_key_rotation=True)
    model(models, kms_key=key)

    app.synth()  # no cycle between the stacks

    assert [s.stack_name for s in models.dependencies] == ["Keys"]
    key_policy = json.dumps(Template.from_stack(keys).to_json())
    assert "HandlerRole" not in key_policy, "the key's policy does not name the handler's role"
    granted = statement_with(handler_statements(Template.from_stack(models)), "kms:CreateGrant")
    assert list(granted["Resource"]) == ["Fn::ImportValue"]


# --- with a training dataset and a configured audience model ------------------------------------


def training_dataset(stack: cdk.Stack) -> cleanroomsml.CfnTrainingDataset:
    role = iam.Role(
        stack, "DatasetRole", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    return cleanroomsml.CfnTrainingDataset(
        stack,
        "Clicks",
        name="clicks",
        role_arn=role.role_arn,
        training_data=[
            cleanroomsml.CfnTrainingDataset.DatasetProperty(
                type="INTERACTIONS",
                input_config=cleanroomsml.CfnTrainingDataset.DatasetInputConfigProperty(
                    data_source=cleanroomsml.CfnTrainingDataset.DataSourceProperty(
                        glue_data_source=cleanroomsml.CfnTrainingDataset.GlueDataSourceProperty(
                            database_name="ml", table_name="clicks"
                        )
                    ),
                    schema=[
                        cleanroomsml.CfnTrainingDataset.ColumnSchemaProperty(
                            column_name="user_id", column_types=["USER_ID"]
                        ),
                        cleanroomsml.CfnTrainingDataset.ColumnSchemaProperty(
                            column_name="item_id", column_types=["ITEM_ID"]
                        ),
                        cleanroomsml.CfnTrainingDataset.ColumnSchemaProperty(
                            column_name="ts", column_types=["TIMESTAMP"]
                        ),
                    ],
                ),
            )
        ],
    )


def test_a_dataset_model_and_configured_model_in_one_stack_make_no_cycle() -> None:
    app = cdk.App()
    stack = make_stack(app)
    dataset = training_dataset(stack)
    audience_model = model(stack, training_dataset_arn=dataset.attr_training_dataset_arn)
    configured_model = configured(stack, audience_model_arn=audience_model.audience_model_arn)

    app.synth()  # raises on a dependency cycle

    template = Template.from_stack(stack)
    model_arn = {"Fn::GetAtt": [logical_id(stack, audience_model), "AudienceModelArn"]}
    # The configured model takes the model's GetAtt: CloudFormation creates it once the model
    # resource is complete, i.e. trained (wait_for_completion).
    assert properties(template, CONFIGURED_TYPE)["AudienceModelArn"] == model_arn
    assert properties(template, RESOURCE_TYPE)["TrainingDatasetArn"] == {
        "Fn::GetAtt": [stack.get_logical_id(dataset), "TrainingDatasetArn"]
    }
    statements = handler_statements(template)
    create = statement_with(statements, "cleanrooms-ml:CreateAudienceModel")
    assert create["Resource"] == {
        "Fn::GetAtt": [stack.get_logical_id(dataset), "TrainingDatasetArn"]
    }
    configure = statement_with(statements, "cleanrooms-ml:CreateConfiguredAudienceModel")
    assert configure["Resource"] == arn_pattern("audience-model")
    assert "AudienceModelArn" not in json.dumps(statements)
    assert configured_model.configured_audience_model_arn


def test_a_configured_model_in_another_stack_takes_the_exported_arn() -> None:
    app = cdk.App()
    models = make_stack(app, "Models", env=ENV)
    configs = make_stack(app, "Configs", env=ENV)
    audience_model = model(models)
    configured(configs, audience_model_arn=audience_model.audience_model_arn)

    app.synth()

    assert [s.stack_name for s in configs.dependencies] == ["Models"]
    create = statement_with(
        handler_statements(Template.from_stack(configs)),
        "cleanrooms-ml:CreateConfiguredAudienceModel",
    )
    assert list(create["Resource"]) == ["Fn::ImportValue"]


# --- imports, removal policy and tags -----------------------------------------------------------


def test_an_imported_model_takes_its_environment_from_the_arn_and_grants() -> None:
    stack = make_stack()
    arn = "arn:aws:cleanrooms-ml:eu-west-1:444455556666:audience-model/m-1"
    imported = AudienceModel.from_audience_model_arn(stack, "Imported", arn)
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())

    imported.grant_read(reader)

    assert isinstance(imported, AudienceModelBase)
    assert imported.audience_model_arn == arn
    assert imported.env.region == "eu-west-1"
    assert imported.env.account == "444455556666"
    policy = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (statement,) = next(iter(policy.values()))["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == [
        "cleanrooms-ml:GetAudienceModel",
        "cleanrooms-ml:ListTagsForResource",
    ]
    assert statement["Resource"] == arn


def test_grant_on_a_defined_model_names_its_arn() -> None:
    stack = make_stack()
    audience_model = model(stack)
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())

    audience_model.grant(reader, "cleanrooms-ml:GetAudienceModel")

    policy = reader.node.find_child("DefaultPolicy")
    statements = Template.from_stack(stack).to_json()["Resources"][logical_id(stack, policy)][
        "Properties"
    ]["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Action": "cleanrooms-ml:GetAudienceModel",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical_id(stack, audience_model), "AudienceModelArn"]},
        }
    ]


def test_retain_keeps_the_model_and_snapshot_is_refused() -> None:
    stack = make_stack()
    model(stack, removal_policy=cdk.RemovalPolicy.RETAIN)

    Template.from_stack(stack).has_resource(
        RESOURCE_TYPE, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )
    with pytest.raises(ValueError, match="an audience model has no snapshot"):
        model(make_stack(), removal_policy=cdk.RemovalPolicy.SNAPSHOT)


def test_default_removal_deletes_the_model() -> None:
    stack = make_stack()
    model(stack)

    (resource,) = Template.from_stack(stack).find_resources(RESOURCE_TYPE).values()
    assert resource.get("DeletionPolicy", "Delete") == "Delete"


def test_tags_of_the_app_the_stack_and_the_prop_arrive_merged() -> None:
    app = cdk.App()
    stack = make_stack(app, tags={"team": "stack-team", "env": "stack-env"})
    model(stack, tags={"env": "model-env"})
    cdk.Tags.of(app).add("owner", "app-owner")
    cdk.Tags.of(app).add("configured-only", "yes", include_resource_types=[CONFIGURED_TYPE])

    tags = properties(Template.from_stack(stack), RESOURCE_TYPE)["Tags"]

    assert tags == [
        {"Key": "env", "Value": "model-env"},
        {"Key": "owner", "Value": "app-owner"},
        {"Key": "team", "Value": "stack-team"},
    ]


# --- synth-time checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            {"training_data_start_time": datetime(2024, 1, 1)},
            "training_data_start_time: must be a datetime with a timezone",
        ),
        (
            {"training_data_end_time": "2024-01-01T00:00:00"},
            "training_data_end_time: must have an offset",
        ),
        (
            {"training_data_start_time": "last tuesday"},
            "training_data_start_time: must be an ISO 8601 date and time with an offset",
        ),
        (
            {
                "training_data_start_time": datetime(2024, 6, 1, tzinfo=timezone.utc),
                "training_data_end_time": "2024-01-01T00:00:00+00:00",
            },
            "training_data_start_time: must be before training_data_end_time",
        ),
        (
            {"training_dataset_arn": f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/x"},
            "training_dataset_arn: must match the pattern",
        ),
        ({"kms_key": "alias/my-key"}, "kms_key: must be 20 to 2048 characters"),
        (
            {"kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/my-key"},
            "kms_key: must match the pattern",
        ),
        ({"name": "n" * 64}, "name: must be 1 to 63 characters, got 64"),
        ({"description": "d" * 256}, "description: must be 0 to 255 characters, got 256"),
        (
            {"wait_timeout": cdk.Duration.hours(13)},
            "wait_timeout: must be 1 second to 12 hours",
        ),
        ({"tags": {"aws:x": "y"}}, "tags key 'aws:x': the prefix 'aws:' is reserved"),
    ],
)
def test_bad_props_fail_where_the_model_is_defined(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        model(make_stack(), **props)


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        (
            f"arn:aws:cleanrooms-ml:eu-west-1:{ACCOUNT}:training-dataset/d",
            "training_dataset_arn: must be a training dataset in the stack's Region, us-east-1",
        ),
        (
            "arn:aws:cleanrooms-ml:us-east-1:999999999999:training-dataset/d",
            "training_dataset_arn: must be a training dataset of the stack's account, 111122223333",
        ),
    ],
)
def test_a_dataset_of_another_region_or_account_is_refused(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        model(make_stack(env=ENV), training_dataset_arn=arn)


def test_wrong_types_fail_at_the_user_s_line() -> None:
    with pytest.raises(TypeError, match="type of argument training_data_start_time must be"):
        model(make_stack(), training_data_start_time=20240101)
    with pytest.raises(TypeError, match="type of argument kms_key must be"):
        model(make_stack(), kms_key=42)


def test_a_name_pinned_twice_in_one_environment_fails_at_the_second() -> None:
    app = cdk.App()
    model(make_stack(app, "First", env=ENV), name="pinned")
    other = make_stack(app, "Second", env=ENV)

    with pytest.raises(ValueError, match=r"^name: .* which First/Model pins too"):
        model(other, name="pinned")


def test_every_rendered_property_has_a_user_name() -> None:
    stack = make_stack()
    model(
        stack,
        name="n",
        description="d",
        training_data_start_time="2024-01-01T00:00:00+00:00",
        training_data_end_time="2024-02-01T00:00:00+00:00",
        kms_key=KEY_ARN,
        wait_timeout=cdk.Duration.minutes(1),
        tags={"a": "b"},
    )

    rendered = properties(Template.from_stack(stack), RESOURCE_TYPE)

    assert set(rendered) - {"ServiceToken"} == set(model_module._USER_NAMES)


# --- cdk-nag ------------------------------------------------------------------------------------


def nag_stacks(app: cdk.App) -> list[cdk.Stack]:
    """Audience models alone, with a key, and under a configured model, with and without ``env``."""
    stacks = []
    for name, env in (("Agnostic", None), ("Specific", ENV)):
        models = make_stack(app, f"Models{name}", env=env)
        model(models, tags={"team": "ml"}, kms_key=KEY_ARN)
        both = make_stack(app, f"Both{name}", env=env)
        key = kms.Key(both, "Key", enable_key_rotation=True)
        audience_model = model(both, kms_key=key, removal_policy=cdk.RemovalPolicy.RETAIN)
        configured(both, audience_model_arn=audience_model.audience_model_arn)
        stacks += [models, both]
    return stacks


def test_cdk_nag_3_finds_nothing_to_acknowledge(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_2_finds_nothing_to_acknowledge() -> None:
    assert nag2_findings("test_audience_model") == []
