"""Synth-time checks, so that a mistake fails ``cdk synth`` in CI rather than a deploy an hour in.

A resource's properties are turned into what CloudFormation will deliver to the handler (every
scalar a string) and go through the handler's own converter and checks (``properties.parse`` of the
handler's engine, with the resource's kind) against the service model the handler ships
(``models/``): synth refuses exactly what the handler would. Values that are unresolved tokens are
skipped; the handler checks them once CloudFormation has resolved them. The few rules here beyond
the handler's are about the app around a job, which the handler never sees: the stack's Region,
other jobs' names, ``from_bucket``'s prefix.

botocore is imported on the first check only, and each model is read once per process. The handler's
package is loaded under a private name (``_cdk_cleanrooms_ml_handler``): only its modules that need
no boto3 (``engine.properties``, ``engine.limits``, ``kinds``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from cdk_cleanrooms_ml.handler_asset import handler_asset_dir

_PACKAGE = "_cdk_cleanrooms_ml_handler"
JOB_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
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
    _check(properties, "")


def check_resource(
    resource_type: str,
    properties: Mapping[str, Any],
    *,
    user_names: Mapping[str, str],
    scope: str = "",
) -> None:
    """Run the handler's own checks on a resource's properties (PascalCase, as rendered).

    The ValueError names the property as the user wrote it: ``user_names`` maps template paths
    (``OutputConfig.RoleArn``) to those names (``output_config.role``); see ``user_message``.
    """
    kind = handler_module("kinds").kind_of(resource_type)
    if waits_beyond_the_hour(properties):
        # The construct gives it a WaitCondition, whose handle the handler then gets.
        properties = {**properties, "WaitConditionHandle": _LATER}
    try:
        handler_module("engine.properties").parse(
            kind,
            as_delivered(properties),
            input_shape(kind.service, kind.operations.create),
            is_unresolved,
        )
    except ValueError as error:
        raise ValueError(user_message(str(error), scope, user_names)) from None


def waits_beyond_the_hour(properties: Mapping[str, Any]) -> bool:
    """Whether a resource with these properties waits beyond the hour, through a WaitCondition
    (``long_wait``). A number token cannot tell: the handler then keeps to the hour, and says so
    if the value is more."""
    timeout = properties.get("WaitTimeoutSeconds")
    return (
        properties.get("WaitForCompletion") is True
        and isinstance(timeout, (int, float))
        and not is_unresolved(timeout)
        and timeout > handler_module("engine.limits").MAX_WAIT_TIMEOUT_SECONDS
    )


def check_seed(seed: Mapping[str, Any]) -> None:
    """Check a ``SeedAudience`` property; the message names the ``SeedAudience.from_*`` argument.

    Its ``RoleArn`` may be missing: a role object's ARN is known at bind.
    """
    _check({**_REST_OF_A_JOB, "SeedAudience": {"RoleArn": _LATER, **seed}}, "SeedAudience")


def check_compute(compute: Mapping[str, Any]) -> None:
    """Check a ``SqlComputeConfiguration``; the message names the ``ComputeConfiguration`` field."""
    seed = {
        "RoleArn": _LATER,
        "SqlParameters": {"QueryString": _LATER},
        "SqlComputeConfiguration": compute,
    }
    _check({**_REST_OF_A_JOB, "SeedAudience": seed}, "SeedAudience.SqlComputeConfiguration")


def check_model_region(
    model_arn: str,
    stack_region: str | None,
    *,
    name: str = "configured_audience_model_arn",
    why: str = "a job runs in its model's Region",
    stack_account: str | None = None,
    noun: str = "a model",
) -> None:
    """Refuse a model of another Region than the stack's (and, with ``stack_account``, of another
    account): the handler calls the service in the stack's Region and account.

    A job's configured audience model may be another account's (in a collaboration the model is
    often another member's); a configured audience model's audience model is the account's own.
    Skipped when the stack's Region or account (``None``) or the ARN's is a token.
    """
    parts = model_arn.split(":", 5)
    if len(parts) < 6:
        return
    region, account = parts[3], parts[4]
    if stack_region is not None and not is_unresolved(region) and region != stack_region:
        raise ValueError(
            f"{name}: must be {noun} in the stack's Region, {stack_region} ({why}), got one in "
            f"{region}: {model_arn!r}"
        )
    if stack_account is not None and not is_unresolved(account) and account != stack_account:
        raise ValueError(
            f"{name}: must be {noun} of the stack's account, {stack_account} ({why}), got one "
            f"of {account}: {model_arn!r}"
        )


def check_bucket_prefix(prefix: str, *, whose: str = "seed's", access: str = "read") -> None:
    """Refuse a ``from_bucket`` prefix that would name other keys than the user meant.

    ``"/seed"`` makes ``s3://bucket//seed``; ``"seed"`` grants ``seed*``, which also covers
    ``seed-archive/``. ``""`` stands for the whole bucket. ``whose`` URI it is and the ``access``
    granted word the message.
    """
    if is_unresolved(prefix) or not prefix:
        return
    if prefix.startswith("/"):
        raise ValueError(
            f"prefix: must not start with '/' (the {whose} URI would be s3://<bucket>/{prefix}), "
            f"got {prefix!r}; write {prefix.lstrip('/')!r}"
        )
    if not prefix.endswith("/"):
        raise ValueError(
            f"prefix: must end with '/' (the role is granted {access} on '{prefix}*', which also "
            f"covers keys such as '{prefix}-archive/...'), got {prefix!r}; write {prefix + '/'!r}"
        )


class PinnedNames:
    """The names that the resources of one app pin: unique per kind, account and Region.

    An account or Region that is a token (an environment-agnostic stack) counts as one more
    environment, the same for every such stack: concrete ones may differ from it.
    """

    def __init__(self) -> None:
        self._claims: dict[tuple[str, str, str | None, str | None], Callable[[], str]] = {}

    def claim(
        self,
        kind: str,
        name: str,
        account: str | None,
        region: str | None,
        path: Callable[[], str],
    ) -> None:
        """Record ``name``; raise ValueError if a resource of the same environment has it.

        ``account`` and ``region`` are None when they are tokens. ``path()`` gives the
        construct's path; it is read for a message only (a jsii call).
        """
        other = self._claims.setdefault((kind, name, account, region), path)
        if other is not path:
            unknown = "unknown until deploy"
            where = (
                "environment-agnostic"
                if account is None and region is None
                else f"account {account or unknown}, Region {region or unknown}"
            )
            raise ValueError(
                f"name: must be unique per account and Region, got {name!r}, which {other()} "
                f"pins too, in the same account and Region ({where}); pin another name, or "
                "leave name out for a generated one"
            )

    def claim_in_membership(
        self, kind: str, name: str, membership: str, path: Callable[[], str]
    ) -> None:
        """Record ``name`` in ``membership`` (an id, or the same token for the same membership);
        raise ValueError if another resource of the kind pins it there."""
        other = self._claims.setdefault((kind, name, membership, "membership"), path)
        if other is not path:
            which = "the same membership" if is_unresolved(membership) else repr(membership)
            raise ValueError(
                f"name: must be unique per membership, got {name!r}, which {other()} pins too, "
                f"in {which}; pin another name, or leave name out for a generated one"
            )


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
    if problems and len(tags) >= handler_module("engine.limits").MAX_TAGS:
        counts = Counter(source(key) for key in tags)
        problems = [
            f"{problems[0]}: "
            + ", ".join(f"{count} from {where}" for where, count in sorted(counts.items()))
        ]
    return problems


_LATER = "${Token[cdk-cleanrooms-ml.given-later]}"
"""Stands for a value given later, where a seed is checked before its job: skipped as a token is."""
_REST_OF_A_JOB = {"ConfiguredAudienceModelArn": _LATER}


def as_delivered(value: Any) -> Any:
    """Properties as CloudFormation delivers them to the handler: every scalar a string.

    Unresolved tokens stay as they are, for the handler's checks to skip.
    """
    if is_unresolved(value):
        return value
    if isinstance(value, Mapping):
        return {key: as_delivered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_delivered(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


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


def user_message(message: str, scope: str = "", user_names: Mapping[str, str] = _USER_NAMES) -> str:
    """A handler message with the template path as the user's names, relative to ``scope``.

    ``SeedAudience.SqlComputeConfiguration.Worker.Number: must be 2 to 1024`` reads
    ``seed_audience.compute.number: ...`` on the job and ``compute.number: ...`` in the scope
    ``SeedAudience`` (a ``SeedAudience.from_*`` call). A message about the whole scope keeps the
    template's name.
    """
    match = _PATH.match(message)
    if match is None:
        return message
    known = match.group()
    while known and known not in user_names:
        known = known.rpartition(".")[0]
    if not known:
        return message
    name = user_names[known]
    if scope:
        name = name.removeprefix(user_names[scope]).removeprefix(".") or match.group()
    return name + message[match.end() :]


def check_member(
    value: Any, operation: str, member: str, name: str, *, service: str = "cleanroomsml"
) -> None:
    """Raise ValueError, ``name: ...``, if ``value`` breaks the service model's rules of
    ``operation``'s request member (a dotted path: ``outputConfig.roleArn``).

    The handler's own check (``properties.check_request``) runs on the member's shape, so that a
    value fails where the user writes it, in the words the handler would use. Tokens are skipped.
    ``service`` is the botocore name of the operation's service: ``cleanrooms`` for associations.
    """
    shape = input_shape(service, operation)
    for part in member.split("."):
        shape = shape.members[part]
    try:
        handler_module("engine.properties").check_request(value, shape, is_unresolved)
    except ValueError as error:
        raise ValueError(f"{name}{error}") from None


def _check(properties: Mapping[str, Any], scope: str) -> None:
    check_resource(JOB_TYPE, properties, user_names=_USER_NAMES, scope=scope)


def _tag_problems(tags: Mapping[str, str], source: Any = None) -> list[str]:
    """The handler's tag rules; a message names the tag's key (and with ``source``, its origin)."""
    rendered = [
        {"Key": key, "Value": value}
        for key, value in tags.items()
        if not (is_unresolved(key) or is_unresolved(value))
    ]
    try:
        handler_module("engine.properties").parse_tags(rendered)
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


def handler_module(name: str) -> ModuleType:
    """A module of the handler's ``cleanrooms`` package (``engine.limits``, ``kinds``...).

    Only modules that import no boto3: the package is loaded from the handler folder under a
    private name, so that nothing of it can shadow a module of the user's app.
    """
    _handler_package()
    return importlib.import_module(f"{_PACKAGE}.{name}")


@functools.cache
def _handler_package() -> ModuleType:
    root = handler_asset_dir() / "cleanrooms"
    spec = importlib.util.spec_from_file_location(
        _PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the handler's checks from {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def input_shape(service: str, operation: str) -> Any:
    """The input shape of ``operation``: from the model the handler ships, else botocore's."""
    import botocore.loaders
    import botocore.model

    loader = botocore.loaders.Loader(extra_search_paths=[str(handler_asset_dir() / "models")])
    model = botocore.model.ServiceModel(loader.load_service_model(service, "service-2"), service)
    return model.operation_model(operation).input_shape
