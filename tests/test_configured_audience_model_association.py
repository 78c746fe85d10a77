"""ConfiguredAudienceModelAssociation, read through the synthesized template: properties, the shared
handler's permissions (only with an association; the model's policy only when Clean Rooms manages
it), the same stack as its membership and configured model, another stack, imports, synth-time
checks and cdk-nag. What every kind shares (removal policy, tags, default child, grants) is in
test_resource_base.py."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import template_queries
from aws_cdk import aws_cleanrooms as cleanrooms
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from nag_harness import nag2_findings, nag3_violations
from template_queries import actions_of, logical_id, statement_with

from cdk_cleanrooms_ml import (
    AudienceDestination,
    AudienceGenerationJob,
    ConfiguredAudienceModel,
    ConfiguredAudienceModelAssociation,
    ConfiguredAudienceModelAssociationBase,
    SeedAudience,
    SharedAudienceMetrics,
    validation,
)
from cdk_cleanrooms_ml import configured_audience_model_association as association_module

RESOURCE_TYPE = "Custom::CleanRoomsConfiguredAudienceModelAssociation"
MODEL_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
ACCOUNT = "111122223333"
MEMBERSHIP_ID = "a1b2c3d4-5678-90ab-cdef-111111111111"
OTHER_MEMBERSHIP_ID = "a1b2c3d4-5678-90ab-cdef-222222222222"
COLLABORATION_ID = "a1b2c3d4-5678-90ab-cdef-333333333333"
CONFIGURED_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/m"
OTHER_CONFIGURED_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:configured-audience-model/n"
AUDIENCE_MODEL = f"arn:aws:cleanrooms-ml:us-east-1:{ACCOUNT}:audience-model/model-1"
ASSOCIATION_ARN = (
    f"arn:aws:cleanrooms:us-east-1:{ACCOUNT}:membership/{MEMBERSHIP_ID}/"
    "configuredaudiencemodelassociation/a1b2c3d4-5678-90ab-cdef-444444444444"
)
ENV = cdk.Environment(account=ACCOUNT, region="us-east-1")

ASSOCIATION_ACTIONS = [
    "cleanrooms:DeleteConfiguredAudienceModelAssociation",
    "cleanrooms:GetConfiguredAudienceModelAssociation",
    "cleanrooms:ListTagsForResource",
    "cleanrooms:TagResource",
    "cleanrooms:UntagResource",
    "cleanrooms:UpdateConfiguredAudienceModelAssociation",
]
CREATE_ACTIONS = [
    "cleanrooms:CreateConfiguredAudienceModelAssociation",
    "cleanrooms:ListConfiguredAudienceModelAssociations",
]
POLICY_ACTIONS = [
    "cleanrooms-ml:DeleteConfiguredAudienceModelPolicy",
    "cleanrooms-ml:GetConfiguredAudienceModelPolicy",
    "cleanrooms-ml:PutConfiguredAudienceModelPolicy",
]


def make_stack(app: cdk.App | None = None, id: str = "Collaboration", **props: Any) -> cdk.Stack:
    return cdk.Stack(app or cdk.App(), id, **props)


def associate(
    scope: cdk.Stack, id: str = "Association", **props: Any
) -> ConfiguredAudienceModelAssociation:
    props.setdefault("membership_id", MEMBERSHIP_ID)
    props.setdefault("configured_audience_model_arn", CONFIGURED_MODEL)
    props.setdefault("manage_resource_policies", True)
    return ConfiguredAudienceModelAssociation(scope, id, **props)


def membership(scope: cdk.Stack, id: str = "Membership") -> cleanrooms.CfnMembership:
    return cleanrooms.CfnMembership(
        scope, id, collaboration_identifier=COLLABORATION_ID, query_log_status="DISABLED"
    )


def configured(scope: cdk.Stack, id: str = "Configured") -> ConfiguredAudienceModel:
    return ConfiguredAudienceModel(
        scope,
        id,
        audience_model_arn=AUDIENCE_MODEL,
        output_config=AudienceDestination.from_s3(
            "s3://audiences/out/", f"arn:aws:iam::{ACCOUNT}:role/writer"
        ),
        shared_audience_metrics=SharedAudienceMetrics.ALL,
    )


def properties(template: Template, resource_type: str = RESOURCE_TYPE) -> dict[str, Any]:
    return template_queries.properties(template, resource_type)


def handler_statements(template: Template) -> list[dict[str, Any]]:
    """The statements of the shared handler's policy (the one that grants cleanrooms actions)."""
    return template_queries.handler_statements(template, "cleanrooms")


