"""A SQL seed's parameters from a Secrets Manager secret: only its ARN is in the template.

The handler reads the secret when it starts the job (GetSecretValue) and merges it with the plain
``parameters``; these tests read what the construct gives it: the template, the handler's policy,
the errors at the user's line, and what cdk-nag says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from constructs import Construct
from jsii._kernel.providers.process import ProcessProvider
from nag_harness import NAG2, nag3_violations
from test_checkers import ENVIRONMENTS, model_in

from cdk_cleanrooms_ml import AudienceGenerationJob, SeedAudience

ROOT = Path(__file__).resolve().parents[1]
RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
MODEL = "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/model-1"
ROLE_ARN = "arn:aws:iam::111122223333:role/seed-reader"
QUERY = "SELECT user_id FROM customers WHERE tier = :tier AND region = :region"
TEMPLATE_ARN = (
    "arn:aws:cleanrooms:us-east-1:111122223333:membership/"
    "11111111-2222-3333-4444-555555555555/analysistemplate/seed-template"
)
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:seed-parameters-AbCdEf"
SECRET_VALUE = "gold-7f3a9c"
"""What the secret holds for ``tier``: it must appear in no template of the job's stack."""
VERSION_ID = "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE"
READ = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]


def make_stack(app: cdk.App | None = None, id: str = "Jobs", **props: Any) -> cdk.Stack:
    return cdk.Stack(app or cdk.App(), id, **props)


def sql_job(
    scope: Construct, id: str = "Job", *, secret: secretsmanager.ISecret, **seed: Any
) -> AudienceGenerationJob:
    return AudienceGenerationJob(
        scope,
        id,
        configured_audience_model_arn=MODEL,
        seed_audience=SeedAudience.from_sql(QUERY, ROLE_ARN, parameters_secret=secret, **seed),
    )


def imported_secret(scope: Construct, id: str = "Parameters") -> secretsmanager.ISecret:
    """A secret made outside the app, holding ``{"tier": SECRET_VALUE}``."""
    return secretsmanager.Secret.from_secret_complete_arn(scope, id, SECRET_ARN)


def jobs(template: Template) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template.find_resources(RESOURCE_TYPE).values()]


