"""Synth accepts exactly what the handler accepts, for every prop of the job and of its seed.

Values of every prop of ``AudienceGenerationJob``, of the ``SeedAudience`` factories and of
``ComputeConfiguration`` are generated, valid and invalid, of the right Python type (wrong types
are refused earlier, by argument_types), tokens among them. The test renders each job's properties
itself, as CloudFormation will deliver them (every scalar a string, a token resolved to a valid
value), and asks the handler's checks, in the handler's order (``index.on_create``: unknown
properties, parsing, then the Start request with a generated name and the ownership tag, against
the service model the handler ships). Synth accepts the job exactly when the handler does, but for
the rules about the app around a job, which the handler never sees and which are written out here:
the model's Region against the stack's, a name pinned twice, ``from_bucket``'s prefix, and the
removal policy (a template attribute, not a property). For every job synth accepts, the test's
rendering must be the construct's.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, cast

import aws_cdk as cdk
import botocore.model
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cleanrooms.engine import identity
from cleanrooms.engine.properties import InvalidPropertyError, check_request
from cleanrooms.kinds.audience_generation_job import MAX_SEED_BYTES
from cloudformation import STACK_ID, stringify
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from job_rules import check_known_properties, configuration_digest, parse_properties

from cdk_cleanrooms_ml import (
    AudienceGenerationJob,
    ComputeConfiguration,
    SeedAudience,
    WorkerComputeType,
)
from cdk_cleanrooms_ml.handler_asset import handler_asset_dir

ACCOUNT = "111122223333"
REGION = "us-east-1"
MODEL = f"arn:aws:cleanrooms-ml:{REGION}:{ACCOUNT}:configured-audience-model/model-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/seed-reader"
TEMPLATE_ARN = (
    f"arn:aws:cleanrooms:{REGION}:{ACCOUNT}:membership/"
    "11111111-2222-3333-4444-555555555555/analysistemplate/seed-template"
)
BUCKET_NAME = "seed-bucket"
ROLE_OBJECT = "<an iam.IRole of ROLE_ARN>"
"""Stands for a role object in generated props: its ARN is read when the seed is bound."""

with gzip.open(handler_asset_dir() / "models/cleanroomsml/2023-09-06/service-2.json.gz") as model:
    START = (
        botocore.model.ServiceModel(json.load(model))
        .operation_model("StartAudienceGenerationJob")
        .input_shape
    )

STAND_INS: dict[Any, Any] = {}
"""Each generated token, and the valid value it stands for once CloudFormation resolves it."""


def token(stands_for: str) -> str:
    value = cdk.Fn.import_value(f"Export{len(STAND_INS)}")
    STAND_INS[value] = stands_for
    return value


def number_token(stands_for: int) -> float:
    value = cdk.Token.as_number(cdk.Fn.import_value(f"Export{len(STAND_INS)}"))
    STAND_INS[value] = stands_for
    return value


def either(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(*strategies)


def text(max_size: int) -> st.SearchStrategy[str]:
    # CloudFormation delivers valid Unicode only: no lone surrogates.
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=max_size)


def many(count: st.SearchStrategy[int], value: str = "v") -> st.SearchStrategy[dict[str, str]]:
    """Maps of about a limit's size (hypothesis seldom makes them of its own accord)."""
    return count.map(lambda n: {f"k{i}": value for i in range(n)})


