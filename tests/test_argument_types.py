"""Wrong types fail at the user's own line, naming the argument, the expected and actual type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from cdk_cleanrooms_ml import (
    AudienceGenerationJob,
    AudienceGenerationJobProvider,
    ComputeConfiguration,
    SeedAudience,
)

MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
ROLE_ARN = "arn:aws:iam::111122223333:role/seed-reader"
JOB_ARN = "arn:aws:cleanrooms-ml:us-east-1:111122223333:audience-generation-job/abc"
SEED = SeedAudience.from_s3("s3://seed/prefix/", ROLE_ARN)
LIBRARY = Path(__file__).resolve().parents[1] / "constructs"


def job(**props: object) -> AudienceGenerationJob:
    stack = cdk.Stack(cdk.App(), "Jobs")
    arguments: dict[str, object] = {
        "configured_audience_model_arn": MODEL,
        "seed_audience": SEED,
        **props,
    }
    return AudienceGenerationJob(stack, "Job", **arguments)  # type: ignore[arg-type]


def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Jobs")


def role(scope: cdk.Stack) -> iam.Role:
    return iam.Role(scope, "Reader", assumed_by=iam.AccountRootPrincipal())


Call = Callable[[], object]
# Each wrong call is written as a user would (mypy would refuse most: hence the ignores).
CASES: list[tuple[str, Call, str]] = [
    # The cases of issue 10, as written there.
    (
        "name=123",
        lambda: job(name=123),
        "type of argument name must be one of (str, NoneType); got int instead",
    ),
    (
        'tags={"a": 1}',
        lambda: job(tags={"a": 1}),
        "type of argument tags['a'] must be str; got int instead",
    ),
    (
        "wait_timeout=600",
        lambda: job(wait_timeout=600),
        "type of argument wait_timeout must be one of (aws_cdk.Duration, NoneType); "
        "got int instead",
    ),
    (
        "role=42",
        lambda: SeedAudience.from_s3("s3://seed/prefix/", role=42),  # type: ignore[arg-type]
        "type of argument role must be one of (aws_cdk.aws_iam.IRole, str); got int instead",
    ),
    (
        'seed_audience="s3://..."',
        lambda: job(seed_audience="s3://seed/prefix/"),
        "type of argument seed_audience must be cdk_cleanrooms_ml.SeedAudience; got str instead",
    ),
    (
        "configured_audience_model_arn=None",
        lambda: job(configured_audience_model_arn=None),
        "type of argument configured_audience_model_arn must be str; got NoneType instead",
    ),
    # Every other public argument.
    (
        "scope=None",
        lambda: AudienceGenerationJob(
            None,  # type: ignore[arg-type]
            "Job",
            configured_audience_model_arn=MODEL,
            seed_audience=SEED,
        ),
        "type of argument scope must be constructs.Construct; got NoneType instead",
    ),
    (
        "id=1",
        lambda: AudienceGenerationJob(
            stack(),
            1,  # type: ignore[arg-type]
            configured_audience_model_arn=MODEL,
            seed_audience=SEED,
        ),
        "type of argument id must be str; got int instead",
    ),
    (
        "collaboration_id=1",
        lambda: job(collaboration_id=1),
        "type of argument collaboration_id must be one of (str, NoneType); got int instead",
    ),
    (
        "description=b'...'",
        lambda: job(description=b"bytes"),
        "type of argument description must be one of (str, NoneType); got bytes instead",
    ),
    (
        'include_seed_in_output="no"',
        lambda: job(include_seed_in_output="no"),
        "type of argument include_seed_in_output must be one of (bool, NoneType); got str instead",
    ),
    (
        'wait_for_completion="yes"',
        lambda: job(wait_for_completion="yes"),
        "type of argument wait_for_completion must be bool; got str instead",
    ),
    (
        'tags=["a"]',
        lambda: job(tags=["a"]),
        "type of argument tags must be one of (Mapping[str, str], NoneType); got list instead",
    ),
    (
        'removal_policy="RETAIN"',
        lambda: job(removal_policy="RETAIN"),
        "type of argument removal_policy must be aws_cdk.RemovalPolicy; got str instead",
    ),
    (
        "from_s3(s3_uri=None)",
        lambda: SeedAudience.from_s3(None, ROLE_ARN),  # type: ignore[arg-type]
        "type of argument s3_uri must be str; got NoneType instead",
    ),
    (
        'from_bucket(bucket="name")',
        lambda: SeedAudience.from_bucket("seed-bucket", "seed/", ROLE_ARN),  # type: ignore[arg-type]
        "type of argument bucket must be aws_cdk.aws_s3.IBucket; got str instead",
    ),
    (
        "from_bucket(prefix=None)",
        lambda: SeedAudience.from_bucket(
            s3.Bucket.from_bucket_name(stack(), "Seeds", "seed-bucket"),
            None,  # type: ignore[arg-type]
            ROLE_ARN,
        ),
        "type of argument prefix must be str; got NoneType instead",
    ),
    (
        "from_bucket(role=bucket)",
        lambda: SeedAudience.from_bucket(
            s3.Bucket.from_bucket_name(seeds := stack(), "Seeds", "seed-bucket"),
            "seed/",
            s3.Bucket.from_bucket_name(seeds, "NotARole", "other"),  # type: ignore[arg-type]
        ),
        "type of argument role must be one of (aws_cdk.aws_iam.IRole, str); got "
        "aws_cdk.aws_s3.BucketBase instead",
    ),
    (
        "from_sql(query_string=1)",
        lambda: SeedAudience.from_sql(1, ROLE_ARN),  # type: ignore[arg-type]
        "type of argument query_string must be str; got int instead",
    ),
    (
        'from_sql(parameters={"k": 1})',
        lambda: SeedAudience.from_sql("SELECT 1", ROLE_ARN, parameters={"k": 1}),  # type: ignore[dict-item]
        "type of argument parameters['k'] must be str; got int instead",
    ),
    (
        'from_sql(compute={"number": 2})',
        lambda: SeedAudience.from_sql("SELECT 1", ROLE_ARN, compute={"number": 2}),  # type: ignore[arg-type]
        "type of argument compute must be one of (cdk_cleanrooms_ml.ComputeConfiguration, "
        "NoneType); got dict instead",
    ),
    (
        "from_analysis_template(analysis_template_arn=1)",
        lambda: SeedAudience.from_analysis_template(1, ROLE_ARN),  # type: ignore[arg-type]
        "type of argument analysis_template_arn must be str; got int instead",
    ),
    (
        "ComputeConfiguration(worker_type=4)",
        lambda: ComputeConfiguration(worker_type=4),  # type: ignore[arg-type]
        "type of argument worker_type must be one of (cdk_cleanrooms_ml.WorkerComputeType, str, "
        "NoneType); got int instead",
    ),
    (
        'ComputeConfiguration(number="8")',
        lambda: ComputeConfiguration(number="8"),  # type: ignore[arg-type]
        "type of argument number must be one of (int, NoneType); got str instead",
    ),
    (
        "ComputeConfiguration(number=True)",
        lambda: ComputeConfiguration(number=True),
        "type of argument number must be one of (int, NoneType); got bool instead",
    ),
    (
        'ComputeConfiguration(spark_properties={"a": 1})',
        lambda: ComputeConfiguration(spark_properties={"a": 1}),  # type: ignore[dict-item]
        "type of argument spark_properties['a'] must be str; got int instead",
    ),
    (
        "from_audience_generation_job_arn(arn=None)",
        lambda: AudienceGenerationJob.from_audience_generation_job_arn(stack(), "I", None),  # type: ignore[arg-type]
        "type of argument audience_generation_job_arn must be str; got NoneType instead",
    ),
    (
        "from_audience_generation_job_attributes(name=1)",
        lambda: AudienceGenerationJob.from_audience_generation_job_attributes(
            stack(),
            "I",
            audience_generation_job_arn=JOB_ARN,
            audience_generation_job_name=1,  # type: ignore[arg-type]
        ),
        "type of argument audience_generation_job_name must be str; got int instead",
    ),
    (
        'grant("someone")',
        lambda: job().grant("someone", "cleanrooms-ml:GetAudienceGenerationJob"),  # type: ignore[arg-type]
        "type of argument grantee must be aws_cdk.aws_iam.IGrantable; got str instead",
    ),
    (
        "grant(role, 1)",
        lambda: (j := job()).grant(role(j.stack), 1),  # type: ignore[arg-type]
        "type of argument actions[0] must be str; got int instead",
    ),
    (
        "grant_read(None)",
        lambda: job().grant_read(None),  # type: ignore[arg-type]
        "type of argument grantee must be aws_cdk.aws_iam.IGrantable; got NoneType instead",
    ),
    (
        'apply_removal_policy("RETAIN")',
        lambda: job().apply_removal_policy("RETAIN"),  # type: ignore[arg-type]
        "type of argument policy must be aws_cdk.RemovalPolicy; got str instead",
    ),
    (
        'configure(memory_size="512")',
        lambda: AudienceGenerationJobProvider.configure(stack(), memory_size="512"),  # type: ignore[arg-type]
        "type of argument memory_size must be one of (int, NoneType); got str instead",
    ),
    (
        "configure(log_retention=30)",
        lambda: AudienceGenerationJobProvider.configure(stack(), log_retention=30),  # type: ignore[arg-type]
        "type of argument log_retention must be one of (aws_cdk.aws_logs.RetentionDays, "
        "NoneType); got int instead",
    ),
    (
        'configure(log_group_encryption_key="arn")',
        lambda: AudienceGenerationJobProvider.configure(
            stack(),
            log_group_encryption_key="arn:aws:kms:us-east-1:111122223333:key/k",  # type: ignore[arg-type]
        ),
        "type of argument log_group_encryption_key must be one of (aws_cdk.aws_kms.IKey, "
        "NoneType); got str instead",
    ),
    (
        'configure(permissions_boundary="name")',
        lambda: AudienceGenerationJobProvider.configure(stack(), permissions_boundary="b"),  # type: ignore[arg-type]
        "type of argument permissions_boundary must be one of (aws_cdk.aws_iam.IManagedPolicy, "
        "NoneType); got str instead",
    ),
    (
        "configure(role_path=1)",
        lambda: AudienceGenerationJobProvider.configure(stack(), role_path=1),  # type: ignore[arg-type]
        "type of argument role_path must be one of (str, NoneType); got int instead",
    ),
    (
        'configure(runtime="python3.12")',
        lambda: AudienceGenerationJobProvider.configure(stack(), runtime="python3.12"),  # type: ignore[arg-type]
        "type of argument runtime must be one of (aws_cdk.aws_lambda.Runtime, NoneType); got str "
        "instead",
    ),
    (
        'configure(architecture="arm64")',
        lambda: AudienceGenerationJobProvider.configure(stack(), architecture="arm64"),  # type: ignore[arg-type]
        "type of argument architecture must be one of (aws_cdk.aws_lambda.Architecture, "
        "NoneType); got str instead",
    ),
]


@pytest.mark.parametrize(
    ("call", "message"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_a_wrong_type_fails_at_the_call_naming_argument_and_types(call: Call, message: str) -> None:
    with pytest.raises(TypeError) as raised:
        call()

    assert str(raised.value).splitlines()[0] == message
    # Raised in Python, by this library, before any request reached Node: no JavaScript stack.
    frames = [Path(entry.path) for entry in raised.traceback]
    assert not [frame for frame in frames if "_kernel" in frame.parts], frames
    assert raised.value.__cause__ is None
    assert LIBRARY in frames[-1].parents


def test_a_wrong_worker_type_names_the_field_and_the_service_s_choices() -> None:
    with pytest.raises(ValueError) as raised:
        ComputeConfiguration(worker_type="CR.16X")

    assert str(raised.value) == "worker_type: must be one of CR.1X, CR.4X, CR.8X, got 'CR.16X'"


def test_right_types_pass_including_tokens_and_imported_objects() -> None:
    scope = stack()
    # A number token is a float to Python; the check takes it where an int is expected.
    number = cast(int, cdk.CfnParameter(scope, "Workers", type="Number").value_as_number)
    imported = iam.Role.from_role_arn(scope, "Imported", ROLE_ARN)

    seed = SeedAudience.from_sql(
        "SELECT 1", imported, compute=ComputeConfiguration(worker_type="CR.4X", number=number)
    )
    built = AudienceGenerationJob(
        scope,
        "Job",
        configured_audience_model_arn=cdk.Fn.import_value("ModelArn"),
        seed_audience=seed,
        wait_timeout=cdk.Duration.minutes(10),
    )
    built.grant_read(imported)
    built.grant(role(scope), "cleanrooms-ml:GetAudienceGenerationJob")