def handler_statements(template: Template) -> list[dict[str, Any]]:
    """The statements of the handler's role, whose logical id starts with the provider's."""
    (policy,) = [
        resource
        for logical_id, resource in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("CleanRoomsMLJobProviderHandlerRole")
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def statements_naming(statements: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [s for s in statements if f'"{service}:' in json.dumps(s["Action"])]


def logical_id(construct: Construct) -> str:
    element = cast(cdk.CfnElement, construct.node.default_child)
    return cdk.Stack.of(construct).get_logical_id(element)


# ------------------------------------------------------------------------------- the template


def test_the_job_names_the_secret_by_its_arn_and_keeps_only_plain_parameters() -> None:
    stack = make_stack()
    sql_job(stack, secret=imported_secret(stack), parameters={"region": "eu"})

    (properties,) = jobs(Template.from_stack(stack))

    assert properties["SeedAudience"] == {
        "SqlParameters": {"QueryString": QUERY, "Parameters": {"region": "eu"}},
        "RoleArn": ROLE_ARN,
    }
    assert properties["SeedAudienceParametersSecretArn"] == SECRET_ARN
    assert "SeedAudienceParametersSecretVersion" not in properties, "AWSCURRENT, the handler's"


def test_without_plain_parameters_the_seed_has_no_parameters() -> None:
    stack = make_stack()
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=MODEL,
        seed_audience=SeedAudience.from_analysis_template(
            TEMPLATE_ARN,
            ROLE_ARN,
            parameters_secret=imported_secret(stack),
            parameters_secret_version=VERSION_ID,
        ),
    )

    (properties,) = jobs(Template.from_stack(stack))

    assert properties["SeedAudience"] == {
        "SqlParameters": {"AnalysisTemplateArn": TEMPLATE_ARN},
        "RoleArn": ROLE_ARN,
    }
    assert properties["SeedAudienceParametersSecretArn"] == SECRET_ARN
    assert properties["SeedAudienceParametersSecretVersion"] == VERSION_ID


def test_a_staging_label_is_the_version_as_given() -> None:
    stack = make_stack()
    sql_job(stack, secret=imported_secret(stack), parameters_secret_version="AWSPREVIOUS")

    (properties,) = jobs(Template.from_stack(stack))

    assert properties["SeedAudienceParametersSecretVersion"] == "AWSPREVIOUS"


def test_the_secret_s_values_are_in_no_template_of_the_job_s_stack() -> None:
    """The values live with the secret: here in a stack of their own, the job's names its ARN."""
    app = cdk.App()
    secrets = make_stack(app, "Secrets")
    secret = secretsmanager.Secret(
        secrets,
        "Parameters",
        secret_object_value={"tier": cdk.SecretValue.unsafe_plain_text(SECRET_VALUE)},
    )
    stack = make_stack(app)
    sql_job(stack, secret=secret, parameters={"region": "eu"})
    sql_job(stack, "Imported", secret=imported_secret(stack))

    assembly = app.synth()

    job_template = json.dumps(assembly.get_stack_by_name("Jobs").template)
    assert SECRET_VALUE not in job_template
    assert '"region": "eu"' in job_template, "plain parameters stay in the template"
    # The value is where the app put it: in the secret's own stack (see the README).
    assert SECRET_VALUE in json.dumps(assembly.get_stack_by_name("Secrets").template)
    arns = [p["SeedAudienceParametersSecretArn"] for p in jobs(Template.from_stack(stack))]
    assert arns[1] == SECRET_ARN
    assert list(arns[0]) == ["Fn::ImportValue"]


# ------------------------------------------------------------------------ the handler's policy


def test_the_handler_may_read_that_secret_only() -> None:
    stack = make_stack()
    sql_job(stack, secret=imported_secret(stack))

    statements = handler_statements(Template.from_stack(stack))

    (read,) = statements_naming(statements, "secretsmanager")
    assert sorted(read["Action"]) == sorted(READ)
    assert read["Resource"] == SECRET_ARN
    assert "Condition" not in read
    assert statements_naming(statements, "kms") == [], "the secret names no key of its own"


def test_a_customer_managed_key_lets_the_handler_decrypt_through_secrets_manager_only() -> None:
    stack = make_stack(env=ENVIRONMENTS["env-specific"])
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    secret = secretsmanager.Secret(stack, "Parameters", encryption_key=key)
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=model_in(ENVIRONMENTS["env-specific"]),
        seed_audience=SeedAudience.from_sql(QUERY, ROLE_ARN, parameters_secret=secret),
    )

    template = Template.from_stack(stack)
    statements = handler_statements(template)

    (read,) = statements_naming(statements, "secretsmanager")
    assert read["Resource"] == {"Ref": logical_id(secret)}
    (decrypt,) = statements_naming(statements, "kms")
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Resource"] == {"Fn::GetAtt": [logical_id(key), "Arn"]}
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    (properties,) = jobs(template)
    assert properties["SeedAudienceParametersSecretArn"] == {"Ref": logical_id(secret)}


def test_a_secret_imported_with_its_key_lets_the_handler_decrypt_with_that_key() -> None:
    stack = make_stack()
    key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    secret = secretsmanager.Secret.from_secret_attributes(
        stack,
        "Parameters",
        secret_complete_arn=SECRET_ARN,
        encryption_key=kms.Key.from_key_arn(stack, "Key", key_arn),
    )
    sql_job(stack, secret=secret)

    statements = handler_statements(Template.from_stack(stack))

    (read,) = statements_naming(statements, "secretsmanager")
    assert read["Resource"] == SECRET_ARN
    (decrypt,) = statements_naming(statements, "kms")
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", key_arn)
    assert list(decrypt["Condition"]["StringEquals"]) == ["kms:ViaService"]


def test_a_secret_imported_by_name_is_read_under_any_suffix() -> None:
    stack = make_stack()
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Parameters", "seed-parameters")
    sql_job(stack, secret=secret)

    (read,) = statements_naming(handler_statements(Template.from_stack(stack)), "secretsmanager")

    # Secrets Manager appends six characters to a secret's name in its ARN.
    assert json.dumps(read["Resource"]).endswith(':secret:seed-parameters-??????"]]}')