# Per prop, values the handler accepts (tokens among them), and values of any kind (valid ones
# too). A case takes every prop from the first but up to two: both outcomes stay common.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "model": either(
        st.just(MODEL),
        st.just(MODEL.replace(ACCOUNT, "444455556666")),  # another member's model
        st.just(token(MODEL)),
    ),
    "seed": st.sampled_from(["s3", "bucket", "sql", "template"]),
    "s3_uri": either(st.just("s3://seed/"), text(10).map("s3://x{}".format)),
    "prefix": either(st.sampled_from(["seed/", "", "a/b/"]), st.just(token("seed/"))),
    "query_string": either(st.just("SELECT 1"), st.just(token("SELECT 1"))),
    "analysis_template_arn": either(st.just(TEMPLATE_ARN), st.just(token(TEMPLATE_ARN))),
    "role": either(st.just(ROLE_ARN), st.just(ROLE_OBJECT), st.just(token(ROLE_ARN))),
    "parameters": either(
        st.none(),
        st.dictionaries(st.from_regex(r"[0-9a-zA-Z_]{1,5}", fullmatch=True), text(8), max_size=3),
        st.just({"p": token("v")}),
    ),
    "compute": st.booleans(),
    "worker_type": either(st.none(), st.sampled_from(WorkerComputeType), st.just("CR.4X")),
    "number": either(st.none(), st.integers(2, 1024), st.just(number_token(4))),
    "spark_properties": either(
        st.none(), st.dictionaries(text(6).filter(bool), text(6), max_size=3)
    ),
    "name": either(
        st.none(),
        st.uuids().map("audience {}".format),  # seldom twice
        st.just(token("resolved-name")),
    ),
    "collaboration_id": either(
        st.none(),
        st.uuids().map(str),
        st.just(token("11111111-2222-3333-4444-555555555555")),
    ),
    "description": either(
        st.none(),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), max_size=40),
        st.just(token("resolved")),
    ),
    "include_seed_in_output": either(st.none(), st.booleans()),
    "tags": either(
        st.none(),
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), text(6), max_size=3),
        st.just({"team": token("ml")}),
    ),
    "wait_for_completion": st.booleans(),
    "wait_timeout": either(
        st.none(),
        st.tuples(st.just("seconds"), st.integers(1, 3240)),
        st.tuples(st.just("minutes"), st.integers(1, 54)),
        st.just(("seconds", number_token(600))),
    ),
    "removal_policy": st.sampled_from([cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN]),
}
ANY: dict[str, st.SearchStrategy[Any]] = {
    "model": either(
        st.just(MODEL.replace(REGION, "eu-west-1")),
        st.from_regex(
            r"arn:aws[-a-z]{0,4}:cleanrooms-ml:[-a-z0-9]{1,12}:[0-9]{12}:"
            r"configured-audience-model/[-a-zA-Z0-9_/.]{1,20}",
            fullmatch=True,
        ),
        text(60),
    ),
    "s3_uri": text(12),
    "prefix": either(st.sampled_from(["/seed", "/seed/", "seed", "seed//"]), text(8)),
    "query_string": either(
        text(12),
        st.text(" \t\n", max_size=3),
        st.integers(65_400, 65_600).map(lambda n: "SELECT 1 -- " + "x" * n),
    ),
    "analysis_template_arn": text(20),
    "role": either(
        st.from_regex(r"arn:aws[-a-z]{0,3}:iam::[0-9]{12}:role/[a-z/]{1,8}", fullmatch=True),
        text(40),
    ),
    "parameters": either(
        st.dictionaries(text(4), text(4), max_size=2),
        st.integers(995, 1005).map(lambda n: {"p": "v" * n}),
    ),
    "worker_type": either(st.sampled_from(["CR.2X", "cr.4x"]), text(6)),
    "number": st.integers(-3, 1030),
    "spark_properties": either(
        st.dictionaries(text(6), text(6), max_size=3),
        many(st.integers(48, 52)),
        st.sampled_from([{"k" * 201: "v"}, {"k": "v" * 501}, {"k": token("v")}]),
    ),
    "name": either(
        text(70),
        st.from_regex(r"[a-z][-a-z0-9 ]{0,5}", fullmatch=True),
        st.sampled_from(["lookalikes", "spring"]),  # pinned twice
    ),
    "collaboration_id": either(st.uuids().map(lambda u: str(u).upper()), text(40)),
    "description": text(270),
    "tags": either(
        st.dictionaries(text(6), text(6), max_size=3),
        st.dictionaries(st.sampled_from(["aws:team", "AWS:x", "k" * 129, "k"]), text(3)),
        many(st.integers(47, 51)),
        st.just({"team": "v" * 257}),
    ),
    "wait_timeout": either(
        st.integers(0, 3300).map(lambda n: ("millis", n * 1000 + 500)),  # not whole seconds
        st.integers(0, 3300).map(lambda n: ("millis", n * 1000)),
        st.tuples(st.just("seconds"), st.integers(0, 3300)),
        st.tuples(st.just("minutes"), st.integers(0, 60)),
    ),
    "removal_policy": st.sampled_from(cdk.RemovalPolicy),
}


SEED_OF: dict[str, dict[str, Any]] = {
    "s3_uri": {"seed": "s3"},
    "prefix": {"seed": "bucket"},
    "query_string": {"seed": "sql"},
    "analysis_template_arn": {"seed": "template"},
    **{prop: {"compute": True} for prop in ("worker_type", "number", "spark_properties")},
}
"""The seed a prop needs to be rendered at all."""


def cases(free: str | None) -> st.SearchStrategy[dict[str, Any]]:
    """One job's props as plain values (``Jobs.build`` makes the CDK objects): prop ``free``, and
    maybe one more, of any kind; the others valid."""

    @st.composite
    def case(draw: st.DrawFn) -> dict[str, Any]:
        also = st.none() if free is None else st.one_of(st.none(), st.sampled_from(sorted(ANY)))
        any_kind = {prop for prop in (free, draw(also)) if prop is not None}
        case = {prop: draw(ANY[prop] if prop in any_kind else VALID[prop]) for prop in VALID}
        for prop in any_kind:
            case.update(SEED_OF.get(prop, {}))
        sql_only = {"parameters", "worker_type", "number", "spark_properties"}
        if case["seed"] in ("s3", "bucket") and sql_only & any_kind:
            case["seed"] = draw(st.sampled_from(["sql", "template"]))
        if len(case["query_string"]) > MAX_SEED_BYTES // 2:
            # Synth counts a token in the seed as empty when it weighs the seed (its value is
            # known at deploy), so a seed near the limit holds none here: no stand-in could
            # match that.
            case.update(role=ROLE_ARN, parameters=None, spark_properties=None)
        return case

    return case()


