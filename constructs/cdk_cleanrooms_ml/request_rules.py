"""The rules of Clean Rooms ML request members, read from the service model the handler ships.

The constructs check a value against its member's rules (length, pattern, enum, range, number of
items) where the user writes it, naming the argument as written, in the handler's words:
``name: must be 1 to 63 characters, got 64``. An unresolved token is skipped: the handler checks
its value at deploy time. botocore is imported on the first check only.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections.abc import Mapping
from typing import Any

from cdk_cleanrooms_ml.handler_asset import handler_asset_dir
from cdk_cleanrooms_ml.validation import is_unresolved

_MODEL = "models/cleanroomsml/2023-09-06/service-2.json.gz"


def check_member(value: Any, operation: str, member: str, name: str) -> None:
    """Raise ValueError, ``name: ...``, if ``value`` breaks the rules of ``operation``'s member.

    ``member`` is a dotted path in the request: ``outputConfig.destination.s3Destination.s3Uri``.
    """
    shape = _service().operation_model(operation).input_shape
    for part in member.split("."):
        shape = shape.members[part]
    _check(value, shape, name)


def _check(value: Any, shape: Any, name: str) -> None:
    if is_unresolved(value):
        return
    meta: Mapping[str, Any] = shape.metadata
    if shape.type_name == "list":
        _check_size(len(value), meta, name, "items")
        for index, item in enumerate(value):
            _check(item, shape.member, f"{name}[{index}]")
    elif shape.type_name == "string":
        _check_size(len(value), meta, name, "characters")
        if shape.enum and value not in shape.enum:
            raise ValueError(f"{name}: must be one of {', '.join(shape.enum)}, got {value!r}")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise ValueError(f"{name}: must match the pattern {pattern}, got {value!r}")
    elif shape.type_name in ("integer", "long"):
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{name}: must be {low} to {high}, got {value}")


def _check_size(size: int, meta: Mapping[str, Any], name: str, unit: str) -> None:
    low, high = meta.get("min", 0), meta.get("max")
    if size < low or (high is not None and size > high):
        bounds = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name}: must be {bounds} {unit}, got {size}")


@functools.cache
def _service() -> Any:
    import botocore.model

    with gzip.open(handler_asset_dir() / _MODEL) as model:
        return botocore.model.ServiceModel(json.load(model))