class CountingSecret(secretsmanager.Secret):
    """A secret that counts the grants made on it."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.grants = 0

    def grant_read(
        self, grantee: iam.IGrantable, version_stages: Sequence[str] | None = None
    ) -> iam.Grant:
        self.grants += 1
        return super().grant_read(grantee, version_stages)


def test_jobs_sharing_a_secret_grant_it_once() -> None:
    stack = make_stack()
    shared, other = CountingSecret(stack, "Shared"), CountingSecret(stack, "Other")
    for index in range(5):
        sql_job(stack, f"Job{index}", secret=shared, parameters_secret_version=f"v{index}")
    sql_job(stack, "WithOther", secret=other)

    reads = statements_naming(handler_statements(Template.from_stack(stack)), "secretsmanager")

    assert (shared.grants, other.grants) == (1, 1)
    assert [read["Resource"] for read in reads] == [
        {"Ref": logical_id(shared)},
        {"Ref": logical_id(other)},
    ]


def test_jobs_sharing_a_secret_of_another_stack_import_it_once_per_stack() -> None:
    app = cdk.App()
    secret = CountingSecret(make_stack(app, "Secrets"), "Parameters")
    first, second = make_stack(app, "First"), make_stack(app, "Second")
    for index in range(5):
        sql_job(first, f"Job{index}", secret=secret)
    sql_job(second, "Job", secret=secret)

    app.synth()

    assert secret.grants == 0, "granted on an import in each job's stack: no cycle"
    for stack in (first, second):
        provider = stack.node.find_child("CleanRoomsMLJobProvider")
        imports = [c for c in provider.node.children if c.node.id.startswith("ParametersSecret")]
        assert len(imports) == 1
        reads = statements_naming(handler_statements(Template.from_stack(stack)), "secretsmanager")
        assert [list(read["Resource"]) for read in reads] == [["Fn::ImportValue"]]


@contextmanager
def jsii_round_trips() -> Iterator[Counter[str]]:
    """Count the requests Python sends to the jsii kernel (see bench/profile_synth.py)."""
    counted: Counter[str] = Counter()
    kinds = ("create", "get", "set", "sget", "sset", "invoke", "sinvoke", "sync_complete")
    originals = {kind: getattr(ProcessProvider, kind) for kind in kinds}

    def counting(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def round_trip(provider: ProcessProvider, request: Any, *args: Any, **kw: Any) -> Any:
            counted[kind] += 1
            return method(provider, request, *args, **kw)

        return round_trip

    for kind, method in originals.items():
        setattr(ProcessProvider, kind, counting(kind, method))
    try:
        yield counted
    finally:
        for kind, method in originals.items():
            setattr(ProcessProvider, kind, method)


def test_a_job_with_a_shared_secret_costs_no_more_jsii_round_trips_than_one_without() -> None:
    """The secret's ARN is read and granted once per stack; further jobs make no call for it."""
    stack = make_stack()
    secret = secretsmanager.Secret(stack, "Parameters")
    seeds: dict[str, Callable[[], SeedAudience]] = {
        "plain": lambda: SeedAudience.from_sql(QUERY, ROLE_ARN, parameters={"tier": "gold"}),
        "secret": lambda: SeedAudience.from_sql(QUERY, ROLE_ARN, parameters_secret=secret),
    }
    for name, seed in seeds.items():  # the first of each pays for the stack's grants
        AudienceGenerationJob(
            stack, f"First-{name}", configured_audience_model_arn=MODEL, seed_audience=seed()
        )

    cost = {}
    for name, seed in seeds.items():
        with jsii_round_trips() as counted:
            for index in range(3):
                AudienceGenerationJob(
                    stack,
                    f"{name}{index}",
                    configured_audience_model_arn=MODEL,
                    seed_audience=seed(),
                )
        cost[name] = sum(counted.values())

    assert cost["secret"] == cost["plain"]


# --------------------------------------------------------------------------- across stacks


@pytest.mark.parametrize("with_key", [False, True], ids=["aws-managed-key", "customer-key"])
def test_a_secret_of_another_stack_makes_no_dependency_cycle(with_key: bool) -> None:
    app = cdk.App()
    env = ENVIRONMENTS["env-specific"]
    secrets = make_stack(app, "Secrets", env=env)
    key = kms.Key(secrets, "Key", enable_key_rotation=True) if with_key else None
    secret = secretsmanager.Secret(secrets, "Parameters", encryption_key=key)
    stack = make_stack(app, env=env)
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=model_in(env),
        seed_audience=SeedAudience.from_sql(QUERY, ROLE_ARN, parameters_secret=secret),
    )

    app.synth()  # raises on a cycle between the stacks

    assert [s.stack_name for s in stack.dependencies] == ["Secrets"]
    assert secrets.dependencies == []
    # The secret's stack names nothing of the job's: not the handler's role in a key policy.
    secrets_template = json.dumps(Template.from_stack(secrets).to_json())
    assert "CleanRoomsMLJobProvider" not in secrets_template
    statements = handler_statements(Template.from_stack(stack))
    (read,) = statements_naming(statements, "secretsmanager")
    assert list(read["Resource"]) == ["Fn::ImportValue"]
    decrypts = statements_naming(statements, "kms")
    assert len(decrypts) == (1 if with_key else 0)
    if decrypts:
        assert list(decrypts[0]["Resource"]) == ["Fn::ImportValue"]
        assert decrypts[0]["Condition"] == {
            "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
        }