class Jobs:
    """Generated jobs, written as a user writes them, in one stack with a concrete Region."""

    def __init__(self) -> None:
        self.stack = cdk.Stack(
            cdk.App(), "Generated", env=cdk.Environment(account=ACCOUNT, region=REGION)
        )
        self.bucket = s3.Bucket.from_bucket_name(self.stack, "SeedBucket", BUCKET_NAME)
        self.role = iam.Role.from_role_arn(self.stack, "SeedRole", ROLE_ARN)
        self.ids: Iterator[int] = iter(range(1_000_000))

    def build(self, case: Mapping[str, Any]) -> AudienceGenerationJob:
        """Raises ValueError where synth refuses the job."""
        return AudienceGenerationJob(
            self.stack,
            f"Job{next(self.ids)}",
            configured_audience_model_arn=case["model"],
            seed_audience=self.seed(case),
            name=case["name"],
            collaboration_id=case["collaboration_id"],
            description=case["description"],
            include_seed_in_output=case["include_seed_in_output"],
            tags=case["tags"],
            wait_for_completion=case["wait_for_completion"],
            wait_timeout=duration(case["wait_timeout"]),
            removal_policy=case["removal_policy"],
        )

    def seed(self, case: Mapping[str, Any]) -> SeedAudience:
        role = self.role if case["role"] == ROLE_OBJECT else case["role"]
        if case["seed"] == "s3":
            return SeedAudience.from_s3(case["s3_uri"], role)
        if case["seed"] == "bucket":
            return SeedAudience.from_bucket(self.bucket, case["prefix"], role)
        compute = None
        if case["compute"]:
            compute = ComputeConfiguration(
                worker_type=case["worker_type"],
                number=case["number"],
                spark_properties=case["spark_properties"],
            )
        if case["seed"] == "sql":
            return SeedAudience.from_sql(
                case["query_string"], role, parameters=case["parameters"], compute=compute
            )
        return SeedAudience.from_analysis_template(
            case["analysis_template_arn"], role, parameters=case["parameters"], compute=compute
        )


def duration(wait_timeout: tuple[str, float] | None) -> cdk.Duration | None:
    if wait_timeout is None:
        return None
    unit, amount = wait_timeout
    make = {"seconds": cdk.Duration.seconds, "minutes": cdk.Duration.minutes}
    return make.get(unit, cdk.Duration.millis)(amount)


def rendered(case: Mapping[str, Any]) -> dict[str, Any]:
    """The job's properties as the template should carry them (tokens unresolved)."""
    properties: dict[str, Any] = {
        "ConfiguredAudienceModelArn": case["model"],
        "SeedAudience": rendered_seed(case),
        "WaitForCompletion": case["wait_for_completion"],
    }
    optional = {
        "Name": case["name"] or None,  # no name: the handler generates one
        "CollaborationId": case["collaboration_id"],
        "Description": case["description"],
        "IncludeSeedInOutput": case["include_seed_in_output"],
        "WaitTimeoutSeconds": seconds(case["wait_timeout"]),
    }
    properties.update({key: value for key, value in optional.items() if value is not None})
    if case["tags"]:
        tags = case["tags"]
        properties["Tags"] = [{"Key": key, "Value": tags[key]} for key in sorted(tags)]
    return properties


def rendered_seed(case: Mapping[str, Any]) -> dict[str, Any]:
    seed: dict[str, Any] = {"RoleArn": ROLE_ARN if case["role"] == ROLE_OBJECT else case["role"]}
    if case["seed"] == "s3":
        return {**seed, "DataSource": {"S3Uri": case["s3_uri"]}}
    if case["seed"] == "bucket":
        return {**seed, "DataSource": {"S3Uri": f"s3://{BUCKET_NAME}/{case['prefix']}"}}
    if case["seed"] == "sql":
        seed["SqlParameters"] = {"QueryString": case["query_string"]}
    else:
        seed["SqlParameters"] = {"AnalysisTemplateArn": case["analysis_template_arn"]}
    if case["parameters"] is not None:
        seed["SqlParameters"]["Parameters"] = case["parameters"]
    if case["compute"]:
        worker: dict[str, Any] = {}
        if case["worker_type"] is not None:
            worker["Type"] = getattr(case["worker_type"], "value", case["worker_type"])
        if case["number"] is not None:
            worker["Number"] = case["number"]
        if case["spark_properties"] is not None:
            worker["Properties"] = {"Spark": case["spark_properties"]}
        seed["SqlComputeConfiguration"] = {"Worker": worker}
    return seed


