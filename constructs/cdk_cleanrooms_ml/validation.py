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
from collections import Counter
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
    _check(properties, _start_input_shape(), "")


def check_seed(seed: Mapping[str, Any]) -> None:
    """Check a ``SeedAudience`` property; the message names the ``SeedAudience.from_*`` argument."""
    _check(seed, _start_input_shape().members["seedAudience"], "SeedAudience")


def check_compute(compute: Mapping[str, Any]) -> None:
    """Check a ``SqlComputeConfiguration``; the message names the ``ComputeConfiguration`` field."""
    shape = _start_input_shape().members["seedAudience"].members["sqlComputeConfiguration"]
    _check(compute, shape, "SeedAudience.SqlComputeConfiguration")


def check_tags(tags: Mapping[str, str]) -> None:
    """Check the ``tags`` prop by itself, so that its mistakes fail at the user's own line."""
    problems = _tag_problems(tags)
    if problems:
        raise ValueError(problems[0])


def merged_tag_problems(
    tags: Mapping[str, str], *, own_tags: Mapping[str, str], stack_tags: Mapping[str, str]
) -> list[str]:
    """The handler's tag rules on a job's tags once ``Tags.of(...)`` has set them all.

    A message names the tag's key and where the tag came from: the ``tags`` prop, the stack's
    tags, or ``Tags.of(...)``.
    """

    def source(key: str) -> str:
        if own_tags.get(key) == tags[key]:
            return "the tags prop"
        if stack_tags.get(key) == tags[key]:
            return "the stack's tags"
        return "Tags.of(...)"

    problems = _tag_problems(tags, source)
    if problems and len(tags) >= _handler_rules().MAX_TAGS:
        counts = Counter(source(key) for key in tags)
        problems = [
            f"{problems[0]}: "
            + ", ".join(f"{count} from {where}" for where, count in sorted(counts.items()))
        ]
    return problems


_USER_NAMES = {
    "ConfiguredAudienceModelArn": "configured_audience_model_arn",
    "Name": "name",
    "CollaborationId": "collaboration_id",
    "Description": "description",
    "IncludeSeedInOutput": "include_seed_in_output",
    "Tags": "tags",
    "WaitForCompletion": "wait_for_completion",
    "WaitTimeoutSeconds": "wait_timeout",
    "SeedAudience": "seed_audience",
    "SeedAudience.RoleArn": "seed_audience.role",
    "SeedAudience.DataSource": "seed_audience.s3_uri",
    "SeedAudience.DataSource.S3Uri": "seed_audience.s3_uri",
    "SeedAudience.SqlParameters": "seed_audience",
    "SeedAudience.SqlParameters.QueryString": "seed_audience.query_string",
    "SeedAudience.SqlParameters.AnalysisTemplateArn": "seed_audience.analysis_template_arn",
    "SeedAudience.SqlParameters.Parameters": "seed_audience.parameters",
    "SeedAudience.SqlComputeConfiguration": "seed_audience.compute",
    "SeedAudience.SqlComputeConfiguration.Worker": "seed_audience.compute",
    "SeedAudience.SqlComputeConfiguration.Worker.Type": "seed_audience.compute.worker_type",
    "SeedAudience.SqlComputeConfiguration.Worker.Number": "seed_audience.compute.number",
    **dict.fromkeys(
        (
            "SeedAudience.SqlComputeConfiguration.Worker.Properties",
            "SeedAudience.SqlComputeConfiguration.Worker.Properties.Spark",
        ),
        "seed_audience.compute.spark_properties",
    ),
}
"""Template property paths (the handler's messages) -> the names the user wrote."""
_PATH = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*")


def user_message(message: str, template_prefix: str = "") -> str:
    """A handler message with the template path as the user's names, relative to where they are.

    ``SeedAudience.SqlComputeConfiguration.Worker.Number: must be 2 to 1024`` reads
    ``seed_audience.compute.number: ...`` on the job and ``compute.number: ...`` on the seed.
    """
    match = _PATH.match(message)
    if match is None:
        return message
    path = match.group()
    if template_prefix:
        path = f"{template_prefix}.{path}"
    known = path
    while known and known not in _USER_NAMES:
        known = known.rpartition(".")[0]
    if not known:
        return message
    name = _USER_NAMES[known]
    if template_prefix:
        name = name.removeprefix(_USER_NAMES[template_prefix]).removeprefix(".")
    return name + message[match.end() :]


def _check(value: Mapping[str, Any], shape: Any, template_prefix: str) -> None:
    try:
        _handler_rules().check_request(_as_request(value, shape), shape, is_unresolved)
    except ValueError as error:
        raise ValueError(user_message(str(error), template_prefix)) from None


def _tag_problems(tags: Mapping[str, str], source: Any = None) -> list[str]:
    """The handler's tag rules; a message names the tag's key (and with ``source``, its origin)."""
    rendered = [
        {"Key": key, "Value": value}
        for key, value in tags.items()
        if not (is_unresolved(key) or is_unresolved(value))
    ]
    try:
        _handler_rules().parse_tags(rendered)
    except ValueError as error:
        message = str(error)
        match = re.match(r"Tags\[(\d+)\](\.Key|\.Value)?", message)
        if match is None:
            return [user_message(message)]
        key = rendered[int(match.group(1))]["Key"]
        where = f"tags key {key!r}" if match.group(2) == ".Key" else f"tags[{key!r}]"
        if source is not None:
            where = f"{where} (from {source(key)})"
        return [where + message[match.end() :]]
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
