"""Synth-time checks, so that a mistake fails ``cdk synth`` in CI rather than a deploy an hour in.

They are the handler's own checks (``job_properties`` in the handler folder) against the service
model the handler ships (``models/``): synth refuses exactly what the handler would. Values that are
unresolved tokens are skipped; the handler checks them once CloudFormation has resolved them.
botocore is imported on the first check only, and the model is read once per process.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import re
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from cdk_cleanrooms_ml.handler_asset import handler_asset_dir

_MODEL = "models/cleanroomsml/2023-09-06/service-2.json.gz"
# How CDK encodes a token in a string, a list and a number (see aws-cdk-lib's encoding.ts).
_TOKEN_MARKER = re.compile(r"\$\{Token\[|#\{Token\[")
_NUMBER_TOKEN_MAGNITUDE = 1e280


def is_unresolved(value: Any) -> bool:
    """Whether ``value`` is (or holds, in a string) a CDK token, told without a call into jsii."""
    if isinstance(value, str):
        return _TOKEN_MARKER.search(value) is not None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value) >= _NUMBER_TOKEN_MAGNITUDE
    return not isinstance(value, (Mapping, list, bool, type(None)))


def check_job(properties: Mapping[str, Any]) -> None:
    """Check a job's properties (PascalCase, as rendered); raise ValueError naming the prop."""
    shape = _start_input_shape()
    request = _as_request(properties, shape)
    try:
        _handler_rules().check_request(request, shape, is_unresolved)
    except ValueError as error:
        raise ValueError(_prop_name(str(error))) from None


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """The handler's tag rules (reserved ``aws:`` prefix, lengths, at most 49 plus its own tag)."""
    rendered = [
        {"Key": key, "Value": value}
        for key, value in tags.items()
        if not (is_unresolved(key) or is_unresolved(value))
    ]
    try:
        _handler_rules().parse_tags(rendered)
    except ValueError as error:
        return [_prop_name(str(error))]
    return []


def _as_request(value: Any, shape: Any) -> Any:
    """PascalCase template properties as API members (map keys, which are the user's, stay)."""
    if shape.type_name != "structure" or not isinstance(value, Mapping):
        return value
    request = {}
    for member, member_shape in shape.members.items():
        pascal = member[:1].upper() + member[1:]
        if pascal in value:
            request[member] = _as_request(value[pascal], member_shape)
    return request


def _prop_name(message: str) -> str:
    """``SeedAudience.RoleArn: ...`` -> ``seed_audience.RoleArn: ...``: the construct's prop."""
    match = re.match(r"[A-Z][A-Za-z0-9]*", message)
    if match is None:
        return message
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", match.group()).lower()
    return snake + message[match.end() :]


@functools.cache
def _handler_rules() -> ModuleType:
    path = handler_asset_dir() / "job_properties.py"
    spec = importlib.util.spec_from_file_location("_cdk_cleanrooms_ml_job_properties", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the handler's checks from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def _start_input_shape() -> Any:
    import botocore.model

    with gzip.open(handler_asset_dir() / _MODEL) as model:
        service = botocore.model.ServiceModel(json.load(model))
    return service.operation_model("StartAudienceGenerationJob").input_shape
