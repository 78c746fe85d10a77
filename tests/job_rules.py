"""The handler's property rules as the job kind applies them, under the names tests call them by."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.session
from cleanrooms.engine import properties
from cleanrooms.engine.properties import Properties, never
from cleanrooms.kinds.audience_generation_job import KIND as JOB

START_SHAPE = (
    botocore.session.get_session()
    .get_service_model("cleanroomsml")
    .operation_model("StartAudienceGenerationJob")
    .input_shape
)


def parse_properties(raw: Mapping[str, Any], skip: Callable[[Any], bool] = never) -> Properties:
    return properties.parse(JOB, raw, START_SHAPE, skip)


def check_properties(
    raw: Mapping[str, Any], shape: Any, skip: Callable[[Any], bool] = never
) -> Properties:
    return properties.parse(JOB, raw, shape, skip)


def check_known_properties(raw: Mapping[str, Any], shape: Any) -> None:
    properties.check_known_properties(JOB, raw, shape)


def replaces_job(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return bool(properties.replacing_changes(JOB, old, new))


def configuration_digest(raw: Mapping[str, Any], stack_id: str) -> str:
    return properties.configuration_digest(JOB, raw, stack_id)
