"""``Custom::CleanRoomsMLAudienceGenerationJob``: StartAudienceGenerationJob, and the job it starts.

A job cannot be updated: any change but tags and the wait settings starts a new job (the engine
replaces it). It is created asynchronously (CREATE_PENDING, CREATE_IN_PROGRESS, then ACTIVE) and
deleted asynchronously. At most 10 jobs may be pending or in progress per account and Region: the
service answers ServiceQuotaExceededException past that, which the engine waits out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..engine.errors import HandlerError, failed, is_transient
from ..engine.kind import Api, Kind, Operations
from ..engine.properties import InvalidPropertyError, optional_str, without_skipped

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
PARAMETERS_FROM = "SeedAudienceParametersSecretArn"
"""A secret whose value, a JSON object of SQL parameter names to values, the handler merges into
``SeedAudience.SqlParameters.Parameters`` at run time: its values stay out of the template."""
PARAMETERS_VERSION = "SeedAudienceParametersSecretVersion"
"""The secret's version to read: a version id (32 to 64 characters), else a staging label.
Default: AWSCURRENT. A change starts a new job (it is part of the configuration digest)."""
_VERSION_ID = re.compile(r"[0-9A-Za-z-]{32,64}")

MAX_SEED_BYTES = 64 * 1024
"""``SeedAudience`` as JSON travels in every request: twice in an update, as the input of the
framework's waiter (at most 256 KiB) and in its error cause. Long queries belong in an analysis
template."""

ARN_PATTERN = re.compile(
    r"arn:aws[-a-z]*:cleanrooms-ml:[-a-z0-9]+:[0-9]{12}:audience-generation-job/[-a-zA-Z0-9_/.]+"
)


def check_seed_size(seed: Any, skip: Callable[[Any], bool]) -> None:
    """Refuse a ``SeedAudience`` above ``MAX_SEED_BYTES`` as JSON (see there why).

    Values for which ``skip`` is true count as empty: their size is known once they are resolved.
    """
    known = without_skipped(seed, skip)
    size = len(json.dumps(known, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_SEED_BYTES:
        raise InvalidPropertyError(
            f"SeedAudience: must be at most {MAX_SEED_BYTES} bytes as JSON, got {size}: every "
            "CloudFormation request and the Provider framework's waiter carry it. Keep a long "
            "query in a Clean Rooms analysis template (SeedAudience.from_analysis_template)."
        )


def _rules(raw: Mapping[str, Any], skip: Callable[[Any], bool]) -> None:
    """What the service model does not say of a seed: one source, compute for SQL only."""
    seed = raw.get("SeedAudience")
    check_seed_size(seed, skip)
    if not isinstance(seed, Mapping):
        return  # the converter names what is missing or wrong
    data_source, sql = seed.get("DataSource"), seed.get("SqlParameters")
    if (data_source is None) == (sql is None):
        raise InvalidPropertyError(
            "SeedAudience: exactly one of DataSource (an S3 seed) and SqlParameters (a SQL seed) "
            f"must be set, got {'both' if data_source is not None else 'neither'}"
        )
    if seed.get("SqlComputeConfiguration") is not None and sql is None:
        raise InvalidPropertyError(
            "SeedAudience.SqlComputeConfiguration: only applies to a SQL seed (SqlParameters)"
        )
    if raw.get(PARAMETERS_FROM) is not None and sql is None:
        raise InvalidPropertyError(f"{PARAMETERS_FROM}: only applies to a SQL seed (SqlParameters)")
    version = raw.get(PARAMETERS_VERSION)
    if version is not None and raw.get(PARAMETERS_FROM) is None:
        raise InvalidPropertyError(f"{PARAMETERS_VERSION}: only applies with {PARAMETERS_FROM}")
    if (
        version is not None
        and not skip(version)
        and (not isinstance(version, str) or not re.fullmatch(r"\S{1,256}", version))
    ):
        raise InvalidPropertyError(
            f"{PARAMETERS_VERSION}: must be a version id or a staging label (1 to 256 characters, "
            f"no white space), got {version!r}"
        )
    if isinstance(sql, Mapping):
        where = "SeedAudience.SqlParameters"
        query = optional_str(sql, "QueryString", prefix=f"{where}.")
        template = optional_str(sql, "AnalysisTemplateArn", prefix=f"{where}.")
        if (query is None) == (template is None):
            raise InvalidPropertyError(
                f"{where}: exactly one of QueryString and AnalysisTemplateArn must be set"
            )
        if query is not None and not skip(query) and not query.strip():
            raise InvalidPropertyError(f"{where}.QueryString: must not be empty")


def _resolve(
    api: Api, raw: Mapping[str, Any], request: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The Start request with the secret's parameters merged in (see ``PARAMETERS_FROM``)."""
    arn = raw.get(PARAMETERS_FROM)
    if not arn:
        return dict(request), []
    version = raw.get(PARAMETERS_VERSION)
    selector = {}
    if version:
        selector = {"VersionId" if _VERSION_ID.fullmatch(version) else "VersionStage": version}
    try:
        response = api.call("secretsmanager", "GetSecretValue", SecretId=arn, **selector)
    except ClientError as error:
        if is_transient(error):
            raise
        raise HandlerError(
            f"{PARAMETERS_FROM}: {failed('GetSecretValue', error, f'secret {arn}')}"
        ) from None
    parameters = _secret_parameters(response, arn)
    sensitive = [part for pair in parameters.items() for part in pair]
    seed = dict(request["seedAudience"])
    sql = dict(seed["sqlParameters"])
    plain = dict(sql.get("parameters") or {})
    if plain.keys() & parameters.keys():
        raise HandlerError(
            f"SeedAudience.SqlParameters.Parameters: a parameter is named both there and in "
            f"secret {arn} ({PARAMETERS_FROM}); name each parameter in one place only"
        )
    sql["parameters"] = {**plain, **parameters}
    seed["sqlParameters"] = sql
    return {**request, "seedAudience": seed}, sensitive