def test_a_secret_of_the_job_s_stack_with_a_key_of_another_makes_no_dependency_cycle() -> None:
    app = cdk.App()
    keys = make_stack(app, "Keys")
    key = kms.Key(keys, "Key", enable_key_rotation=True)
    stack = make_stack(app)
    secret = secretsmanager.Secret(stack, "Parameters", encryption_key=key)
    sql_job(stack, secret=secret)

    app.synth()

    assert keys.dependencies == []
    assert "CleanRoomsMLJobProvider" not in json.dumps(Template.from_stack(keys).to_json())
    (read,) = statements_naming(handler_statements(Template.from_stack(stack)), "secretsmanager")
    assert read["Resource"] == {"Ref": logical_id(secret)}


# ------------------------------------------------------------------ errors at the user's line


def user_line(raised: pytest.ExceptionInfo[Exception]) -> str:
    """The statement of this file (the user's code) that raised: its innermost frame here.

    Raised in Python by that call, before any request reached Node (no JavaScript stack).
    """
    assert not [e for e in raised.traceback if "_kernel" in Path(e.path).parts]
    (*_, here) = [entry for entry in raised.traceback if Path(entry.path) == Path(__file__)]
    return str(here.statement).strip()


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            "AWS CURRENT",
            "parameters_secret_version: must be a Secrets Manager version id or staging label, "
            "1 to 256 characters with no white space, got 'AWS CURRENT'",
        ),
        ("", "parameters_secret_version: must be a Secrets Manager version id or staging label"),
        ("v" * 257, "parameters_secret_version: must be a Secrets Manager version id or"),
    ],
    ids=["white space", "empty", "257 characters"],
)
def test_a_malformed_version_fails_at_the_seed(version: str, message: str) -> None:
    secret = imported_secret(make_stack())

    with pytest.raises(ValueError) as raised:
        SeedAudience.from_sql(
            QUERY, ROLE_ARN, parameters_secret=secret, parameters_secret_version=version
        )

    assert str(raised.value).startswith(message)
    assert user_line(raised).startswith("SeedAudience.from_sql(")


def test_a_version_without_a_secret_fails_at_the_seed() -> None:
    with pytest.raises(ValueError) as raised:
        SeedAudience.from_analysis_template(
            TEMPLATE_ARN, ROLE_ARN, parameters_secret_version="AWSCURRENT"
        )

    assert str(raised.value) == (
        "parameters_secret_version: only applies with parameters_secret (the version of that "
        "secret to read), got 'AWSCURRENT' and no parameters_secret"
    )
    assert user_line(raised).startswith("SeedAudience.from_analysis_template(")


def test_a_secret_given_by_its_arn_is_a_type_error() -> None:
    with pytest.raises(TypeError) as raised:
        SeedAudience.from_sql(QUERY, ROLE_ARN, parameters_secret=SECRET_ARN)  # type: ignore[arg-type]

    assert str(raised.value) == (
        "type of argument parameters_secret must be one of "
        "(aws_cdk.aws_secretsmanager.ISecret, NoneType); got str instead"
    )
    assert user_line(raised).startswith("SeedAudience.from_sql(")


def test_a_secret_of_another_region_fails_at_the_job() -> None:
    stack = make_stack(env=cdk.Environment(account="111122223333", region="eu-west-1"))
    seed = SeedAudience.from_sql(QUERY, ROLE_ARN, parameters_secret=imported_secret(stack))

    with pytest.raises(ValueError) as raised:
        AudienceGenerationJob(
            stack,
            "Job",
            configured_audience_model_arn=MODEL.replace("us-east-1", "eu-west-1"),
            seed_audience=seed,
        )

    assert str(raised.value) == (
        "seed_audience.parameters_secret: must be a secret in the stack's Region, eu-west-1 "
        f"(the handler reads it there), got one in us-east-1: {SECRET_ARN!r}"
    )
    assert user_line(raised).startswith("AudienceGenerationJob(")
    assert (
        statements_naming(handler_statements(Template.from_stack(stack)), "secretsmanager") == []
    ), "a job that failed its checks grants nothing"


def test_a_token_version_is_left_to_the_handler() -> None:
    stack = make_stack()
    version = cdk.CfnParameter(stack, "Version").value_as_string
    sql_job(stack, secret=imported_secret(stack), parameters_secret_version=version)

    (properties,) = jobs(Template.from_stack(stack))

    assert properties["SeedAudienceParametersSecretVersion"] == {"Ref": "Version"}


