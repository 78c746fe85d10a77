"""The handler's pure parts: property parsing and checks, tag diffs, names and ownership."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from cleanrooms.engine import identity
from cleanrooms.engine.properties import (
    OWNER_TAG_KEY,
    InvalidPropertyError,
    check_request,
    tag_changes,
)
from cleanrooms.kinds.audience_generation_job import KIND as JOB
from cleanrooms.kinds.audience_generation_job import MAX_SEED_BYTES
from job_rules import (
    check_known_properties,
    check_properties,
    configuration_digest,
    parse_properties,
    replaces_job,
)

MODEL = "arn:aws:cleanrooms-ml:us-east-1:123456789012:configured-audience-model/model-1"
ROLE = "arn:aws:iam::123456789012:role/seed-reader"
STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/Jobs/5b1f3f10-1111-2222-3333-444455556666"
)
START_SHAPE = (
    botocore.session.get_session()
    .get_service_model("cleanroomsml")
    .operation_model("StartAudienceGenerationJob")
    .input_shape
)


def raw(**overrides: Any) -> dict[str, Any]:
    """Properties exactly as CloudFormation delivers them: every scalar a string."""
    properties: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
        "ConfiguredAudienceModelArn": MODEL,
        "SeedAudience": {"DataSource": {"S3Uri": "s3://seed/prefix/"}, "RoleArn": ROLE},
        "WaitForCompletion": "true",
    }
    properties.update(overrides)
    return {key: value for key, value in properties.items() if value is not None}


def checked(properties: dict[str, Any], name: str = "job") -> dict[str, Any]:
    props = parse_properties(properties)
    request = props.create_request(name=name, tags=props.tags)
    check_request(request, START_SHAPE)
    return request


def test_strings_are_parsed_back_to_api_types() -> None:
    props = parse_properties(
        raw(
            IncludeSeedInOutput="false",
            WaitForCompletion="FALSE",
            WaitTimeoutSeconds="600",
            SeedAudience={
                "RoleArn": ROLE,
                "SqlParameters": {"QueryString": "SELECT 1", "Parameters": {"p": "v"}},
                "SqlComputeConfiguration": {
                    "Worker": {"Type": "CR.4X", "Number": "16", "Properties": {"Spark": {"a": "b"}}}
                },
            },
        )
    )

    assert props.request["includeSeedInOutput"] is False
    assert props.wait_for_completion is False
    assert props.wait_timeout_seconds == 600
    assert props.request["seedAudience"]["sqlComputeConfiguration"] == {
        "worker": {"type": "CR.4X", "number": 16, "properties": {"spark": {"a": "b"}}}
    }
    request = props.create_request(name="n", tags={})
    assert request["includeSeedInOutput"] is False
    assert "tags" not in request


def test_defaults_when_optional_properties_are_absent() -> None:
    props = parse_properties(raw(WaitForCompletion=None))

    assert props.wait_for_completion is True
    assert props.wait_timeout_seconds == 3000
    assert props.name is None
    assert props.create_request(name="n", tags={"k": "v"}) == {
        "name": "n",
        "configuredAudienceModelArn": MODEL,
        "seedAudience": {"dataSource": {"s3Uri": "s3://seed/prefix/"}, "roleArn": ROLE},
        "tags": {"k": "v"},
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"IncludeSeedInOutput": "yes"}, "IncludeSeedInOutput: must be true or false, got 'yes'"),
        ({"WaitForCompletion": "1"}, "WaitForCompletion: must be true or false, got '1'"),
        ({"WaitTimeoutSeconds": "ten"}, "WaitTimeoutSeconds: must be a whole number, got 'ten'"),
        ({"WaitTimeoutSeconds": "3600"}, "WaitTimeoutSeconds: must be 1 to 3240, got 3600"),
        ({"ConfiguredAudienceModelArn": None}, "ConfiguredAudienceModelArn: required"),
        ({"SeedAudience": None}, "SeedAudience: required"),
        (
            {"SeedAudience": {"RoleArn": ROLE}},
            "SeedAudience: exactly one of DataSource (an S3 seed) and SqlParameters",
        ),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "DataSource": {"S3Uri": "s3://a/"},
                    "SqlParameters": {"QueryString": "SELECT 1"},
                }
            },
            "got both",
        ),
        (
            {"SeedAudience": {"RoleArn": ROLE, "SqlParameters": {"QueryString": " "}}},
            "SeedAudience.SqlParameters.QueryString: must not be empty",
        ),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "DataSource": {"S3Uri": "s3://a/"},
                    "SqlComputeConfiguration": {"Worker": {}},
                }
            },
            "SeedAudience.SqlComputeConfiguration: only applies to a SQL seed",
        ),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "SqlParameters": {"QueryString": "SELECT 1"},
                    "SqlComputeConfiguration": {"Worker": {"Number": "many"}},
                }
            },
            "SeedAudience.SqlComputeConfiguration.Worker.Number: must be a whole number",
        ),
        ({"Tags": {"k": "v"}}, "Tags: must be a list of {Key, Value}, got dict"),
        (
            {"Tags": [{"Key": "aws:owner", "Value": "x"}]},
            "Tags[0].Key: the prefix 'aws:' is reserved",
        ),
        (
            {"Tags": [{"Key": "AWS:Owner", "Value": "x"}]},
            "Tags[0].Key: the prefix 'aws:' is reserved",
        ),
        (
            {"Tags": [{"Key": "k" * 129, "Value": "x"}]},
            "Tags[0].Key: must be 1 to 128 characters, got 129",
        ),
        (
            {"Tags": [{"Key": "k", "Value": "v" * 257}]},
            "Tags[0].Value: must be at most 256 characters",
        ),
        ({"Tags": [{"Key": OWNER_TAG_KEY, "Value": "x"}]}, "is set by the handler itself"),
        (
            {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]},
            "Tags[1].Key: duplicate tag key 'k'",
        ),
        (
            {"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(50)]},
            "Tags: at most 49 tags (Clean Rooms allows 50 per resource and the handler adds",
        ),
    ],
)
def test_unparseable_properties_name_the_property(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPropertyError) as error:
        parse_properties(raw(**overrides))

    assert message in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "name", "message"),
    [
        ({}, "n" * 64, "Name: must be 1 to 63 characters, got 64"),
        ({}, "   ", "Name: must match the pattern"),
        ({"ConfiguredAudienceModelArn": "arn:aws:s3:::bucket"}, "n", "ConfiguredAudienceModelArn"),
        (
            {
                "SeedAudience": {
                    "DataSource": {"S3Uri": "s3://b/"},
                    "RoleArn": "arn:aws:iam::123456789012:user/seed",
                }
            },
            "n",
            "SeedAudience.RoleArn: must match the pattern",
        ),
        (
            {"SeedAudience": {"DataSource": {"S3Uri": "https://b/"}, "RoleArn": ROLE}},
            "n",
            "SeedAudience.DataSource.S3Uri: must match the pattern s3://.+, got 'https://b/'",
        ),
        ({"CollaborationId": "not-a-uuid"}, "n", "CollaborationId: must be 36 characters"),
        ({"Description": "d" * 256}, "n", "Description: must be 0 to 255 characters, got 256"),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "SqlParameters": {"QueryString": "SELECT 1"},
                    "SqlComputeConfiguration": {"Worker": {"Type": "CR.2X"}},
                }
            },
            "n",
            "SeedAudience.SqlComputeConfiguration.Worker.Type: must be one of CR.1X, CR.4X, CR.8X",
        ),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "SqlParameters": {"QueryString": "SELECT 1"},
                    "SqlComputeConfiguration": {"Worker": {"Number": "1"}},
                }
            },
            "n",
            "SeedAudience.SqlComputeConfiguration.Worker.Number: must be 2 to 1024, got 1",
        ),
        (
            {"SeedAudience": {"RoleArn": ROLE, "SqlParameters": {"AnalysisTemplateArn": "arn:x"}}},
            "n",
            "SeedAudience.SqlParameters.AnalysisTemplateArn: must match the pattern",
        ),
    ],
)
def test_service_model_rules_name_the_property(
    overrides: dict[str, Any], name: str, message: str
) -> None:
    with pytest.raises(InvalidPropertyError) as error:
        checked(raw(**overrides), name=name)

    assert message in str(error.value)


def test_sensitive_values_and_parameter_names_stay_out_of_messages() -> None:
    secret = "TOP-SECRET-42"
    properties = raw(
        SeedAudience={
            "RoleArn": ROLE,
            "SqlParameters": {"QueryString": "SELECT 1", "Parameters": {"pname_secret": secret}},
        }
    )
    shape_with_a_pattern = _with_value_pattern(START_SHAPE, "[a-z]{1,3}")

    props = parse_properties(properties)
    with pytest.raises(InvalidPropertyError) as error:
        check_request(props.create_request(name="n", tags={}), shape_with_a_pattern)

    assert str(error.value) == (
        "SeedAudience.SqlParameters.Parameters[a sensitive key]: must match the pattern "
        "[a-z]{1,3}, got a sensitive value"
    )


def test_a_valid_request_passes_the_model() -> None:
    request = checked(
        raw(
            Name="spring",
            CollaborationId="11111111-2222-3333-4444-555555555555",
            Tags=[{"Key": "team", "Value": "ml"}],
        )
    )

    assert request["tags"] == {"team": "ml"}


def test_tag_changes_move_declared_tags_only() -> None:
    to_set, to_remove = tag_changes(
        {"keep": "1", "change": "old", "drop": "x"}, {"keep": "1", "change": "new", "add": "y"}
    )

    assert to_set == {"change": "new", "add": "y"}
    assert to_remove == ["drop"]
    assert tag_changes({"a": "1"}, {"a": "1"}) == ({}, [])


def test_only_job_defining_changes_replace_the_job() -> None:
    base = raw(Tags=[{"Key": "a", "Value": "1"}])

    assert not replaces_job(base, raw(Tags=[{"Key": "a", "Value": "2"}]))
    assert not replaces_job(base, raw(WaitForCompletion="false", WaitTimeoutSeconds="60"))
    assert not replaces_job(base, {**base, "ServiceToken": "arn:other"})
    assert replaces_job(base, raw(Description="new"))
    assert replaces_job(base, raw(Name="pinned"))


def test_configuration_digest_ignores_in_place_properties_and_differs_per_stack() -> None:
    first = configuration_digest(raw(Tags=[{"Key": "a", "Value": "1"}]), STACK_ID)

    assert first == configuration_digest(raw(WaitForCompletion="false"), STACK_ID)
    assert first != configuration_digest(raw(Description="d"), STACK_ID)
    assert first != configuration_digest(raw(), STACK_ID.replace("Jobs", "Other"))


def test_generated_names_are_stable_per_request_and_fit_the_limit() -> None:
    name = identity.generated_name(STACK_ID, "Lookalikes", "request-1")

    assert name == identity.generated_name(STACK_ID, "Lookalikes", "request-1")
    assert name != identity.generated_name(STACK_ID, "Lookalikes", "request-2")
    assert name.startswith("Jobs-Lookalikes-")
    long_name = identity.generated_name(STACK_ID.replace("Jobs", "S" * 128), "L" * 255, "r")
    assert len(long_name) == 63
    other_region = STACK_ID.replace("us-east-1", "eu-west-1")
    assert name != identity.generated_name(other_region, "Lookalikes", "request-1")


def test_ownership_tag_names_the_stack_resource() -> None:
    tags = identity.owner_tag(STACK_ID, "Lookalikes", "abc123", request_id="request-1")

    assert identity.ownership(tags).names(STACK_ID, "Lookalikes")
    assert not identity.ownership(tags).names(STACK_ID, "Other")
    assert not identity.ownership({}).names(STACK_ID, "Lookalikes")
    assert identity.ownership(tags).configuration == "abc123"
    assert len(tags[OWNER_TAG_KEY]) <= 256


def test_ownership_tag_records_the_request_and_what_it_replaced() -> None:
    old_arn = "arn:aws:cleanrooms-ml:us-east-1:123456789012:audience-generation-job/abc-1"
    created = identity.ownership(
        identity.owner_tag(STACK_ID, "Lookalikes", "abc123", request_id="request-1")
    )
    replacing = identity.ownership(
        identity.owner_tag(
            STACK_ID, "Lookalikes", "abc123", request_id="request-2", replaces=old_arn
        )
    )

    assert created.request == identity.request_digest("request-1") != replacing.request
    assert created.replaces == ""
    assert replacing.replaces == identity.replaced_digest(old_arn)
    # A tag written by 0.1.0 (owner and configuration only) still parses: it names no request.
    legacy = identity.ownership({OWNER_TAG_KEY: f"{created.owner}/abc123"})
    assert legacy.names(STACK_ID, "Lookalikes")
    assert (legacy.configuration, legacy.request, legacy.replaces) == ("abc123", "", "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"Descripton": "typo"},
            "Descripton: unknown property (did you mean Description?); known: "
            "CollaborationId, ConfiguredAudienceModelArn, Description, IncludeSeedInOutput, Name, "
            "SeedAudience, SeedAudienceParametersSecretArn, SeedAudienceParametersSecretVersion, "
            "ServiceToken, Tags, WaitConditionHandle, WaitForCompletion, WaitTimeoutSeconds",
        ),
        (
            {"SeedAudience": {"RoleArn": ROLE, "DataSource": {"S3URI": "s3://b/"}}},
            "SeedAudience.DataSource.S3URI: unknown property (did you mean S3Uri?); known: S3Uri",
        ),
        (
            {
                "SeedAudience": {
                    "RoleArn": ROLE,
                    "SqlParameters": {"QueryString": "SELECT 1"},
                    "SqlComputeConfiguration": {"Worker": {"Type": "CR.1X", "Count": "2"}},
                }
            },
            "SeedAudience.SqlComputeConfiguration.Worker.Count: unknown property",
        ),
    ],
)
def test_unknown_properties_are_refused_by_name(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPropertyError) as error:
        check_known_properties(raw(**overrides), START_SHAPE)

    assert str(error.value).startswith(message)


def test_known_properties_and_user_keys_of_maps_pass() -> None:
    check_known_properties(
        raw(
            Name="n",
            Tags=[{"Key": "team", "Value": "ml"}],
            WaitTimeoutSeconds="60",
            SeedAudience={
                "RoleArn": ROLE,
                "SqlParameters": {"QueryString": "SELECT 1", "Parameters": {"anyName": "v"}},
                "SqlComputeConfiguration": {
                    "Worker": {"Type": "CR.4X", "Number": "4", "Properties": {"Spark": {"k": "v"}}}
                },
            },
        ),
        START_SHAPE,
    )


def test_a_seed_above_the_size_limit_is_refused_with_the_alternative() -> None:
    query = "SELECT 1 -- " + "x" * MAX_SEED_BYTES
    seed = {"RoleArn": ROLE, "SqlParameters": {"QueryString": query}}

    with pytest.raises(InvalidPropertyError) as error:
        parse_properties(raw(SeedAudience=seed))

    message = str(error.value)
    assert message.startswith(f"SeedAudience: must be at most {MAX_SEED_BYTES} bytes as JSON")
    assert "from_analysis_template" in message
    assert "xxxx" not in message
    fits = {"RoleArn": ROLE, "SqlParameters": {"QueryString": query[: MAX_SEED_BYTES - 200]}}
    parse_properties(raw(SeedAudience=fits))


@pytest.mark.parametrize(
    ("physical_id", "is_arn", "name"),
    [
        ("arn:aws:cleanrooms-ml:us-east-1:123456789012:audience-generation-job/abc-1", True, None),
        ("AWSCDK::CustomResourceProviderFramework::CREATE_FAILED", False, None),
        ("6f1c1f4e-1111-2222-3333-444455556666", False, None),
        (identity.pending_id("Jobs-Lookalikes-abc"), False, "Jobs-Lookalikes-abc"),
        ("", False, None),
    ],
)
def test_physical_ids(physical_id: str, is_arn: bool, name: str | None) -> None:
    assert JOB.is_arn(physical_id) is is_arn
    assert identity.pending_name(physical_id) == name


def _with_value_pattern(shape: Any, pattern: str) -> Any:
    """A stand-in for ``shape`` whose SQL parameter values must match ``pattern``."""

    class Shape:
        def __init__(self, real: Any, path: tuple[str, ...]) -> None:
            self.type_name = real.type_name
            self.metadata = dict(real.metadata)
            self.enum = getattr(real, "enum", [])
            if path[-2:] == ("parameters", "value"):
                self.metadata["pattern"] = pattern
            if real.type_name == "structure":
                self.members = {k: Shape(v, (*path, k)) for k, v in real.members.items()}
            if real.type_name == "map":
                self.key = Shape(real.key, (*path, "key"))
                self.value = Shape(real.value, (*path, "value"))
            if real.type_name == "list":
                self.member = Shape(real.member, (*path, "member"))

    return Shape(shape, ("request",))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Descripton": "typo"}, "Descripton: unknown property (did you mean Description?)"),
        (
            {"SeedAudience": {"RoleArn": ROLE, "SqlParameters": {"QueryString": ""}}},
            "SeedAudience.SqlParameters.QueryString: must not be empty",
        ),
        ({"Name": "n" * 64}, "Name: must be 1 to 63 characters, got 64"),
        ({"IncludeSeedInOutput": "no"}, "IncludeSeedInOutput: must be true or false, got 'no'"),
    ],
)
def test_check_properties_makes_every_check_the_handler_makes_before_a_call(
    overrides: dict[str, Any], message: str
) -> None:
    """Unknown properties, parsing, the service model: what the construct runs at synth."""
    with pytest.raises(InvalidPropertyError) as error:
        check_properties(raw(**overrides), START_SHAPE)

    assert str(error.value).startswith(message)


def test_check_properties_checks_a_request_without_a_name_without_one() -> None:
    """The handler generates a name when there is none, or an empty one."""
    assert check_properties(raw(), START_SHAPE).name is None
    assert check_properties(raw(Name=""), START_SHAPE).name == ""


def test_skipped_values_are_neither_parsed_nor_checked() -> None:
    """The construct's unresolved tokens at synth: the handler checks their resolved values."""
    unresolved = "${Token[TOKEN.1]}"
    number = -1.8881545897087533e289

    def skip(value: Any) -> bool:
        return value == number or (isinstance(value, str) and unresolved in value)

    properties = raw(
        WaitTimeoutSeconds=number,
        Tags=unresolved,
        SeedAudience={
            "RoleArn": unresolved,
            "SqlParameters": {"QueryString": "x" * (MAX_SEED_BYTES - 200), "Parameters": {}},
            "SqlComputeConfiguration": {"Worker": {"Number": number}},
        },
    )
    properties["SeedAudience"]["SqlParameters"]["Parameters"]["p"] = unresolved * 20

    props = check_properties(properties, START_SHAPE, skip)

    assert props.wait_timeout_seconds == number
    assert props.tags == {}
    with pytest.raises(InvalidPropertyError, match=r"^SeedAudience: must be at most 65536 bytes"):
        check_properties(properties, START_SHAPE)