def _secret_parameters(response: Mapping[str, Any], arn: str) -> dict[str, str]:
    """The secret's JSON object of parameter names to values; errors name none of them."""
    rule = (
        f"{PARAMETERS_FROM}: secret {arn} must hold a JSON object of SQL parameter names to "
        "string values"
    )
    text = response.get("SecretString")
    if text is None:
        raise HandlerError(f"{rule}, as its SecretString; it holds a binary value")
    try:
        parameters = json.loads(text)
    except ValueError:
        raise HandlerError(f"{rule}; it holds text that is not JSON") from None
    if not isinstance(parameters, dict):
        raise HandlerError(f"{rule}; it holds a JSON {type(parameters).__name__}")
    if not all(isinstance(value, str) for value in parameters.values()):
        raise HandlerError(f"{rule}; a value is not a string")
    return parameters


KIND = Kind(
    resource_type=RESOURCE_TYPE,
    noun="job",
    made="started",
    service="cleanroomsml",
    operations=Operations(
        create="StartAudienceGenerationJob",
        get="GetAudienceGenerationJob",
        list="ListAudienceGenerationJobs",
        delete="DeleteAudienceGenerationJob",
    ),
    arn_member="audienceGenerationJobArn",
    list_member="audienceGenerationJobs",
    arn_pattern=ARN_PATTERN,
    attributes=lambda arn, name: {"AudienceGenerationJobArn": arn, "Name": name},
    creating=frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"}),
    deleting=frozenset({"DELETE_PENDING", "DELETE_IN_PROGRESS"}),
    waits=True,
    extra_properties=frozenset({PARAMETERS_FROM, PARAMETERS_VERSION}),
    rules=_rules,
    resolve=_resolve,
    list_filter=lambda raw: (
        {"configuredAudienceModelArn": raw["ConfiguredAudienceModelArn"]}
        if isinstance(raw.get("ConfiguredAudienceModelArn"), str)
        else {}
    ),
)
