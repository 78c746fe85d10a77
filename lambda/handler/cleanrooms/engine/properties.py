"""The one converter from a custom resource's template properties to an API request.

CloudFormation passes every scalar as a string ("true", "4"), so each value is converted back to
the type the service model gives its member; the PascalCase template names become the model's
camelCase members. Lengths, patterns, ranges and enums are then checked against the service model
(``check_request``), and a kind's own rules (what the model does not carry) run too. Everything is
checked before any API call, and every message names the property as it stands in the template
(``SeedAudience.RoleArn``), never a value the model marks sensitive.

``parse`` runs all of it, in the handler and, through ``cdk_cleanrooms_ml.validation``, at synth:
synth refuses exactly what the handler would. This module imports nothing but the standard library
and ``limits``, so the construct library can load it without boto3.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import limits
from .kind import Kind

OWNER_TAG_KEY = "cdk-cleanrooms-ml:owner"
"""Tag the handler puts on each resource it creates: which stack resource owns it, from what."""

HANDLER_PROPERTIES = frozenset({"ServiceToken"})
"""Properties every custom resource has that are no API member."""
WAIT_PROPERTIES = frozenset({"WaitForCompletion", "WaitTimeoutSeconds", "WaitConditionHandle"})
"""Properties that steer the wait of a kind that ``waits``. ``WaitConditionHandle`` (the URL of a
WaitCondition's handle) hands the wait for ACTIVE to a long wait (``long_wait``)."""


def never(_: Any) -> bool:
    """The handler's ``skip``: CloudFormation has resolved every value it delivers."""
    return False


class InvalidPropertyError(ValueError):
    """A property that the handler refuses before calling the service."""


@dataclass(frozen=True)
class Properties:
    """The parsed properties of one custom resource of any kind."""

    request: dict[str, Any]
    """The create request's members from the template, without ``name`` and ``tags``."""
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    wait_for_completion: bool = False
    wait_timeout_seconds: int = limits.DEFAULT_WAIT_TIMEOUT_SECONDS
    name_member: str = "name"
    wait_condition_handle: str | None = None
    """Where a long wait signals the end of the wait (a WaitCondition's handle URL), if any."""

    def create_request(self, *, name: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """The keyword arguments of the kind's create operation."""
        request = {self.name_member: name, **self.request}
        if tags:
            request["tags"] = dict(tags)
        return request

    @property
    def wait(self) -> int:
        """Seconds the custom resource waits for ACTIVE after a create: 0 without
        WaitForCompletion, or when a long wait does (``wait_condition_handle``)."""
        if not self.wait_for_completion or self.wait_condition_handle:
            return 0
        return self.wait_timeout_seconds

    @property
    def request_timeout_seconds(self) -> int:
        """How long one request may take, to create the resource (a quota may be full) and to
        wait for ACTIVE: ``WaitTimeoutSeconds``, at most what the Provider framework allows."""
        return min(self.wait_timeout_seconds, limits.MAX_WAIT_TIMEOUT_SECONDS)


def parse(
    kind: Kind, raw: Mapping[str, Any], shape: Any, skip: Callable[[Any], bool] = never
) -> Properties:
    """Every check the handler makes of ``ResourceProperties`` before it calls the service.

    Unknown properties, the kind's own rules, conversion, then the service model's rules
    (the create operation's input ``shape``) on the request. Without a ``Name`` (absent or empty)
    the request is checked without one: the handler generates a valid name. Values for which
    ``skip`` is true (the construct's unresolved tokens, at synth) are neither converted nor
    checked.
    """
    check_known_properties(kind, raw, shape)
    if kind.rules is not None:
        kind.rules(raw, skip)
    wait_for_completion, wait_timeout = True, limits.DEFAULT_WAIT_TIMEOUT_SECONDS
    handle: str | None = None
    if kind.waits:
        wait_for_completion, wait_timeout, handle = _wait(raw, skip)
    api_members = {
        key: value
        for key, value in raw.items()
        if key not in _steering(kind) and key not in (kind.name_property, "Tags")
    }
    request = _convert(api_members, shape, "", skip, top=True, name=kind.name_member)
    name = optional_str(raw, kind.name_property)
    props = Properties(
        request=request,
        name=name,
        tags=parse_tags(raw.get("Tags"), skip),
        wait_for_completion=kind.waits and wait_for_completion,
        wait_timeout_seconds=wait_timeout,
        name_member=kind.name_member,
        wait_condition_handle=handle if kind.waits and wait_for_completion else None,
    )
    checked = props.create_request(name=name or "", tags=props.tags)
    if not name:
        del checked[kind.name_member]
    check_request(checked, shape, skip)
    return props


def check_known_properties(kind: Kind, raw: Mapping[str, Any], shape: Any) -> None:
    """Refuse a property that neither the API (input ``shape``) nor the handler knows.

    A misspelt property would otherwise be ignored, and a later change to it replace the resource.
    """
    _check_known(raw, shape, "", _steering(kind))


def parse_tags(raw: Any, skip: Callable[[Any], bool] = never) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` as a dict, checked against Clean Rooms' tag rules.

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
        if not 1 <= len(key) <= limits.MAX_TAG_KEY_LENGTH:
            raise InvalidPropertyError(
                f"{where}.Key: must be 1 to {limits.MAX_TAG_KEY_LENGTH} characters, got {len(key)}"
            )
        if len(value) > limits.MAX_TAG_VALUE_LENGTH:
            raise InvalidPropertyError(
                f"{where}.Value: must be at most {limits.MAX_TAG_VALUE_LENGTH} characters, "
                f"got {len(value)}"
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
    if len(tags) > limits.MAX_TAGS - 1:
        raise InvalidPropertyError(
            f"Tags: at most {limits.MAX_TAGS - 1} tags (Clean Rooms allows {limits.MAX_TAGS} per "
            f"resource and the handler adds {OWNER_TAG_KEY!r}), got {len(tags)}"
        )
    return tags


def declared_tags(raw: Mapping[str, Any]) -> dict[str, str]:
    """The tags ``raw`` declares; none if they do not parse (an earlier release's properties)."""
    try:
        return parse_tags(raw.get("Tags"))
    except InvalidPropertyError:
        return {}


def tag_changes(
    current: Mapping[str, str], desired: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The TagResource and UntagResource arguments that turn ``current`` into ``desired``.

    Both sides are tags the template declared: a tag the resource got elsewhere (a job from its
    configured audience model, or by hand) is left alone unless the template once declared it.
    """
    to_set = {key: value for key, value in desired.items() if current.get(key) != value}
    to_remove = sorted(key for key in current if key not in desired)
    return to_set, to_remove


def check_request(
    request: Mapping[str, Any], shape: Any, skip: Callable[[Any], bool] = never
) -> None:
    """Check an API request against the botocore input ``shape`` of its operation.

    botocore's own client-side validation checks types and minimums only; this adds maximums,
    patterns and enums, and names the template property rather than the API member. Values for
    which ``skip`` is true (the construct's unresolved tokens) are not checked.
    """
    _check_value(request, shape, "", skip)


def replacing_changes(kind: Kind, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The properties whose change needs a new resource, sorted.

    Removing an in-place API member is one: an update operation can change a member, not unset it.
    """
    before, after = _defining(kind, old), _defining(kind, new)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    return sorted(changed | set(unset_members(kind, old, new)))


def unset_members(kind: Kind, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The in-place API members ``old`` sets and ``new`` leaves out that the update operation
    cannot unset (none of ``kind.cleared``), sorted."""
    settable = kind.in_place - kind.extra_properties - kind.cleared.keys()
    return sorted(key for key in settable if key in old and key not in new)


def in_place_changes(kind: Kind, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The properties of ``kind.in_place`` that differ, sorted."""
    return sorted(key for key in kind.in_place if old.get(key) != new.get(key))


def configuration_digest(kind: Kind, raw: Mapping[str, Any], stack_id: str) -> str:
    """A short digest of the properties that define a resource (so a rollback can recognise it).

    Salted with the stack id so that the digest of a short SQL parameter cannot be looked up in a
    table made for another stack.
    """
    canonical = json.dumps(_defining(kind, raw), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{stack_id}\n{canonical}".encode()).hexdigest()[:20]


def sensitive_values(kind: Kind, raw: Mapping[str, Any], shape: Any) -> list[str]:
    """Values no message may quote: every string the service model marks sensitive (with map
    keys, and a multi-line value line by line, as a service may quote one line), but no ARN."""
    found: set[str] = set()
    for key in kind.sensitive_properties:
        found.update(_strings(raw.get(key)))
    for key, value in raw.items():
        member = _members(shape).get(key)
        if member is not None:
            found.update(_sensitive_strings(value, member, False))
    return _line_by_line(found)


def sensitive_in_response(value: Any, shape: Any) -> list[str]:
    """The strings of an API response ``value`` (members by their API names) that its ``shape``
    marks sensitive, as ``sensitive_values`` gives them: what a message about it must not quote."""
    return _line_by_line(set(_sensitive_strings(value, shape, False, _api_members)))


def _line_by_line(found: set[str]) -> list[str]:
    """``found`` with each multi-line value line by line too (a service may quote one line),
    longest first, blanks left out."""
    for value in list(found):
        found.update(value.splitlines())
    return sorted((value for value in found if value.strip()), key=len, reverse=True)


def without_skipped(value: Any, skip: Callable[[Any], bool]) -> Any:
    """``value`` with every part for which ``skip`` is true as "" (its size is known later)."""
    if skip(value):
        return ""
    if isinstance(value, Mapping):
        return {
            "" if skip(key) else key: without_skipped(item, skip) for key, item in value.items()
        }
    if isinstance(value, list):
        return [without_skipped(item, skip) for item in value]
    return value


# ------------------------------------------------------------------------------------- inside


def _steering(kind: Kind) -> frozenset[str]:
    return HANDLER_PROPERTIES | kind.extra_properties | (WAIT_PROPERTIES if kind.waits else set())


def _defining(kind: Kind, raw: Mapping[str, Any]) -> dict[str, Any]:
    in_place = HANDLER_PROPERTIES | WAIT_PROPERTIES | kind.in_place | {"Tags"}
    return {key: value for key, value in raw.items() if key not in in_place}


def _wait(raw: Mapping[str, Any], skip: Callable[[Any], bool]) -> tuple[bool, int, str | None]:
    """WaitForCompletion, WaitTimeoutSeconds and WaitConditionHandle, checked.

    Beyond ``MAX_WAIT_TIMEOUT_SECONDS`` a wait needs a WaitCondition's handle (a long wait), up to
    the WaitCondition's own limit; without one it must fit the Provider framework's hour.
    """
    handle = optional_str(raw, "WaitConditionHandle")
    timeout = _int(raw.get("WaitTimeoutSeconds"), "WaitTimeoutSeconds", skip)
    wait = _bool(raw.get("WaitForCompletion"), "WaitForCompletion", skip)
    # Without WaitForCompletion only the create keeps to the timeout, within the hour.
    long = bool(handle) or wait is False
    most = limits.MAX_LONG_WAIT_SECONDS if long else limits.MAX_WAIT_TIMEOUT_SECONDS
    if timeout is not None and not skip(timeout) and not 1 <= timeout <= most:
        beyond = (
            ""
            if long
            else " (a longer wait goes through a WaitConditionHandle, which the construct adds "
            "for a wait_timeout it can read at synth: a number, not a token)"
        )
        raise InvalidPropertyError(
            f"WaitTimeoutSeconds: must be 1 to {most}, got {timeout}{beyond}"
        )
    return (
        True if wait is None else wait,
        timeout or limits.DEFAULT_WAIT_TIMEOUT_SECONDS,
        handle,
    )


def _convert(
    value: Any,
    shape: Any,
    path: str,
    skip: Callable[[Any], bool],
    top: bool = False,
    name: str = "name",
) -> Any:
    """``value`` as the template has it -> the API's type for ``shape`` (checked later)."""
    if skip(value):
        return value
    kind = shape.type_name
    if kind == "structure":
        where = path or "the properties"
        if not isinstance(value, Mapping):
            raise InvalidPropertyError(f"{where}: must be an object, got {_kind(value)}")
        members = _members(shape)
        converted = {}
        for key, item in value.items():
            member = members[key]
            converted[_camel(key, shape)] = _convert(item, member, _join(path, key), skip)
        for required in shape.required_members:
            if required not in converted and not (top and required in (name, "tags")):
                raise InvalidPropertyError(f"{_join(path, required)}: required")
        return converted
    if kind == "map":
        if not isinstance(value, Mapping):
            raise InvalidPropertyError(f"{path}: must be an object, got {_kind(value)}")
        sensitive = bool(shape.metadata.get("sensitive"))
        return {
            _convert(key, shape.key, f"{path} key", skip): _convert(
                item,
                shape.value,
                f"{path}[a sensitive key]" if sensitive else f"{path}[{key!r}]",
                skip,
            )
            for key, item in value.items()
        }
    if kind == "list":
        if not isinstance(value, list):
            raise InvalidPropertyError(f"{path}: must be a list, got {_kind(value)}")
        return [
            _convert(item, shape.member, f"{path}[{index}]", skip)
            for index, item in enumerate(value)
        ]
    if kind == "boolean":
        return _bool(value, path, skip)
    if kind in ("integer", "long"):
        return _int(value, path, skip)
    if kind == "string" and not isinstance(value, str):
        raise InvalidPropertyError(f"{path}: must be a string, got {_kind(value)}")
    if kind == "timestamp":
        return _timestamp(value, path)
    return value


_ISO_8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def _timestamp(value: Any, path: str) -> str:
    """An ISO 8601 date and time, with its offset (a time without one is ambiguous)."""
    text = value if isinstance(value, str) else ""
    if not _ISO_8601.fullmatch(text) or not re.search(r"(?:Z|[+-]\d{2}:?\d{2})$", text):
        raise InvalidPropertyError(
            f"{path}: must be an ISO 8601 date and time with its offset "
            f"(2024-05-01T00:00:00Z), got {value!r}"
        )
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise InvalidPropertyError(f"{path}: is no date and time, got {value!r}") from None
    return text


def _bool(value: Any, path: str, skip: Callable[[Any], bool]) -> bool | None:
    if value is None or skip(value) or isinstance(value, bool):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidPropertyError(f"{path}: must be true or false, got {value!r}")


def _int(value: Any, path: str, skip: Callable[[Any], bool]) -> int | None:
    if value is None or skip(value) or (isinstance(value, int) and not isinstance(value, bool)):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,9}\s*", value):
        return int(value)
    raise InvalidPropertyError(f"{path}: must be a whole number, got {value!r}")


def _members(shape: Any) -> dict[str, Any]:
    """A structure's members by their template (PascalCase) names."""
    if shape.type_name != "structure":
        return {}
    return {_pascal(member): member_shape for member, member_shape in shape.members.items()}


def _api_members(shape: Any) -> dict[str, Any]:
    """A structure's members by their API (camelCase) names, as a response has them."""
    return dict(shape.members) if shape.type_name == "structure" else {}


def _camel(key: str, shape: Any) -> str:
    return str(next(member for member in shape.members if _pascal(member) == key))


def _check_known(value: Any, shape: Any, path: str, extra: frozenset[str] = frozenset()) -> None:
    if shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _check_known(item, shape.member, f"{path}[{index}]")
    if shape.type_name != "structure" or not isinstance(value, Mapping):
        return
    members = _members(shape)
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
        if key != "Tags" or path:  # the template's Tags are a list of {Key, Value}, not a map
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
        if high is not None and low == high == 1:
            unit = {"entries": "entry"}.get(unit, unit.removesuffix("s"))
        bounds = (
            f"at least {low}" if high is None else str(low) if low == high else f"{low} to {high}"
        )
        raise InvalidPropertyError(f"{path}: must be {bounds} {unit}, got {size}")


def _sensitive_strings(
    value: Any,
    shape: Any,
    sensitive: bool,
    members_of: Callable[[Any], Mapping[str, Any]] = _members,
) -> Iterator[str]:
    """The strings of ``value`` that ``shape`` marks sensitive; ``members_of`` names a
    structure's members as ``value`` does (template properties: PascalCase)."""
    sensitive = sensitive or bool(shape.metadata.get("sensitive"))
    if shape.type_name == "structure" and isinstance(value, Mapping):
        members = members_of(shape)
        for key, item in value.items():
            if key in members:
                yield from _sensitive_strings(item, members[key], sensitive, members_of)
    elif shape.type_name == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            if sensitive:
                yield str(key)
            yield from _sensitive_strings(item, shape.value, sensitive, members_of)
    elif shape.type_name == "list" and isinstance(value, list):
        for item in value:
            yield from _sensitive_strings(item, shape.member, sensitive, members_of)
    elif sensitive and value is not None and not shape.name.endswith("Arn"):
        yield str(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _join(path: str, member: str) -> str:
    """``seedAudience`` + ``roleArn`` -> ``SeedAudience.RoleArn``: the template's spelling."""
    pascal = _pascal(member)
    return f"{path}.{pascal}" if path else pascal


def _pascal(member: str) -> str:
    return member[:1].upper() + member[1:]


def optional_str(raw: Mapping[str, Any], key: str, *, prefix: str = "") -> str | None:
    """``raw[key]`` if it is a string or absent, else an error naming ``prefix + key``."""
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidPropertyError(f"{prefix}{key}: must be a string, got {_kind(value)}")


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
