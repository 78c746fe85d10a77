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

from ..engine.kind import Kind, Operations
from ..engine.properties import InvalidPropertyError, optional_str, without_skipped

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"

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
    rules=_rules,
    list_filter=lambda raw: (
        {"configuredAudienceModelArn": raw["ConfiguredAudienceModelArn"]}
        if isinstance(raw.get("ConfiguredAudienceModelArn"), str)
        else {}
    ),
)
