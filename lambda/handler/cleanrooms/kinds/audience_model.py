"""``Custom::CleanRoomsMLAudienceModel``: an audience model, trained on a training dataset.

There is no Update API: any change but tags and the wait settings trains a new model (the engine
replaces it). Created asynchronously (CREATE_PENDING, CREATE_IN_PROGRESS, then ACTIVE or
CREATE_FAILED with the service's status code and message) and deleted asynchronously. With
``WaitForCompletion`` the resource completes once training ended, within ``WaitTimeoutSeconds``
(inside the Provider framework's hour).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..engine.kind import Kind, Operations
from ..engine.properties import InvalidPropertyError

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceModel"
ARN_PATTERN = re.compile(
    r"arn:aws[-a-z]*:cleanrooms-ml:[-a-z0-9]+:[0-9]{12}:audience-model/[-a-zA-Z0-9_/.]+"
)


def _rules(raw: Mapping[str, Any], skip: Callable[[Any], bool]) -> None:
    """The training window, when both ends are given, runs forward."""
    start, end = raw.get("TrainingDataStartTime"), raw.get("TrainingDataEndTime")
    if not (isinstance(start, str) and isinstance(end, str)) or skip(start) or skip(end):
        return
    try:
        forward = _instant(start) < _instant(end)
    except (ValueError, TypeError):
        return  # the converter names a malformed one (or one without its offset)
    if not forward:
        raise InvalidPropertyError(
            f"TrainingDataEndTime: must be after TrainingDataStartTime ({start}), got {end}"
        )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))


KIND = Kind(
    resource_type=RESOURCE_TYPE,
    noun="audience model",
    service="cleanroomsml",
    operations=Operations(
        create="CreateAudienceModel",
        get="GetAudienceModel",
        list="ListAudienceModels",
        delete="DeleteAudienceModel",
    ),
    arn_member="audienceModelArn",
    list_member="audienceModels",
    arn_pattern=ARN_PATTERN,
    attributes=lambda arn, name: {"AudienceModelArn": arn, "Name": name},
    creating=frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"}),
    deleting=frozenset({"DELETE_PENDING", "DELETE_IN_PROGRESS"}),
    waits=True,
    rules=_rules,
)
