"""Turn the custom resource's properties, as CloudFormation delivers them, into API requests.

CloudFormation passes every scalar as a string ("true", "4"), so each value is parsed back to the
type the Clean Rooms ML API wants. Lengths, patterns, ranges and enums are then checked against the
service model botocore ships (``check_request``), and the rules the model does not carry (one seed
source, reserved tag keys, the tag count) are checked here. Everything is checked before any API
call, and every message names the property as it stands in the template (``SeedAudience.RoleArn``).

``check_properties`` runs all of it, and is what the construct runs at synth too: the one converter
from template properties to an API request.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TAGS = 50
"""Clean Rooms ML allows 50 user tags per resource; the handler's ownership tag counts too."""

OWNER_TAG_KEY = "cdk-cleanrooms-ml:owner"
"""Tag the handler puts on each job it starts: which stack resource owns it, from what props."""

DEFAULT_WAIT_TIMEOUT_SECONDS = 3000
MAX_WAIT_TIMEOUT_SECONDS = 3240
"""The Provider framework gives up after 55 minutes; the handler must fail (with the ARN) first."""
DELETE_TIMEOUT_SECONDS = MAX_WAIT_TIMEOUT_SECONDS
"""How long a Delete (and a waiter's removal of a job no request awaits) may wait for the service,
whatever ``WaitTimeoutSeconds`` says: a job may take minutes to leave CREATE_PENDING."""

MAX_SEED_BYTES = 64 * 1024
"""``SeedAudience`` as JSON travels in every request: twice in an update, as the input of the
framework's waiter (at most 256 KiB) and in its error cause. Long queries belong in an analysis
template."""

# Properties that steer the handler and are no API member.
_HANDLER_PROPERTIES = frozenset({"ServiceToken", "WaitForCompletion", "WaitTimeoutSeconds"})

# Properties that only steer the handler: changing them never replaces the job.
_IN_PLACE_PROPERTIES = frozenset(
    {"ServiceToken", "Tags", "WaitForCompletion", "WaitTimeoutSeconds"}
)

JOB_ARN_PATTERN = re.compile(
    r"arn:aws[-a-z]*:cleanrooms-ml:[-a-z0-9]+:[0-9]{12}:audience-generation-job/[-a-zA-Z0-9_/.]+"
)


def _never(_: Any) -> bool:
    """The handler's ``skip``: CloudFormation has resolved every value it delivers."""
    return False


class InvalidPropertyError(ValueError):
    """A property that the handler refuses before calling the service."""


