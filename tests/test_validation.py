"""Synth-time validation: mistakes fail `cdk synth`, with the prop, the rule and the value."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

import aws_cdk as cdk
import botocore.session
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cleanrooms_ml_endpoint import validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdk_cleanrooms_ml import AudienceGenerationJob, ComputeConfiguration, SeedAudience

MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
ROLE_ARN = "arn:aws:iam::111122223333:role/seed-reader"
START = (
    botocore.session.get_session()
    .get_service_model("cleanroomsml")
    .operation_model("StartAudienceGenerationJob")
    .input_shape
)


def job(scope: cdk.Stack, id: str = "Job", **props: Any) -> AudienceGenerationJob:
    props.setdefault("configured_audience_model_arn", MODEL)
    props.setdefault("seed_audience", SeedAudience.from_s3("s3://seed/prefix/", ROLE_ARN))
    return AudienceGenerationJob(scope, id, **props)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"name": "n" * 64}, "name: must be 1 to 63 characters, got 64"),
        ({"name": "  "}, "name: must match the pattern"),
        (
            {"configured_audience_model_arn": "arn:aws:s3:::bucket/configured-audience-model/x"},
            "configured_audience_model_arn: must match the pattern",
        ),
        ({"collaboration_id": "ABC"}, "collaboration_id: must be 36 characters, got 3"),
        ({"description": "d" * 256}, "description: must be 0 to 255 characters, got 256"),
    ],
)
def test_bad_props_fail_when_the_job_is_defined(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        job(cdk.Stack(cdk.App(), "Jobs"), **props)


@pytest.mark.parametrize(
    ("make_seed", "message"),
    [
        (
            lambda: SeedAudience.from_s3("https://seed/", ROLE_ARN),
            "s3_uri: must match the pattern s3://.+, got 'https://seed/'",
        ),
        (
            lambda: SeedAudience.from_s3("s3://seed/", "arn:aws:iam::1:role/short"),
            "role: must match the pattern",
        ),
        (
            lambda: SeedAudience.from_analysis_template("arn:aws:x", ROLE_ARN),
            "analysis_template_arn: must match the pattern",
        ),
        (lambda: ComputeConfiguration(number=1), "number: must be 2 to 1024, got 1"),
        (
            lambda: ComputeConfiguration(worker_type="CR.16X"),
            "worker_type: must be one of CR.1X, CR.4X, CR.8X, got 'CR.16X'",
        ),
    ],
)
def test_bad_seeds_fail_where_they_are_written(
    make_seed: Callable[[], object], message: str
) -> None:
    """The message names the argument of the call that holds the mistake, as the user wrote it."""
    with pytest.raises(ValueError) as raised:
        make_seed()

    assert str(raised.value).startswith(message)


def test_a_seed_role_arn_read_at_bind_is_named_by_the_job_prop() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    role = iam.Role.from_role_arn(stack, "Short", "arn:aws:iam::1:role/short")

    with pytest.raises(ValueError, match=re.escape("seed_audience.role: must match the pattern")):
        job(stack, seed_audience=SeedAudience.from_s3("s3://seed/", role))


def test_unresolved_tokens_are_left_to_the_handler() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    name = cdk.CfnParameter(stack, "JobName").value_as_string
    role = iam.Role(stack, "Seed", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    model = cdk.Fn.import_value("ModelArn")

    job(
        stack,
        name=name,
        configured_audience_model_arn=model,
        seed_audience=SeedAudience.from_s3(f"s3://{cdk.Aws.ACCOUNT_ID}-seeds/", role),
    )

    assert cdk.assertions.Template.from_stack(stack).to_json()["Resources"]


def test_a_reserved_tag_key_in_the_tags_prop_fails_where_it_is_written() -> None:
    with pytest.raises(ValueError) as raised:
        job(cdk.Stack(cdk.App(), "Jobs"), tags={"team": "ml", "aws:owner": "me"})

    assert str(raised.value) == (
        "tags key 'aws:owner': the prefix 'aws:' is reserved for AWS, got 'aws:owner'"
    )


def test_too_many_tags_in_the_tags_prop_fail_where_they_are_written() -> None:
    with pytest.raises(ValueError, match=r"^tags: at most 49 tags .*, got 50$"):
        job(cdk.Stack(cdk.App(), "Jobs"), tags={f"job{i}": "j" for i in range(50)})


def test_a_reserved_tag_key_from_tags_of_fails_at_synth_naming_key_and_source() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Jobs")
    job(stack, tags={"team": "ml"})
    cdk.Tags.of(app).add("aws:owner", "me")

    with pytest.raises(RuntimeError) as raised:
        app.synth()

    assert (
        "Jobs/Job: tags key 'aws:owner' (from Tags.of(...)): the prefix 'aws:' is reserved for "
        "AWS, got 'aws:owner'"
    ) in str(raised.value)


def test_too_many_tags_counting_tags_of_fail_at_synth_saying_where_they_came_from() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Jobs", tags={f"stack{i}": "s" for i in range(20)})
    job(stack, tags={f"job{i}": "j" for i in range(20)})
    for i in range(10):
        cdk.Tags.of(app).add(f"app{i}", "a")

    with pytest.raises(RuntimeError) as raised:
        app.synth()

    assert re.search(
        r"Jobs/Job: tags: at most 49 tags .*, got 50: 10 from Tags.of\(\.\.\.\), "
        r"20 from the stack's tags, 20 from the tags prop",
        str(raised.value),
    ), str(raised.value)


def test_49_tags_are_fine() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Jobs")
    job(stack, tags={f"job{i}": "j" for i in range(49)})

    app.synth()


_NO_SURROGATES = st.characters(exclude_categories=["Cs"])


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    name=st.one_of(st.none(), st.text(_NO_SURROGATES, max_size=70)),
    description=st.one_of(st.none(), st.text(_NO_SURROGATES, max_size=270)),
    collaboration_id=st.one_of(
        st.none(),
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.text(max_size=40),
    ),
    model=st.one_of(
        st.just(MODEL),
        st.from_regex(
            r"arn:aws[-a-z]{0,4}:cleanrooms-ml:[-a-z0-9]{1,12}:[0-9]{12}:"
            r"configured-audience-model/[-a-zA-Z0-9_/.]{1,20}",
            fullmatch=True,
        ),
        st.text(_NO_SURROGATES, max_size=60),
    ),
    s3_uri=st.one_of(st.just("s3://seed/"), st.text(_NO_SURROGATES, max_size=20)),
    workers=st.one_of(st.none(), st.integers(min_value=-5, max_value=1100)),
)
def test_the_construct_accepts_exactly_what_the_service_model_accepts(
    name: str | None,
    description: str | None,
    collaboration_id: str | None,
    model: str,
    s3_uri: str,
    workers: int | None,
) -> None:
    """Checked against the local endpoint's validator, written separately from the handler's.

    No name, or "", is a generated one; a name pinned by an earlier job of the stack is refused.
    """
    request: dict[str, Any] = {
        "name": name or "generated-name",
        "configuredAudienceModelArn": model,
        "seedAudience": {"dataSource": {"s3Uri": s3_uri}, "roleArn": ROLE_ARN},
    }
    if workers is not None:
        request["seedAudience"] = {
            "sqlParameters": {"queryString": "SELECT 1"},
            "sqlComputeConfiguration": {"worker": {"number": workers}},
            "roleArn": ROLE_ARN,
        }
    optional = {"description": description, "collaborationId": collaboration_id}
    request.update({key: value for key, value in optional.items() if value is not None})
    model_accepts = validate(request, START) == []
    pinned_before = bool(name) and name in _PINNED

    try:
        # Seeds are checked where they are written, the rest where the job is.
        seed = (
            SeedAudience.from_s3(s3_uri, ROLE_ARN)
            if workers is None
            else SeedAudience.from_sql(
                "SELECT 1", ROLE_ARN, compute=ComputeConfiguration(number=workers)
            )
        )
        job(
            _SHARED_STACK,
            f"Job{next(_IDS)}",
            name=name,
            description=description,
            collaboration_id=collaboration_id,
            configured_audience_model_arn=model,
            seed_audience=seed,
        )
        construct_accepts = True
    except ValueError:
        construct_accepts = False

    assert construct_accepts == (model_accepts and not pinned_before), (
        request,
        validate(request, START),
    )
    if construct_accepts and name:
        _PINNED.add(name)


_SHARED_STACK = cdk.Stack(cdk.App(), "Generated")
_IDS = iter(range(1_000_000))
_PINNED: set[str] = set()


# ------------------------------------------------------------- the handler's parsing, at synth


@pytest.mark.parametrize("query", ["", " \n\t"])
def test_an_empty_query_fails_where_it_is_written(query: str) -> None:
    with pytest.raises(ValueError) as raised:
        SeedAudience.from_sql(query, ROLE_ARN)

    assert str(raised.value) == "query_string: must not be empty"


def test_a_seed_over_64_kib_fails_where_it_is_written() -> None:
    with pytest.raises(ValueError) as raised:
        SeedAudience.from_sql("SELECT 1 -- " + "x" * 65_536, ROLE_ARN)

    assert str(raised.value).startswith(
        "SeedAudience: must be at most 65536 bytes as JSON, got 65639: every CloudFormation "
        "request and the Provider framework's waiter carry it."
    )


def test_tokens_in_a_seed_weigh_nothing_at_synth() -> None:
    """Their size is known at deploy: the handler weighs them then."""
    stack = cdk.Stack(cdk.App(), "Jobs")
    value = cdk.Fn.import_value("LongValue")
    empty = {"RoleArn": ROLE_ARN, "SqlParameters": {"QueryString": "", "Parameters": {"v": ""}}}
    query = "x" * (65_536 - len(json.dumps(empty, separators=(",", ":"))))

    job(stack, seed_audience=SeedAudience.from_sql(query, ROLE_ARN, parameters={"v": value}))


def test_number_tokens_are_left_to_the_handler() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    workers = cdk.CfnParameter(stack, "Workers", type="Number").value_as_number
    wait = cdk.CfnParameter(stack, "WaitSeconds", type="Number").value_as_number
    compute = ComputeConfiguration(number=cast(int, workers))

    job(
        stack,
        seed_audience=SeedAudience.from_sql("SELECT 1", ROLE_ARN, compute=compute),
        wait_timeout=cdk.Duration.seconds(wait),
    )

    (properties,) = _job_properties(stack)
    assert properties["WaitTimeoutSeconds"] == {"Ref": "WaitSeconds"}
    worker = properties["SeedAudience"]["SqlComputeConfiguration"]["Worker"]
    assert worker == {"Number": {"Ref": "Workers"}}


def test_an_empty_name_is_no_name_as_to_the_handler() -> None:
    """The handler generates a name for an empty one: synth takes it, and leaves Name out."""
    stack = cdk.Stack(cdk.App(), "Jobs")
    job(stack, "First", name="")
    job(stack, "Second", name="")

    assert all("Name" not in properties for properties in _job_properties(stack))


def test_a_wait_timeout_of_part_seconds_fails_where_it_is_written() -> None:
    with pytest.raises(ValueError) as raised:
        job(cdk.Stack(cdk.App(), "Jobs"), wait_timeout=cdk.Duration.millis(1500))

    assert str(raised.value) == (
        "wait_timeout: must be 1 second to 12 hours, in whole seconds (CloudFormation's "
        "WaitCondition waits 12 hours at most; beyond 54 minutes the wait is one), got 1.5 "
        "seconds"
    )


def test_a_refused_job_leaves_nothing_in_the_handler_s_policy() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    other_model = MODEL.replace("model-1", "model-2")
    with pytest.raises(ValueError):
        job(stack, "Refused", configured_audience_model_arn=other_model, description="d" * 256)
    job(stack)

    assert "model-2" not in json.dumps(cdk.assertions.Template.from_stack(stack).to_json())


# ----------------------------------------------------------------- names pinned twice in an app

US = cdk.Environment(account="111122223333", region="us-east-1")


def test_a_name_pinned_twice_in_a_stack_fails_at_the_second_job() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs", env=US)
    job(stack, "First", name="lookalikes")

    with pytest.raises(ValueError) as raised:
        job(stack, "Second", name="lookalikes")

    assert str(raised.value) == (
        "name: must be unique per account and Region, got 'lookalikes', which Jobs/First pins "
        "too, in the same account and Region (account 111122223333, Region us-east-1); pin "
        "another name, or leave name out for a generated one"
    )


def test_a_name_pinned_in_two_stacks_of_one_environment_fails() -> None:
    app = cdk.App()
    job(cdk.Stack(app, "Jobs", env=US), name="lookalikes")

    with pytest.raises(ValueError, match=r"^name: .* which Jobs/Job pins too, in the same"):
        job(cdk.Stack(cdk.Stage(app, "Again"), "Jobs", env=US), name="lookalikes")


@pytest.mark.parametrize(
    ("environment", "where"),
    [
        (None, "environment-agnostic"),
        (
            cdk.Environment(account="111122223333", region=cdk.Aws.REGION),
            "account 111122223333, Region unknown until deploy",
        ),
    ],
    ids=["environment-agnostic", "token-region"],
)
def test_a_name_pinned_twice_where_the_environment_is_unknown_fails(
    environment: cdk.Environment | None, where: str
) -> None:
    """Stacks whose account or Region is a token count as one environment."""
    app = cdk.App()
    job(cdk.Stack(app, "First", env=environment), name="lookalikes")

    with pytest.raises(ValueError) as raised:
        job(cdk.Stack(app, "Second", env=environment), name="lookalikes")

    assert f"which First/Job pins too, in the same account and Region ({where}); " in str(
        raised.value
    )


@pytest.mark.parametrize(
    "other",
    [
        cdk.Environment(account="111122223333", region="eu-west-1"),
        cdk.Environment(account="444455556666", region="us-east-1"),
        None,
        cdk.Environment(account="111122223333", region=cdk.Aws.REGION),
    ],
    ids=["other-region", "other-account", "environment-agnostic", "token-region"],
)
def test_a_name_pinned_in_other_environments_is_fine(other: cdk.Environment | None) -> None:
    """Different concrete Regions or accounts; a concrete environment and an unknown one."""
    app = cdk.App()
    job(cdk.Stack(app, "Us", env=US), name="lookalikes")
    region = other.region if other is not None and other.region != cdk.Aws.REGION else None
    job(
        cdk.Stack(app, "Other", env=other),
        name="lookalikes",
        configured_audience_model_arn=MODEL.replace("us-east-1", region or "us-east-1"),
    )

    app.synth()


def test_a_name_in_two_apps_or_a_token_twice_is_fine() -> None:
    job(cdk.Stack(cdk.App(), "Jobs", env=US), name="lookalikes")
    stack = cdk.Stack(cdk.App(), "Jobs", env=US)
    job(stack, "First", name="lookalikes")
    name = cdk.Fn.import_value("JobName")

    job(stack, "Second", name=name)
    job(stack, "Third", name=name)


# --------------------------------------------------------------- the model's Region, the stack's


def test_a_model_of_another_region_than_the_stack_fails_where_it_is_written() -> None:
    model = MODEL.replace("us-east-1", "eu-west-1")

    with pytest.raises(ValueError) as raised:
        job(cdk.Stack(cdk.App(), "Jobs", env=US), configured_audience_model_arn=model)

    assert str(raised.value) == (
        "configured_audience_model_arn: must be a model in the stack's Region, us-east-1 (a job "
        "runs in its model's Region), got one in eu-west-1: "
        "'arn:aws:cleanrooms-ml:eu-west-1:111122223333:configured-audience-model/model-1'"
    )


def test_a_model_of_another_account_or_region_unknown_at_synth_is_fine() -> None:
    app = cdk.App()
    other_member = MODEL.replace("111122223333", "444455556666")
    job(cdk.Stack(app, "Us", env=US), configured_audience_model_arn=other_member)
    # An environment-agnostic stack, a token Region in the stack or in the ARN.
    job(cdk.Stack(app, "Agnostic"), configured_audience_model_arn=MODEL.replace("us", "eu"))
    job(
        cdk.Stack(app, "TokenRegion", env=cdk.Environment(region=cdk.Aws.REGION)),
        configured_audience_model_arn=MODEL.replace("us-east-1", "eu-west-1"),
    )
    job(
        cdk.Stack(app, "TokenInArn", env=US),
        configured_audience_model_arn=MODEL.replace("us-east-1", cdk.Fn.import_value("Region")),
    )

    app.synth()


# ----------------------------------------------------------------------- from_bucket's prefix


def test_a_prefix_with_a_leading_slash_fails_where_it_is_written() -> None:
    bucket = s3.Bucket.from_bucket_name(cdk.Stack(cdk.App(), "Jobs"), "Seeds", "seed-bucket")

    with pytest.raises(ValueError) as raised:
        SeedAudience.from_bucket(bucket, "/seed/", ROLE_ARN)

    assert str(raised.value) == (
        "prefix: must not start with '/' (the seed's URI would be s3://<bucket>//seed/), got "
        "'/seed/'; write 'seed/'"
    )


def test_a_prefix_without_a_trailing_slash_fails_where_it_is_written() -> None:
    """``seed`` would grant ``seed*``: ``seed-archive/`` too."""
    bucket = s3.Bucket.from_bucket_name(cdk.Stack(cdk.App(), "Jobs"), "Seeds", "seed-bucket")

    with pytest.raises(ValueError) as raised:
        SeedAudience.from_bucket(bucket, "seed", ROLE_ARN)

    assert str(raised.value) == (
        "prefix: must end with '/' (the role is granted read on 'seed*', which also covers keys "
        "such as 'seed-archive/...'), got 'seed'; write 'seed/'"
    )


def test_an_empty_prefix_is_the_whole_bucket_and_a_token_prefix_is_taken() -> None:
    stack = cdk.Stack(cdk.App(), "Jobs")
    bucket = s3.Bucket.from_bucket_name(stack, "Seeds", "seed-bucket")
    role = iam.Role(stack, "Seed", assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"))
    job(stack, "Whole", seed_audience=SeedAudience.from_bucket(bucket, "", role))
    prefix = cdk.Fn.import_value("SeedPrefix")
    job(stack, "Token", seed_audience=SeedAudience.from_bucket(bucket, prefix, role))

    whole, _ = _job_properties(stack)
    assert whole["SeedAudience"]["DataSource"] == {"S3Uri": "s3://seed-bucket/"}
    reads = json.dumps(cdk.assertions.Template.from_stack(stack).to_json())
    assert '"arn:", {"Ref": "AWS::Partition"}, ":s3:::seed-bucket/*"' in reads


def _job_properties(stack: cdk.Stack) -> list[dict[str, Any]]:
    template = cdk.assertions.Template.from_stack(stack)
    resources = template.find_resources("Custom::CleanRoomsMLAudienceGenerationJob").values()
    return [resource["Properties"] for resource in resources]