def clean_rooms_arn(service: str, resource: Any) -> dict[str, Any]:
    """A ``Stack.format_arn`` of an environment-agnostic stack, resolved."""
    parts = [resource] if not isinstance(resource, list) else resource
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                *parts,
            ],
        ]
    }


ASSOCIATIONS = clean_rooms_arn("cleanrooms", ":membership/*/configuredaudiencemodelassociation/*")
CONFIGURED_MODELS = clean_rooms_arn("cleanrooms-ml", ":configured-audience-model/*")


def membership_arn(membership_id: Any) -> dict[str, Any]:
    if isinstance(membership_id, str):
        return clean_rooms_arn("cleanrooms", f":membership/{membership_id}")
    return clean_rooms_arn("cleanrooms", [":membership/", membership_id])


# --- properties ---------------------------------------------------------------------------------


def test_every_prop_renders_the_create_request_in_pascal_case() -> None:
    stack = make_stack()
    associate(
        stack,
        name="lookalikes",
        description="Spring lookalikes for the partner",
        tags={"cost-center": "marketing"},
    )

    rendered = properties(Template.from_stack(stack))

    del rendered["ServiceToken"]
    assert rendered == {
        "MembershipIdentifier": MEMBERSHIP_ID,
        "ConfiguredAudienceModelArn": CONFIGURED_MODEL,
        "ConfiguredAudienceModelAssociationName": "lookalikes",
        "ManageResourcePolicies": True,
        "Description": "Spring lookalikes for the partner",
        "Tags": [{"Key": "cost-center", "Value": "marketing"}],
    }


def test_optional_props_left_out_are_absent_and_the_flag_stays_a_boolean() -> None:
    stack = make_stack()
    associate(stack, name="", manage_resource_policies=False)  # "": the handler generates one

    rendered = properties(Template.from_stack(stack))

    assert set(rendered) == {
        "ServiceToken",
        "MembershipIdentifier",
        "ConfiguredAudienceModelArn",
        "ManageResourcePolicies",
    }
    assert rendered["ManageResourcePolicies"] is False


def test_the_arn_and_the_id_are_getatt_tokens() -> None:
    stack = make_stack()
    association = associate(stack)

    resource_id = logical_id(stack, association)
    assert stack.resolve(association.configured_audience_model_association_arn) == {
        "Fn::GetAtt": [resource_id, "ConfiguredAudienceModelAssociationArn"]
    }
    assert stack.resolve(association.configured_audience_model_association_id) == {
        "Fn::GetAtt": [resource_id, "ConfiguredAudienceModelAssociationId"]
    }


# --- the handler's permissions ------------------------------------------------------------------


def test_associations_grant_what_they_need_scoped_to_their_memberships() -> None:
    stack = make_stack()
    associate(stack, "A")
    associate(stack, "B", name="second")  # the same membership and model: no duplicates
    associate(
        stack,
        "C",
        membership_id=OTHER_MEMBERSHIP_ID,
        configured_audience_model_arn=OTHER_CONFIGURED_MODEL,
    )

    statements = handler_statements(Template.from_stack(stack))
    clean_rooms = [s for s in statements if not actions_of(s)[0].startswith("logs:")]

    lifecycle = statement_with(clean_rooms, "cleanrooms:DeleteConfiguredAudienceModelAssociation")
    assert actions_of(lifecycle) == ASSOCIATION_ACTIONS
    assert lifecycle["Resource"] == ASSOCIATIONS
    create = statement_with(clean_rooms, "cleanrooms:CreateConfiguredAudienceModelAssociation")
    assert actions_of(create) == CREATE_ACTIONS
    assert create["Resource"] == [
        ASSOCIATIONS,
        membership_arn(MEMBERSHIP_ID),
        membership_arn(OTHER_MEMBERSHIP_ID),
    ]
    policy = statement_with(clean_rooms, "cleanrooms-ml:PutConfiguredAudienceModelPolicy")
    assert actions_of(policy) == POLICY_ACTIONS
    assert policy["Resource"] == [CONFIGURED_MODEL, OTHER_CONFIGURED_MODEL]
    describe = statement_with(clean_rooms, "cloudformation:DescribeStacks")
    assert describe["Resource"] == {"Ref": "AWS::StackId"}
    assert len(clean_rooms) == 4
    every_action = json.dumps(clean_rooms)
    assert "cleanrooms:*" not in every_action
    assert "cleanrooms-ml:*" not in every_action
    assert '"*"' not in every_action, "no Resource: * (every action has resource types)"
    assert "AudienceGenerationJob" not in every_action
    assert 'cleanrooms-ml:GetConfiguredAudienceModel"' not in every_action


