"""The construct, read through the synthesized CloudFormation template."""

from __future__ import annotations

import json
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from cdk_cleanrooms_ml import (
    AudienceGenerationJob,
    AudienceGenerationJobBase,
    ComputeConfiguration,
    SeedAudience,
    WorkerComputeType,
)
from cdk_cleanrooms_ml.provider import SERVICE_TIMEOUT_SECONDS

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
OTHER_MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-2"
ROLE_ARN = "arn:aws:iam::111122223333:role/seed-reader"
TEMPLATE_ARN = (
    "arn:aws:cleanrooms:us-east-1:111122223333:membership/"
    "11111111-2222-3333-4444-555555555555/analysistemplate/seed-template"
)


def make_stack(**props: Any) -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Jobs", **props)


def s3_job(scope: cdk.Stack, id: str = "Job", **props: Any) -> AudienceGenerationJob:
    props.setdefault("configured_audience_model_arn", MODEL)
    props.setdefault("seed_audience", SeedAudience.from_s3("s3://seed-bucket/seed/", ROLE_ARN))
    return AudienceGenerationJob(scope, id, **props)


def job_properties(template: Template) -> dict[str, Any]:
    (resource,) = template.find_resources(RESOURCE_TYPE).values()
    properties: dict[str, Any] = resource["Properties"]
    return properties


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    """The logical id of an L2 construct's CloudFormation resource."""
    return stack.get_logical_id(cast(cdk.CfnElement, construct.node.default_child))


def handler_policy(template: Template) -> list[dict[str, Any]]:
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
        if any("cleanrooms-ml:" in json.dumps(s.get("Action")) for s in statements):
            return statements
    raise AssertionError("no policy grants Clean Rooms ML actions")


def statement_for(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    matches = [s for s in statements if action in json.dumps(s["Action"])]
    assert len(matches) == 1, f"{action}: {matches}"
    return matches[0]


def test_s3_seed_renders_the_api_request_in_pascal_case() -> None:
    stack = make_stack()
    s3_job(stack)

    properties = job_properties(Template.from_stack(stack))

    assert properties["ConfiguredAudienceModelArn"] == MODEL
    assert properties["SeedAudience"] == {
        "DataSource": {"S3Uri": "s3://seed-bucket/seed/"},
        "RoleArn": ROLE_ARN,
    }
    assert properties["WaitForCompletion"] is True
    assert "ServiceTimeout" not in properties, "CloudFormation's default, 3600 s, its maximum"
    assert "Name" not in properties, "a generated name is the handler's, not the template's"
    assert "Tags" not in properties


def test_optional_props_are_rendered_only_when_given() -> None:
    stack = make_stack()
    s3_job(
        stack,
        name="spring-lookalikes",
        collaboration_id="11111111-2222-3333-4444-555555555555",
        description="Spring campaign",
        include_seed_in_output=False,
        wait_for_completion=False,
        wait_timeout=cdk.Duration.minutes(20),
    )

    properties = job_properties(Template.from_stack(stack))

    assert properties["Name"] == "spring-lookalikes"
    assert properties["CollaborationId"] == "11111111-2222-3333-4444-555555555555"
    assert properties["Description"] == "Spring campaign"
    assert properties["IncludeSeedInOutput"] is False
    assert properties["WaitForCompletion"] is False
    assert properties["WaitTimeoutSeconds"] == 1200


def test_sql_seed_carries_parameters_and_compute() -> None:
    stack = make_stack()
    s3_job(
        stack,
        seed_audience=SeedAudience.from_sql(
            "SELECT user_id FROM customers WHERE segment = :segment",
            ROLE_ARN,
            parameters={"segment": "gold"},
            compute=ComputeConfiguration(
                worker_type=WorkerComputeType.CR_4X,
                number=16,
                spark_properties={"spark.sql.shuffle.partitions": "64"},
            ),
        ),
    )

    seed = job_properties(Template.from_stack(stack))["SeedAudience"]

    assert seed == {
        "SqlParameters": {
            "QueryString": "SELECT user_id FROM customers WHERE segment = :segment",
            "Parameters": {"segment": "gold"},
        },
        "SqlComputeConfiguration": {
            "Worker": {
                "Type": "CR.4X",
                "Number": 16,
                "Properties": {"Spark": {"spark.sql.shuffle.partitions": "64"}},
            }
        },
        "RoleArn": ROLE_ARN,
    }


def test_analysis_template_seed() -> None:
    stack = make_stack()
    s3_job(stack, seed_audience=SeedAudience.from_analysis_template(TEMPLATE_ARN, ROLE_ARN))

    seed = job_properties(Template.from_stack(stack))["SeedAudience"]

    assert seed == {"SqlParameters": {"AnalysisTemplateArn": TEMPLATE_ARN}, "RoleArn": ROLE_ARN}


def test_unknown_worker_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"CR\.2X"):
        ComputeConfiguration(worker_type="CR.2X")._render()