@dataclass(frozen=True)
class JobProperties:
    """The parsed properties of one ``Custom::CleanRoomsMLAudienceGenerationJob``."""

    configured_audience_model_arn: str
    seed_audience: dict[str, Any]
    name: str | None = None
    collaboration_id: str | None = None
    description: str | None = None
    include_seed_in_output: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    wait_for_completion: bool = True
    wait_timeout_seconds: int = DEFAULT_WAIT_TIMEOUT_SECONDS

    def start_request(self, *, name: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """The keyword arguments of StartAudienceGenerationJob."""
        request: dict[str, Any] = {
            "name": name,
            "configuredAudienceModelArn": self.configured_audience_model_arn,
            "seedAudience": self.seed_audience,
        }
        optional = {
            "collaborationId": self.collaboration_id,
            "description": self.description,
            "includeSeedInOutput": self.include_seed_in_output,
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        if tags:
            request["tags"] = dict(tags)
        return request


def check_known_properties(raw: Mapping[str, Any], shape: Any) -> None:
    """Refuse a property that neither the API (input ``shape``) nor the handler knows.

    A misspelt property would otherwise be ignored, and a later change to it replace the job.
    """
    _check_known(raw, shape, "", _HANDLER_PROPERTIES)


def check_seed_size(seed: Any, skip: Callable[[Any], bool] = _never) -> None:
    """Refuse a ``SeedAudience`` above ``MAX_SEED_BYTES`` as JSON (see there why).

    Values for which ``skip`` is true count as empty: their size is known once they are resolved.
    """
    known = _without_skipped(seed, skip)
    size = len(json.dumps(known, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_SEED_BYTES:
        raise InvalidPropertyError(
            f"SeedAudience: must be at most {MAX_SEED_BYTES} bytes as JSON, got {size}: every "
            "CloudFormation request and the Provider framework's waiter carry it. Keep a long "
            "query in a Clean Rooms analysis template (SeedAudience.from_analysis_template)."
        )


def check_properties(
    raw: Mapping[str, Any], shape: Any, skip: Callable[[Any], bool] = _never
) -> JobProperties:
    """Every check the handler makes of ``ResourceProperties`` before it calls the service.

    Unknown properties, then parsing, then the service model's rules (input ``shape``) on the
    Start request. Without a ``Name`` (absent or empty) the request is checked without one: the
    handler generates a valid name. Values for which ``skip`` is true (the construct's unresolved
    tokens, at synth) are neither parsed nor checked.
    """
    check_known_properties(raw, shape)
    props = parse_properties(raw, skip)
    request = props.start_request(name=props.name or "", tags=props.tags)
    if not props.name:
        del request["name"]
    check_request(request, shape, skip)
    return props


def parse_properties(raw: Mapping[str, Any], skip: Callable[[Any], bool] = _never) -> JobProperties:
    """Parse ``ResourceProperties``; raise InvalidPropertyError naming the property.

    Values for which ``skip`` is true are taken as they are (see ``check_properties``).
    """
    check_seed_size(raw.get("SeedAudience"), skip)
    wait_timeout = _optional_int(raw, "WaitTimeoutSeconds", skip=skip)
    if (
        wait_timeout is not None
        and not skip(wait_timeout)
        and not 1 <= wait_timeout <= MAX_WAIT_TIMEOUT_SECONDS
    ):
        raise InvalidPropertyError(
            f"WaitTimeoutSeconds: must be 1 to {MAX_WAIT_TIMEOUT_SECONDS}, got {wait_timeout}"
        )
    wait_for_completion = _optional_bool(raw, "WaitForCompletion")
    return JobProperties(
        configured_audience_model_arn=_str(raw, "ConfiguredAudienceModelArn"),
        seed_audience=_seed_audience(raw.get("SeedAudience"), skip),
        name=_optional_str(raw, "Name"),
        collaboration_id=_optional_str(raw, "CollaborationId"),
        description=_optional_str(raw, "Description"),
        include_seed_in_output=_optional_bool(raw, "IncludeSeedInOutput"),
        tags=parse_tags(raw.get("Tags"), skip),
        wait_for_completion=True if wait_for_completion is None else wait_for_completion,
        wait_timeout_seconds=wait_timeout or DEFAULT_WAIT_TIMEOUT_SECONDS,
    )


def parse_tags(raw: Any, skip: Callable[[Any], bool] = _never) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` as a dict, checked against Clean Rooms ML's tag rules.

    Tags for which ``skip`` is true (all of them, unresolved) count as none.
    """
    if raw is None or skip(raw):
        return {}
    if not isinstance(raw, list):
        raise InvalidPropertyError(f"Tags: must be a list of {{Key, Value}}, got {_kind(raw)}")
    tags: dict[str, str] = {}
    for index, item in enumerate(raw):
        where = f"Tags[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("Key"), str):
            raise InvalidPropertyError(f"{where}: must be an object with a string Key")
        key, value = item["Key"], item.get("Value", "")
        if not isinstance(value, str):
            raise InvalidPropertyError(f"{where}.Value: must be a string, got {_kind(value)}")
        if not 1 <= len(key) <= 128:
            raise InvalidPropertyError(f"{where}.Key: must be 1 to 128 characters, got {len(key)}")
        if len(value) > 256:
            raise InvalidPropertyError(
                f"{where}.Value: must be at most 256 characters, got {len(value)}"
            )
        if key.lower().startswith("aws:"):
            raise InvalidPropertyError(
                f"{where}.Key: the prefix 'aws:' is reserved for AWS, got {key!r}"
            )
        if key == OWNER_TAG_KEY:
            raise InvalidPropertyError(
                f"{where}.Key: {OWNER_TAG_KEY!r} is set by the handler itself, not by the template"
            )
        if key in tags:
            raise InvalidPropertyError(f"{where}.Key: duplicate tag key {key!r}")
        tags[key] = value
    if len(tags) > MAX_TAGS - 1:
        raise InvalidPropertyError(
            f"Tags: at most {MAX_TAGS - 1} tags (Clean Rooms ML allows {MAX_TAGS} per job and the "
            f"handler adds {OWNER_TAG_KEY!r}), got {len(tags)}"
        )
    return tags


def tag_changes(
    current: Mapping[str, str], desired: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The TagResource and UntagResource arguments that turn ``current`` into ``desired``.

    Both sides are tags the template declared: a tag the job got elsewhere (from its configured
    audience model, or by hand) is left alone unless the template once declared it.
    """
    to_set = {key: value for key, value in desired.items() if current.get(key) != value}
    to_remove = sorted(key for key in current if key not in desired)
    return to_set, to_remove


def check_request(
    request: Mapping[str, Any], shape: Any, skip: Callable[[Any], bool] = _never
) -> None:
    """Check an API request against the botocore input ``shape`` of its operation.

    botocore's own client-side validation checks types and minimums only; this adds maximums,
    patterns and enums, and names the template property rather than the API member. Values for
    which ``skip`` is true (the construct's unresolved tokens) are not checked.
    """
    _check_value(request, shape, "", skip)


def replaces_job(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether going from ``old`` to ``new`` properties needs a new job (the API has no update)."""
    return bool(job_defining_changes(old, new))


def job_defining_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The properties whose change needs a new job, sorted."""
    before, after = _job_defining(old), _job_defining(new)
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def configuration_digest(raw: Mapping[str, Any], stack_id: str) -> str:
    """A short digest of the properties that define a job (so a rollback can recognise its job).

    Salted with the stack id so that the digest of a short SQL parameter cannot be looked up in a
    table made for another stack.
    """
    canonical = json.dumps(_job_defining(raw), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{stack_id}\n{canonical}".encode()).hexdigest()[:20]


def _job_defining(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if key not in _IN_PLACE_PROPERTIES}


def _without_skipped(value: Any, skip: Callable[[Any], bool]) -> Any:
    if skip(value):
        return ""
    if isinstance(value, Mapping):
        return {
            "" if skip(key) else key: _without_skipped(item, skip) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_skipped(item, skip) for item in value]
    return value


def _check_known(value: Any, shape: Any, path: str, extra: frozenset[str] = frozenset()) -> None:
    if shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _check_known(item, shape.member, f"{path}[{index}]")
    if shape.type_name != "structure" or not isinstance(value, Mapping):
        return
    members = {_pascal(member): member_shape for member, member_shape in shape.members.items()}
    for key, item in value.items():
        if key in extra:
            continue
        if key not in members:
            known = sorted({*members, *extra})
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InvalidPropertyError(
                f"{_join(path, str(key))}: unknown property{hint}; known: {', '.join(known)}"
            )
        _check_known(item, members[key], _join(path, key))


def _check_value(
    value: Any, shape: Any, path: str, skip: Callable[[Any], bool], sensitive: bool = False
) -> None:
    if skip(value):
        return
    meta = shape.metadata
    sensitive = sensitive or bool(meta.get("sensitive"))
    shown = "a sensitive value" if sensitive else repr(value)
    if shape.type_name == "structure":
        for member, member_shape in shape.members.items():
            if member in value:
                _check_value(value[member], member_shape, _join(path, member), skip, sensitive)
    elif shape.type_name == "map":
        _check_range(len(value), meta, path, "entries")
        for key, item in value.items():
            # A sensitive map's keys are sensitive too (SQL parameter names): never in a message.
            where = f"{path}[a sensitive key]" if sensitive else f"{path}[{key!r}]"
            _check_value(key, shape.key, f"{path} key", skip, sensitive)
            _check_value(item, shape.value, where, skip, sensitive)
    elif shape.type_name == "list":
        _check_range(len(value), meta, path, "items")
        for index, item in enumerate(value):
            _check_value(item, shape.member, f"{path}[{index}]", skip, sensitive)
    elif shape.type_name == "string":
        _check_range(len(value), meta, path, "characters")
        if shape.enum and value not in shape.enum:
            raise InvalidPropertyError(
                f"{path}: must be one of {', '.join(shape.enum)}, got {shown}"
            )
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise InvalidPropertyError(f"{path}: must match the pattern {pattern}, got {shown}")
    elif shape.type_name in ("integer", "long") and (
        value < meta.get("min", value) or value > meta.get("max", value)
    ):
        low, high = meta.get("min", "-inf"), meta.get("max", "inf")
        raise InvalidPropertyError(f"{path}: must be {low} to {high}, got {shown}")


def _check_range(size: int, meta: Mapping[str, Any], path: str, unit: str) -> None:
    low, high = meta.get("min", 0), meta.get("max")
    if size < low or (high is not None and size > high):
        bounds = f"{low} to {high}" if high is not None else f"at least {low}"
        raise InvalidPropertyError(f"{path}: must be {bounds} {unit}, got {size}")


def _join(path: str, member: str) -> str:
    """``seedAudience`` + ``roleArn`` -> ``SeedAudience.RoleArn``: the template's spelling."""
    pascal = _pascal(member)
    return f"{path}.{pascal}" if path else pascal


def _pascal(member: str) -> str:
    return member[:1].upper() + member[1:]


def _seed_audience(raw: Any, skip: Callable[[Any], bool]) -> dict[str, Any]:
    seed_raw = _object(raw, "SeedAudience")
    seed: dict[str, Any] = {"roleArn": _str(seed_raw, "RoleArn", prefix="SeedAudience.")}
    data_source = seed_raw.get("DataSource")
    sql = seed_raw.get("SqlParameters")
    if (data_source is None) == (sql is None):
        raise InvalidPropertyError(
            "SeedAudience: exactly one of DataSource (an S3 seed) and SqlParameters (a SQL seed) "
            f"must be set, got {'both' if data_source is not None else 'neither'}"
        )
    if data_source is not None:
        source = _object(data_source, "SeedAudience.DataSource")
        seed["dataSource"] = {"s3Uri": _str(source, "S3Uri", prefix="SeedAudience.DataSource.")}
    if sql is not None:
        seed["sqlParameters"] = _sql_parameters(_object(sql, "SeedAudience.SqlParameters"))
    compute = seed_raw.get("SqlComputeConfiguration")
    if compute is not None:
        if sql is None:
            raise InvalidPropertyError(
                "SeedAudience.SqlComputeConfiguration: only applies to a SQL seed (SqlParameters)"
            )
        seed["sqlComputeConfiguration"] = _compute(
            _object(compute, "SeedAudience.SqlComputeConfiguration"), skip
        )
    return seed


def _sql_parameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    where = "SeedAudience.SqlParameters"
    query = _optional_str(raw, "QueryString", prefix=f"{where}.")
    template = _optional_str(raw, "AnalysisTemplateArn", prefix=f"{where}.")
    if (query is None) == (template is None):
        raise InvalidPropertyError(
            f"{where}: exactly one of QueryString and AnalysisTemplateArn must be set"
        )
    sql: dict[str, Any] = {}
    if query is not None:
        if not query.strip():
            raise InvalidPropertyError(f"{where}.QueryString: must not be empty")
        sql["queryString"] = query
    if template is not None:
        sql["analysisTemplateArn"] = template
    parameters = raw.get("Parameters")
    if parameters is not None:
        # Values stay out of the message: the service model marks them sensitive.
        if not isinstance(parameters, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in parameters.items()
        ):
            raise InvalidPropertyError(f"{where}.Parameters: must map strings to strings")
        sql["parameters"] = dict(parameters)
    return sql


def _compute(raw: Mapping[str, Any], skip: Callable[[Any], bool]) -> dict[str, Any]:
    where = "SeedAudience.SqlComputeConfiguration.Worker"
    worker = _object(raw.get("Worker"), where)
    parsed: dict[str, Any] = {}
    worker_type = _optional_str(worker, "Type", prefix=f"{where}.")
    if worker_type is not None:
        parsed["type"] = worker_type
    number = _optional_int(worker, "Number", prefix=f"{where}.", skip=skip)
    if number is not None:
        parsed["number"] = number
    properties = worker.get("Properties")
    if properties is not None:
        spark_raw = _object(properties, f"{where}.Properties").get("Spark")
        spark = _object(spark_raw, f"{where}.Properties.Spark")
        parsed["properties"] = {"spark": {str(key): str(value) for key, value in spark.items()}}
    return {"worker": parsed}


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPropertyError(f"{where}: must be an object, got {_kind(value)}")
    return value


def _str(raw: Mapping[str, Any], key: str, *, prefix: str = "") -> str:
    value = _optional_str(raw, key, prefix=prefix)
    if value is None:
        raise InvalidPropertyError(f"{prefix}{key}: required")
    return value


def _optional_str(raw: Mapping[str, Any], key: str, *, prefix: str = "") -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidPropertyError(f"{prefix}{key}: must be a string, got {_kind(value)}")


def _optional_bool(raw: Mapping[str, Any], key: str, *, prefix: str = "") -> bool | None:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidPropertyError(f"{prefix}{key}: must be true or false, got {value!r}")


def _optional_int(
    raw: Mapping[str, Any], key: str, *, prefix: str = "", skip: Callable[[Any], bool] = _never
) -> int | None:
    value = raw.get(key)
    if value is None or skip(value) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,9}\s*", value):
        return int(value)
    raise InvalidPropertyError(f"{prefix}{key}: must be a whole number, got {value!r}")


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