def test_the_model_s_policy_is_the_handler_s_only_when_clean_rooms_manages_it() -> None:
    stack = make_stack()
    associate(stack, "Managed", configured_audience_model_arn=CONFIGURED_MODEL)
    associate(
        stack,
        "OwnerManaged",
        configured_audience_model_arn=OTHER_CONFIGURED_MODEL,
        manage_resource_policies=False,
    )

    statements = handler_statements(Template.from_stack(stack))

    policy = statement_with(statements, "cleanrooms-ml:PutConfiguredAudienceModelPolicy")
    assert policy["Resource"] == CONFIGURED_MODEL


def test_owner_managed_policies_grant_no_policy_actions() -> None:
    stack = make_stack()
    associate(stack, manage_resource_policies=False)

    every_action = json.dumps(handler_statements(Template.from_stack(stack)))

    assert "ConfiguredAudienceModelPolicy" not in every_action
    assert "cleanrooms-ml:" not in every_action


def test_a_stack_without_associations_gets_no_association_permissions() -> None:
    stack = make_stack()
    configured(stack)

    every_action = json.dumps(handler_statements(Template.from_stack(stack)))

    assert "cleanrooms:" not in every_action
    assert "configuredaudiencemodelassociation" not in every_action


def test_same_stack_as_its_membership_and_configured_model_makes_no_cycle() -> None:
    app = cdk.App()
    stack = make_stack(app)
    member = membership(stack)
    model = configured(stack)
    association = associate(
        stack,
        membership_id=member.attr_membership_identifier,
        configured_audience_model_arn=model.configured_audience_model_arn,
    )

    app.synth()  # raises on a dependency cycle

    template = Template.from_stack(stack)
    rendered = properties(template)
    assert rendered["MembershipIdentifier"] == {
        "Fn::GetAtt": [logical_id(stack, member), "MembershipIdentifier"]
    }
    assert rendered["ConfiguredAudienceModelArn"] == {
        "Fn::GetAtt": [logical_id(stack, model), "ConfiguredAudienceModelArn"]
    }
    statements = handler_statements(template)
    create = statement_with(statements, "cleanrooms:CreateConfiguredAudienceModelAssociation")
    assert create["Resource"] == [
        ASSOCIATIONS,
        membership_arn({"Fn::GetAtt": [logical_id(stack, member), "MembershipIdentifier"]}),
    ]
    # The configured models' own statement covers the model (its GetAtt would be a cycle).
    policy = statement_with(statements, "cleanrooms-ml:PutConfiguredAudienceModelPolicy")
    assert policy["Resource"] == CONFIGURED_MODELS
    assert set(POLICY_ACTIONS) <= set(actions_of(policy))
    assert "ConfiguredAudienceModelArn" not in json.dumps(statements)
    assert logical_id(stack, association) not in json.dumps(statements)


def test_in_another_stack_than_its_membership_and_model_the_arns_are_imported() -> None:
    app = cdk.App()
    models = make_stack(app, "Models", env=ENV)
    collaboration = make_stack(app, "Collaboration", env=ENV)
    model = configured(models)
    member = membership(models)
    associate(
        collaboration,
        membership_id=member.attr_membership_identifier,
        configured_audience_model_arn=model.configured_audience_model_arn,
    )

    app.synth()

    assert [stack.stack_name for stack in collaboration.dependencies] == ["Models"]
    statements = handler_statements(Template.from_stack(collaboration))
    policy = statement_with(statements, "cleanrooms-ml:PutConfiguredAudienceModelPolicy")
    assert list(policy["Resource"]) == ["Fn::ImportValue"]
    create = statement_with(statements, "cleanrooms:CreateConfiguredAudienceModelAssociation")
    assert "Fn::ImportValue" in json.dumps(create["Resource"][1])
    assert "configuredaudiencemodelassociation" not in json.dumps(
        handler_statements(Template.from_stack(models))
    ), "the models' stack has no association"