# ------------------------------------------------------------------------------------ cdk-nag

SECRETS = ("imported", "in-the-stack", "of-another-stack", "by-name")
"""Where the secret comes from: by complete ARN, a ``Secret`` with a customer managed key in the
job's stack or in another, by name."""
ROTATION_REASON = "The app rotates this secret itself; the seed reads AWSCURRENT"


def acknowledge_rotation_3(secret: Construct) -> None:
    cdk.Validations.of(secret).acknowledge(
        cdk.Acknowledgment(id="AwsSolutions-SMG4", reason=ROTATION_REASON)
    )


def secret_jobs_stack(
    app: cdk.App,
    environment: str,
    secret_from: str,
    acknowledge_rotation: Callable[[Construct], None] = acknowledge_rotation_3,
) -> list[cdk.Stack]:
    """A stack with a job seeded with a SQL query and a parameters secret, and the stack of
    that secret if it is another.

    cdk-nag's AwsSolutions-SMG4 (no rotation) is about the app's own secret, not the job: the
    app acknowledges it with ``acknowledge_rotation``.
    """
    env = ENVIRONMENTS[environment]
    stack = cdk.Stack(app, f"Secret-{secret_from}-{environment}", env=env)
    stacks = [stack]
    secret: secretsmanager.ISecret
    if secret_from == "imported":
        arn = SECRET_ARN
        if env is not None and env.region is not None:
            arn = arn.replace("us-east-1", env.region)
        secret = secretsmanager.Secret.from_secret_complete_arn(stack, "Parameters", arn)
    elif secret_from == "by-name":
        secret = secretsmanager.Secret.from_secret_name_v2(stack, "Parameters", "seed-parameters")
    else:
        owner = stack
        if secret_from == "of-another-stack":
            owner = cdk.Stack(app, f"Secrets-{environment}", env=env)
            stacks.append(owner)
        key = kms.Key(owner, "Key", enable_key_rotation=True)
        secret = secretsmanager.Secret(owner, "Parameters", encryption_key=key)
        acknowledge_rotation(secret)
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=model_in(env),
        seed_audience=SeedAudience.from_sql(
            QUERY, ROLE_ARN, parameters={"region": "eu"}, parameters_secret=secret
        ),
    )
    return stacks


NAG_ENVIRONMENTS = ("env-agnostic", "env-specific")


@pytest.mark.parametrize("secret_from", SECRETS)
@pytest.mark.parametrize("environment", NAG_ENVIRONMENTS)
def test_cdk_nag_3_finds_nothing_to_acknowledge_with_a_parameters_secret(
    tmp_path: Path, environment: str, secret_from: str
) -> None:
    app = cdk.App(outdir=str(tmp_path))
    secret_jobs_stack(app, environment, secret_from)

    assert nag3_violations(app, tmp_path) == []


NAG2_SCRIPT = textwrap.dedent(
    """
    import json
    import aws_cdk as cdk, cdk_nag, importlib.metadata as meta
    from aws_cdk.assertions import Annotations, Match
    from test_seed_secret import NAG_ENVIRONMENTS, ROTATION_REASON, SECRETS, secret_jobs_stack
    assert meta.version("cdk-nag").startswith("2."), meta.version("cdk-nag")
    app = cdk.App()
    def acknowledge_rotation(secret):
        cdk_nag.NagSuppressions.add_resource_suppressions(
            secret, [cdk_nag.NagPackSuppression(id="AwsSolutions-SMG4", reason=ROTATION_REASON)]
        )
    stacks = {
        f"{environment}/{secret_from}": secret_jobs_stack(
            app, environment, secret_from, acknowledge_rotation
        )
        for environment in NAG_ENVIRONMENTS
        for secret_from in SECRETS
    }
    cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks())
    app.synth()
    pattern = Match.string_like_regexp("AwsSolutions-.*")
    findings = {}
    for case, made in stacks.items():
        found = [Annotations.from_stack(stack) for stack in made]
        findings[case] = [
            f"{finding.id} {finding.entry.data}"
            for annotations in found
            for finding in [
                *annotations.find_error("*", pattern),
                *annotations.find_warning("*", pattern),
            ]
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


@pytest.mark.parametrize("secret_from", SECRETS)
@pytest.mark.parametrize("environment", NAG_ENVIRONMENTS)
def test_cdk_nag_2_finds_nothing_to_acknowledge_with_a_parameters_secret(
    nag2_findings: dict[str, Any], environment: str, secret_from: str
) -> None:
    assert nag2_findings["version"].startswith("2.")
    assert nag2_findings["findings"][f"{environment}/{secret_from}"] == []