def seconds(wait_timeout: tuple[str, float] | None) -> float | None:
    if wait_timeout is None:
        return None
    unit, amount = wait_timeout
    if amount in STAND_INS:
        return amount
    value = amount * {"seconds": 1, "minutes": 60, "millis": 0.001}[unit]
    return int(value) if value == int(value) else value


def delivered(properties: Any) -> Any:
    """As CloudFormation delivers them: tokens resolved (to their stand-ins), scalars strings."""

    def resolve(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {resolve(key): resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if isinstance(value, (str, float)):
            return STAND_INS.get(value, value)
        return value

    return stringify(resolve(properties))


def in_order(properties: dict[str, Any]) -> dict[str, Any]:
    """Tags in one order (the handler takes them as a map)."""
    tags = sorted(properties.get("Tags", []), key=lambda tag: str(tag["Key"]))
    return {**properties, "Tags": tags}


def handler_accepts(raw: Mapping[str, Any]) -> bool:
    """What the handler checks of a Create's properties before it calls the service."""
    try:
        check_known_properties(raw, START)
        props = parse_properties(raw)
        name = props.name or identity.generated_name(STACK_ID, "Job", "request-1")
        owner = identity.owner_tag(
            STACK_ID, "Job", configuration_digest(raw, STACK_ID), request_id="request-1"
        )
        check_request(props.create_request(name=name, tags={**props.tags, **owner}), START)
    except InvalidPropertyError:
        return False
    return True


def app_rule_refusing(case: Mapping[str, Any], pinned: set[str]) -> str | None:
    """The prop whose rule about the app around a job refuses one the handler accepts, if any.

    In the order the construct checks them: the seed's at its factory, then the job's.
    """
    prefix = case["prefix"]
    bucket_prefix = case["seed"] == "bucket" and prefix and prefix not in STAND_INS
    if bucket_prefix and (prefix.startswith("/") or not prefix.endswith("/")):
        return "prefix"
    if case["removal_policy"] not in (cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN):
        return "removal_policy"
    if case["model"] not in STAND_INS and case["model"].split(":")[3] != REGION:
        return "configured_audience_model_arn"
    if case["name"] and case["name"] in pinned:
        return "name"
    return None


USER_NAME = re.compile(
    r"(configured_audience_model_arn|name|seed_audience|collaboration_id|description|tags"
    r"|wait_timeout"
    r"|removal_policy|prefix|s3_uri|role|query_string|analysis_template_arn|parameters"
    r"|worker_type|number|spark_properties|SeedAudience)\b"
)
"""What a refusal starts with: a name the user wrote (``SeedAudience`` for a seed too large)."""


def test_synth_accepts_exactly_what_the_handler_accepts() -> None:
    jobs = Jobs()
    pinned: set[str] = set()
    outcomes = {"accepted": 0, "refused": 0}

    def synth_matches_handler(case: dict[str, Any]) -> None:
        raw = delivered(rendered(case))
        handler_accepted = handler_accepts(raw)
        app_rule = app_rule_refusing(case, pinned) if handler_accepted else None
        try:
            job = jobs.build(case)
        except ValueError as error:
            assert not handler_accepted or app_rule, f"synth refused: {error}\n{raw}"
            assert app_rule is None or str(error).startswith(f"{app_rule}:"), error
            assert USER_NAME.match(str(error)), f"not a name the user wrote: {error}"
            outcomes["refused"] += 1
            return
        if case["name"] and case["name"] not in STAND_INS:
            pinned.add(case["name"])
        assert handler_accepted and app_rule is None, f"synth accepted: {raw} ({app_rule})"
        outcomes["accepted"] += 1
        resource = cast(cdk.CfnResource, job.node.default_child)
        actual = jobs.stack.resolve(resource._cfn_properties)
        del actual["ServiceToken"]
        assert in_order(actual) == in_order(jobs.stack.resolve(rendered(case)))

    # Each prop in turn takes values of any kind: every rule is met, whatever hypothesis favours.
    for free in [None, *sorted(ANY)]:

        @settings(
            max_examples=60 if free is None else 20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            derandomize=True,
            database=None,
        )
        @given(case=cases(free))
        def with_free_prop(case: dict[str, Any]) -> None:
            synth_matches_handler(case)

        with_free_prop()
    assert min(outcomes.values()) >= 100, outcomes
    # The app's own checks at synth (the tags once Tags.of has set them) pass every accepted job.
    cdk.assertions.Template.from_stack(jobs.stack)