def test_associations_and_jobs_share_one_handler() -> None:
    stack = make_stack()
    associate(stack)
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=CONFIGURED_MODEL,
        seed_audience=SeedAudience.from_s3(
            "s3://seeds/seed/", f"arn:aws:iam::{ACCOUNT}:role/seed-reader"
        ),
    )

    template = Template.from_stack(stack)
    statements = handler_statements(template)

    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    statement_with(statements, "cloudformation:DescribeStacks")  # once
    listing = statement_with(statements, "cleanrooms-ml:ListAudienceGenerationJobs")
    assert actions_of(listing) == ["cleanrooms-ml:ListAudienceGenerationJobs"]
    descriptions = [
        r["Properties"].get("Description")
        for r in template.find_resources("AWS::IAM::Role").values()
    ]
    assert (
        "Creates, tags and deletes Clean Rooms ML configured audience model associations, "
        "audience generation jobs"
    ) in descriptions


# --- imports ------------------------------------------------------------------------------------


def test_an_import_by_arn_has_the_arn_s_environment_id_and_grants_read() -> None:
    stack = make_stack()
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())

    imported = ConfiguredAudienceModelAssociation.from_configured_audience_model_association_arn(
        stack, id="Imported", configured_audience_model_association_arn=ASSOCIATION_ARN
    )
    imported.grant_read(reader)

    assert isinstance(imported, ConfiguredAudienceModelAssociationBase)
    assert imported.configured_audience_model_association_arn == ASSOCIATION_ARN
    assert imported.configured_audience_model_association_id == (
        "a1b2c3d4-5678-90ab-cdef-444444444444"
    )
    assert (imported.env.account, imported.env.region) == (ACCOUNT, "us-east-1")
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": [
                            "cleanrooms:GetConfiguredAudienceModelAssociation",
                            "cleanrooms:ListTagsForResource",
                        ],
                        "Effect": "Allow",
                        "Resource": ASSOCIATION_ARN,
                    }
                ]
            }
        },
    )


def test_an_import_of_a_token_arn_selects_the_id_from_it() -> None:
    stack = make_stack()
    arn = cdk.CfnParameter(stack, "AssociationArn").value_as_string

    imported = ConfiguredAudienceModelAssociation.from_configured_audience_model_association_arn(
        stack, "Imported", arn
    )

    assert stack.resolve(imported.configured_audience_model_association_id) == {
        "Fn::Select": [3, {"Fn::Split": ["/", {"Ref": "AssociationArn"}]}]
    }


def test_grant_gives_the_actions_on_a_defined_association() -> None:
    stack = make_stack()
    association = associate(stack)
    user = iam.Role(stack, "User", assumed_by=iam.AccountRootPrincipal())

    association.grant(user, "cleanrooms:GetConfiguredAudienceModelAssociation")

    template = Template.from_stack(stack)
    policy_id = logical_id(stack, user.node.find_child("DefaultPolicy"))
    statements = template.to_json()["Resources"][policy_id]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statements == [
        {
            "Action": "cleanrooms:GetConfiguredAudienceModelAssociation",
            "Effect": "Allow",
            "Resource": {
                "Fn::GetAtt": [
                    logical_id(stack, association),
                    "ConfiguredAudienceModelAssociationArn",
                ]
            },
        }
    ]


