"""``Custom::CleanRoomsMLAudienceExportJob``: StartAudienceExportJob, and the export it starts.

The API has Start and List only: no Get, no Delete, no tags, no ARN, no client token. The name
(unique per account) is the only handle:

- the physical id is ``<audience generation job ARN>|<name>`` (``handle``): the list, narrowed to
  the generation job, finds the export by it; its status and output location are what the list
  reports;
- a retried or redelivered Start meets ConflictException and adopts the export this request
  started: one with the request's members and the name this request generated, or, for a pinned
  name, one made after CloudFormation sent the request. Any other export of that name is an error
  naming ``Name``;
- a Delete removes nothing: the export and the files it wrote to S3 stay (the handler logs where).

Any change but the wait settings starts a new export (the engine replaces it); the old one stays.
It is created asynchronously (CREATE_PENDING, CREATE_IN_PROGRESS, then ACTIVE or CREATE_FAILED
with the service's status code and message).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..engine.kind import Kind, Operations
from ..engine.properties import InvalidPropertyError

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceExportJob"
MAX_PERCENTAGE = 100
"""A PERCENTAGE audience size is 1 to 100 (the AudienceSize documentation; not in the model)."""

_JOB_ARN = (
    r"arn:aws[-a-z]*:cleanrooms-ml:[-a-z0-9]+:[0-9]{12}:audience-generation-job/[-a-zA-Z0-9_/.]+"
)
_SEPARATOR = "|"
"""Between the generation job's ARN, which cannot hold it, and the name, which may."""
HANDLE_PATTERN = re.compile(rf"({_JOB_ARN})\|([^\x00-\x08\x0a-\x1f]{{1,63}})")


def _handle(export: Mapping[str, Any]) -> str:
    """The physical id of the export that a StartAudienceExportJob request or list summary is."""
    return f"{export['audienceGenerationJobArn']}{_SEPARATOR}{export['name']}"


def _identify(handle: str) -> dict[str, str]:
    job_arn, name = handle.split(_SEPARATOR, 1)
    return {"audienceGenerationJobArn": job_arn, "name": name}


def _rules(raw: Mapping[str, Any], skip: Callable[[Any], bool]) -> None:
    """A PERCENTAGE is 1 to 100."""
    size = raw.get("AudienceSize")
    if not isinstance(size, Mapping) or size.get("Type") != "PERCENTAGE":
        return
    value = size.get("Value")
    if skip(value) or not isinstance(value, (int, str)) or isinstance(value, bool):
        return
    try:
        number = int(value)
    except ValueError:
        return  # the converter names a value that is no number
    if number > MAX_PERCENTAGE:
        raise InvalidPropertyError(
            f"AudienceSize.Value: must be 1 to {MAX_PERCENTAGE} for a PERCENTAGE, got {value}"
        )


KIND = Kind(
    resource_type=RESOURCE_TYPE,
    noun="audience export job",
    made="started",
    service="cleanroomsml",
    operations=Operations(
        create="StartAudienceExportJob",
        get=None,
        list="ListAudienceExportJobs",
        delete=None,
    ),
    arn_member=None,
    list_member="audienceExportJobs",
    arn_pattern=HANDLE_PATTERN,
    attributes=lambda handle, name: {"Name": name},
    identify=_identify,
    handle=_handle,
    tagged=False,
    data=lambda export: {"OutputLocation": str(export.get("outputLocation") or "")},
    creating=frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"}),
    waits=True,
    rules=_rules,
    list_filter=lambda raw: (
        {"audienceGenerationJobArn": raw["AudienceGenerationJobArn"]}
        if isinstance(raw.get("AudienceGenerationJobArn"), str)
        else {}
    ),
)