def test_tags_merge_with_cdk_precedence() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Jobs", tags={"team": "stack-team", "env": "stack-env"})
    job = s3_job(stack, tags={"env": "job-env", "cost-center": "job-cc"})
    cdk.Tags.of(app).add("owner", "app-owner")
    cdk.Tags.of(app).add("cost-center", "app-cc")  # Tags.of (priority 100) beats the prop (50)
    cdk.Tags.of(stack).add("owner", "stack-owner")  # the nearer scope wins at equal priority
    cdk.Tags.of(job).add("low", "ignored", priority=10)
    cdk.Tags.of(job).add("low", "kept", priority=20)

    tags = job_properties(Template.from_stack(stack))["Tags"]

    assert {tag["Key"]: tag["Value"] for tag in tags} == {
        "team": "stack-team",
        "env": "job-env",
        "cost-center": "app-cc",
        "owner": "stack-owner",
        "low": "kept",
    }
    assert all(set(tag) == {"Key", "Value"} for tag in tags)


def test_tags_of_can_exclude_the_job_type() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Jobs")
    s3_job(stack)
    cdk.Tags.of(app).add("everywhere", "yes", exclude_resource_types=[RESOURCE_TYPE])
    cdk.Tags.of(app).add("jobs-only", "yes", include_resource_types=[RESOURCE_TYPE])

    tags = job_properties(Template.from_stack(stack))["Tags"]

    assert tags == [{"Key": "jobs-only", "Value": "yes"}]


def test_every_job_in_a_stack_shares_one_provider() -> None:
    stack = make_stack()
    for index in range(3):
        s3_job(stack, f"Job{index}")

    template = Template.from_stack(stack)

    template.resource_count_is(RESOURCE_TYPE, 3)
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    tokens = {
        json.dumps(r["Properties"]["ServiceToken"])
        for r in template.find_resources(RESOURCE_TYPE).values()
    }
    assert len(tokens) == 1
    handlers = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Runtime": "python3.14"}}
    )
    assert len(handlers) == 2, "on_event and is_complete"
    for handler in handlers.values():
        assert handler["Properties"]["Architectures"] == ["arm64"]
        assert "LogGroup" in handler["Properties"]["LoggingConfig"]
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_handler_role_is_least_privilege() -> None:
    stack = make_stack()
    other_role = iam.Role(stack, "OtherSeedRole", assumed_by=iam.AccountRootPrincipal())
    s3_job(stack, "A")
    s3_job(stack, "B")  # the same model and role again: no duplicates
    s3_job(
        stack,
        "C",
        configured_audience_model_arn=OTHER_MODEL,
        seed_audience=SeedAudience.from_s3("s3://other/seed/", other_role),
    )

    template = Template.from_stack(stack)
    statements = handler_policy(template)

    start = statement_for(statements, "cleanrooms-ml:StartAudienceGenerationJob")
    assert start["Action"] == "cleanrooms-ml:StartAudienceGenerationJob"
    assert start["Resource"] == [MODEL, OTHER_MODEL]
    pass_role = statement_for(statements, "iam:PassRole")
    assert pass_role["Action"] == "iam:PassRole"
    assert pass_role["Resource"] == [
        ROLE_ARN,
        {"Fn::GetAtt": [logical_id(stack, other_role), "Arn"]},
    ]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cleanrooms-ml.amazonaws.com"}
    }
    jobs = statement_for(statements, "cleanrooms-ml:DeleteAudienceGenerationJob")
    assert sorted(jobs["Action"]) == [
        "cleanrooms-ml:DeleteAudienceGenerationJob",
        "cleanrooms-ml:GetAudienceGenerationJob",
        "cleanrooms-ml:ListTagsForResource",
        "cleanrooms-ml:TagResource",
        "cleanrooms-ml:UntagResource",
    ]
    assert json.dumps(jobs["Resource"]).endswith(':audience-generation-job/*"]]}')
    listing = statement_for(statements, "cleanrooms-ml:ListAudienceGenerationJobs")
    assert listing["Resource"] == "*"
    # A waiter asks whether CloudFormation still awaits it: of its own stack only.
    describe = statement_for(statements, "cloudformation:DescribeStackResource")
    assert sorted(describe["Action"]) == [
        "cloudformation:DescribeStackResource",
        "cloudformation:DescribeStacks",
    ]
    assert describe["Resource"] == {"Ref": "AWS::StackId"}
    wildcard_actions = [s["Action"] for s in statements if s["Resource"] == "*"]
    assert wildcard_actions == ["cleanrooms-ml:ListAudienceGenerationJobs"]
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"], "no AWS managed policies"