# --- synth-time checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"membership_id": "membership-1"}, "membership_id: must be 36 characters, got 12"),
        (
            {"membership_id": "A1B2C3D4-5678-90AB-CDEF-111111111111"},
            "membership_id: must match the pattern",
        ),
        (
            {"configured_audience_model_arn": AUDIENCE_MODEL},
            "configured_audience_model_arn: must match the pattern",
        ),
        ({"name": "n" * 101}, "name: must be 1 to 100 characters, got 101"),
        ({"name": "  "}, "name: must match the pattern"),
        ({"description": "d" * 256}, "description: must be 0 to 255 characters, got 256"),
        ({"tags": {"aws:x": "y"}}, "tags key 'aws:x': the prefix 'aws:' is reserved"),
    ],
)
def test_bad_props_fail_where_the_association_is_defined(
    props: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        associate(make_stack(), **props)


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        (
            "arn:aws:cleanrooms-ml:eu-west-1:111122223333:configured-audience-model/m",
            "configured_audience_model_arn: must be a model in the stack's Region, us-east-1",
        ),
        (
            "arn:aws:cleanrooms-ml:us-east-1:999999999999:configured-audience-model/m",
            "configured_audience_model_arn: must be a model of the stack's account, 111122223333 "
            "(a member associates its own configured audience model",
        ),
    ],
)
def test_a_model_of_another_region_or_account_is_refused(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        associate(make_stack(env=ENV), configured_audience_model_arn=arn)


def test_an_env_agnostic_stack_takes_any_configured_model() -> None:
    associate(
        make_stack(),
        configured_audience_model_arn=(
            "arn:aws:cleanrooms-ml:eu-west-1:999999999999:configured-audience-model/m"
        ),
    )


def test_wrong_types_fail_at_the_user_s_line() -> None:
    with pytest.raises(TypeError, match="type of argument manage_resource_policies must be bool"):
        associate(make_stack(), manage_resource_policies="true")
    with pytest.raises(TypeError, match="manage_resource_policies"):
        ConfiguredAudienceModelAssociation(  # type: ignore[call-arg]
            make_stack(),
            "Association",
            membership_id=MEMBERSHIP_ID,
            configured_audience_model_arn=CONFIGURED_MODEL,
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
    associate(stack, name="n", description="d")

    ((resource_type, checked, user_names),) = calls
    assert resource_type == RESOURCE_TYPE
    rendered = properties(Template.from_stack(stack))
    assert checked == {k: v for k, v in rendered.items() if k not in ("ServiceToken", "Tags")}
    assert sorted(set(checked) - set(user_names)) == []
    assert "Tags" in user_names


def test_the_handler_s_message_is_raised_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    def check_resource(resource_type: str, properties: Mapping[str, Any], **_: Any) -> None:
        raise ValueError("membership_id: must match the pattern")

    monkeypatch.setattr(validation, "check_resource", check_resource, raising=False)

    with pytest.raises(ValueError, match=r"^membership_id: must match the pattern"):
        associate(make_stack())


def test_every_user_name_names_a_prop_of_the_construct() -> None:
    written = {
        "membership_id",
        "configured_audience_model_arn",
        "name",
        "manage_resource_policies",
        "description",
        "tags",
    }

    assert set(association_module._USER_NAMES.values()) == written


def test_the_handler_serves_the_type_and_checks_the_properties() -> None:
    """The handler's own checks run at synth: its kind of this resource type, its service model,
    the template's paths in the user's names."""
    with pytest.raises(ValueError, match=r"^name: must be 1 to 100 characters, got 101"):
        validation.check_resource(
            RESOURCE_TYPE,
            {
                "MembershipIdentifier": MEMBERSHIP_ID,
                "ConfiguredAudienceModelArn": CONFIGURED_MODEL,
                "ConfiguredAudienceModelAssociationName": "n" * 101,
                "ManageResourcePolicies": True,
            },
            user_names=association_module._USER_NAMES,
        )


# --- cdk-nag ------------------------------------------------------------------------------------


def nag_stacks(app: cdk.App) -> list[cdk.Stack]:
    """Associations alone, with their membership and configured model in the same stack, and in
    another stack than those, with and without ``env``."""
    stacks = []
    for name, env in (("Agnostic", None), ("Specific", ENV)):
        alone = make_stack(app, f"Associations{name}", env=env)
        associate(alone, tags={"team": "ml"})
        associate(alone, "OwnerManaged", manage_resource_policies=False)
        both = make_stack(app, f"Both{name}", env=env)
        member = membership(both)
        model = configured(both)
        association = associate(
            both,
            membership_id=member.attr_membership_identifier,
            configured_audience_model_arn=model.configured_audience_model_arn,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        other = make_stack(app, f"Other{name}", env=env)
        associate(
            other,
            membership_id=member.attr_membership_identifier,
            configured_audience_model_arn=model.configured_audience_model_arn,
            name=f"other-{name.lower()}",
        )
        cdk.CfnOutput(
            both, "AssociationArn", value=association.configured_audience_model_association_arn
        )
        stacks += [alone, both, other]
    return stacks


def test_cdk_nag_3_finds_nothing_to_acknowledge(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    nag_stacks(app)

    assert nag3_violations(app, tmp_path) == []


def test_cdk_nag_2_finds_nothing_to_acknowledge() -> None:
    assert nag2_findings("test_configured_audience_model_association") == []


def test_a_name_pinned_twice_in_one_membership_fails_at_the_second() -> None:
    app = cdk.App()
    associate(make_stack(app), name="lookalikes")
    other_stack = make_stack(app, "Other")
    associate(other_stack, "Elsewhere", name="lookalikes", membership_id=OTHER_MEMBERSHIP_ID)

    with pytest.raises(
        ValueError,
        match=r"name: must be unique per membership, got 'lookalikes', which "
        r"Collaboration/Association pins too, in 'a1b2c3d4-5678-90ab-cdef-111111111111'",
    ):
        associate(other_stack, name="lookalikes")