def test_provider_waits_fit_inside_the_service_timeout() -> None:
    stack = make_stack()
    s3_job(stack, wait_timeout=cdk.Duration.minutes(54))

    template = Template.from_stack(stack)
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    definition = json.loads(
        "".join(
            part if isinstance(part, str) else "ARN"
            for part in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
        )
    )
    (retry,) = [
        rule
        for state in definition["States"].values()
        for rule in state.get("Retry", [])
        if rule.get("ErrorEquals") == ["States.ALL"]
    ]
    framework_budget = retry["IntervalSeconds"] * retry["MaxAttempts"]
    properties = job_properties(template)
    service_timeout = int(properties.get("ServiceTimeout", SERVICE_TIMEOUT_SECONDS))

    assert service_timeout == 3600
    assert framework_budget <= service_timeout
    assert properties["WaitTimeoutSeconds"] + retry["IntervalSeconds"] < framework_budget


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"wait_timeout": cdk.Duration.seconds(43201)}, "wait_timeout: must be 1 second to 12 h"),
        ({"wait_timeout": cdk.Duration.seconds(0)}, "wait_timeout: must be 1 second to 12 h"),
        ({"wait_timeout": cdk.Duration.millis(1500)}, "in whole seconds"),
        ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, "removal_policy: must be"),
    ],
)
def test_bad_props_fail_at_synth(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        s3_job(make_stack(), **props)


def test_retain_keeps_the_job_when_it_leaves_the_stack() -> None:
    stack = make_stack()
    s3_job(stack, removal_policy=cdk.RemovalPolicy.RETAIN)

    Template.from_stack(stack).has_resource(
        RESOURCE_TYPE, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_default_removal_deletes_the_job() -> None:
    stack = make_stack()
    s3_job(stack)

    (resource,) = Template.from_stack(stack).find_resources(RESOURCE_TYPE).values()
    # CloudFormation's default for both is Delete.
    assert resource.get("DeletionPolicy", "Delete") == "Delete"
    assert resource.get("UpdateReplacePolicy", "Delete") == "Delete"


def test_from_bucket_grants_the_seed_role_read_access_to_the_prefix() -> None:
    stack = make_stack()
    bucket = s3.Bucket(stack, "Seeds")
    role = iam.Role(
        stack, "SeedRole", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    s3_job(stack, seed_audience=SeedAudience.from_bucket(bucket, "seed/", role))

    template = Template.from_stack(stack)
    bucket_id = logical_id(stack, bucket)

    assert job_properties(template)["SeedAudience"]["DataSource"]["S3Uri"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/seed/"]]
    }
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": logical_id(stack, role)}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["s3:GetObject*"]),
                                "Resource": Match.array_with(
                                    [
                                        {
                                            "Fn::Join": [
                                                "",
                                                [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/seed/*"],
                                            ]
                                        }
                                    ]
                                ),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_a_job_seeded_from_a_bucket_starts_once_its_seed_role_may_read_it() -> None:
    """The service reads the seed when the job starts: the role's policy must exist by then."""
    stack = make_stack()
    bucket = s3.Bucket(stack, "Seeds")
    role = iam.Role(
        stack, "SeedRole", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com")
    )
    job = s3_job(stack, seed_audience=SeedAudience.from_bucket(bucket, "seed/", role))

    resources = Template.from_stack(stack).to_json()["Resources"]
    policy = logical_id(stack, role.node.find_child("DefaultPolicy"))
    assert policy in resources[logical_id(stack, job)]["DependsOn"]


def test_from_bucket_with_a_role_arn_grants_through_an_attached_policy() -> None:
    stack = make_stack()
    bucket = s3.Bucket(stack, "Seeds")
    s3_job(stack, seed_audience=SeedAudience.from_bucket(bucket, "seed/", ROLE_ARN))

    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {"Roles": ["seed-reader"], "PolicyDocument": {"Statement": Match.any_value()}},
    )


def test_arn_crosses_stacks_as_an_export() -> None:
    app = cdk.App()
    env = cdk.Environment(account="111122223333", region="us-east-1")
    producer = cdk.Stack(app, "Producer", env=env)
    consumer = cdk.Stack(app, "Consumer", env=env)
    job = s3_job(producer)
    reader = iam.Role(consumer, "Reader", assumed_by=iam.AccountRootPrincipal())
    imported = AudienceGenerationJob.from_audience_generation_job_arn(
        consumer, "Imported", job.audience_generation_job_arn
    )
    imported.grant_read(reader)
    cdk.CfnOutput(consumer, "JobArn", value=job.audience_generation_job_arn)

    producer_template = Template.from_stack(producer)
    consumer_template = Template.from_stack(consumer)

    job_id = logical_id(producer, job)
    exports = producer_template.to_json()["Outputs"]
    assert any(
        output["Value"] == {"Fn::GetAtt": [job_id, "AudienceGenerationJobArn"]}
        for output in exports.values()
    )
    consumer_template.has_output("JobArn", {"Value": {"Fn::ImportValue": Match.any_value()}})
    consumer_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": [
                            "cleanrooms-ml:GetAudienceGenerationJob",
                            "cleanrooms-ml:ListTagsForResource",
                        ],
                        "Effect": "Allow",
                        "Resource": {"Fn::ImportValue": Match.any_value()},
                    }
                ]
            }
        },
    )


def test_imported_job_satisfies_the_interface() -> None:
    stack = make_stack()
    arn = "arn:aws:cleanrooms-ml:eu-west-1:444455556666:audience-generation-job/abc"

    imported = AudienceGenerationJob.from_audience_generation_job_arn(stack, "Imported", arn)

    assert isinstance(imported, AudienceGenerationJobBase)
    assert imported.audience_generation_job_arn == arn
    assert imported.env.region == "eu-west-1"
    assert imported.env.account == "444455556666"


def test_job_attributes_are_getatt_tokens() -> None:
    stack = make_stack()
    job = s3_job(stack)
    job_id = logical_id(stack, job)

    assert stack.resolve(job.audience_generation_job_arn) == {
        "Fn::GetAtt": [job_id, "AudienceGenerationJobArn"]
    }
    assert stack.resolve(job.audience_generation_job_name) == {"Fn::GetAtt": [job_id, "Name"]}


def test_default_child_is_the_cloudformation_resource_for_escape_hatches() -> None:
    stack = make_stack()
    job = s3_job(stack)

    resource = job.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    resource.add_property_override("Description", "set through the escape hatch")

    assert resource.cfn_resource_type == RESOURCE_TYPE
    properties = job_properties(Template.from_stack(stack))
    assert properties["Description"] == "set through the escape hatch"


def test_apply_removal_policy_works_as_on_any_l2() -> None:
    stack = make_stack()
    job = s3_job(stack)

    job.apply_removal_policy(cdk.RemovalPolicy.RETAIN)

    Template.from_stack(stack).has_resource(
        RESOURCE_TYPE, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )
    with pytest.raises(ValueError, match=r"removal_policy: must be RemovalPolicy\.DESTROY or"):
        job.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)


def test_removal_policies_of_a_scope_reach_the_job() -> None:
    stack = make_stack()
    s3_job(stack)

    cdk.RemovalPolicies.of(stack).retain()

    Template.from_stack(stack).has_resource(RESOURCE_TYPE, {"DeletionPolicy": "Retain"})


def test_the_construct_id_is_called_id_and_may_be_given_by_keyword() -> None:
    stack = make_stack()
    seed = SeedAudience.from_s3("s3://seed-bucket/seed/", ROLE_ARN)

    by_keyword = AudienceGenerationJob(
        scope=stack, id="ByKeyword", configured_audience_model_arn=MODEL, seed_audience=seed
    )
    positional = AudienceGenerationJob(
        stack, "Positional", configured_audience_model_arn=MODEL, seed_audience=seed
    )
    imported = AudienceGenerationJob.from_audience_generation_job_arn(
        scope=stack,
        id="Imported",
        audience_generation_job_arn=(
            "arn:aws:cleanrooms-ml:us-east-1:111122223333:audience-generation-job/abc"
        ),
    )

    assert [by_keyword.node.id, positional.node.id, imported.node.id] == [
        "ByKeyword",
        "Positional",
        "Imported",
    ]


def test_import_by_attributes_gives_the_name() -> None:
    stack = make_stack()
    arn = "arn:aws:cleanrooms-ml:eu-west-1:444455556666:audience-generation-job/abc"

    imported = AudienceGenerationJob.from_audience_generation_job_attributes(
        stack,
        "Imported",
        audience_generation_job_arn=arn,
        audience_generation_job_name="spring-lookalikes",
    )

    assert imported.audience_generation_job_arn == arn
    assert imported.audience_generation_job_name == "spring-lookalikes"
    assert imported.env.region == "eu-west-1"


def test_a_job_imported_by_arn_alone_says_how_to_give_its_name() -> None:
    stack = make_stack()
    imported = AudienceGenerationJob.from_audience_generation_job_arn(
        stack,
        "Imported",
        "arn:aws:cleanrooms-ml:eu-west-1:444455556666:audience-generation-job/abc",
    )

    with pytest.raises(ValueError, match="from_audience_generation_job_attributes"):
        _ = imported.audience_generation_job_name


def test_from_bucket_with_a_role_of_another_stack_makes_no_dependency_cycle() -> None:
    """The grant lands in a policy of the job's stack, not in the role's stack."""
    app = cdk.App()
    env = cdk.Environment(account="111122223333", region="us-east-1")
    roles = cdk.Stack(app, "Roles", env=env)
    jobs = cdk.Stack(app, "Jobs", env=env)
    role = iam.Role(
        roles,
        "Seed",
        assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"),
        path="/service/",
    )
    bucket = s3.Bucket(jobs, "Seeds")
    job = s3_job(jobs, seed_audience=SeedAudience.from_bucket(bucket, "seed/", role))

    app.synth()  # raises on a cycle between the stacks

    assert [stack.stack_name for stack in jobs.dependencies] == ["Roles"]
    assert roles.dependencies == []
    Template.from_stack(roles).resource_count_is("AWS::IAM::Policy", 0)
    policy = job.node.find_child("SeedRole").node.find_child("Policy")
    assert cdk.Stack.of(policy) is jobs
    resource = Template.from_stack(jobs).to_json()["Resources"][logical_id(jobs, policy)]
    assert "s3:GetObject*" in json.dumps(resource["Properties"]["PolicyDocument"])
    # Attached by the role's name (a Ref exported by its stack), right even with a path.
    (attached,) = resource["Properties"]["Roles"]
    assert list(attached) == ["Fn::ImportValue"]
    assert "RefSeed" in attached["Fn::ImportValue"]


def test_from_bucket_with_the_role_beside_the_bucket_grants_on_the_role() -> None:
    app = cdk.App()
    env = cdk.Environment(account="111122223333", region="us-east-1")
    data = cdk.Stack(app, "Data", env=env)
    jobs = cdk.Stack(app, "Jobs", env=env)
    role = iam.Role(data, "Seed", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    job = s3_job(jobs, seed_audience=SeedAudience.from_bucket(s3.Bucket(data, "B"), "s/", role))

    app.synth()

    assert job.node.try_find_child("SeedRole") is None
    assert role.node.try_find_child("DefaultPolicy") is not None
    assert [stack.stack_name for stack in jobs.dependencies] == ["Data"]


def test_from_bucket_with_a_role_of_the_same_stack_grants_on_the_role() -> None:
    stack = make_stack()
    role = iam.Role(stack, "Seed", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    job = s3_job(stack, seed_audience=SeedAudience.from_bucket(s3.Bucket(stack, "B"), "s/", role))

    assert job.node.try_find_child("SeedRole") is None
    assert role.node.try_find_child("DefaultPolicy") is not None
