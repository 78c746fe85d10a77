"""Where an audience generation job takes its seed audience from: S3, a SQL query, a template."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_cleanrooms_ml.argument_types import check_argument_types, check_field_types
from cdk_cleanrooms_ml.resource_base import RoleLike, role_to_grant
from cdk_cleanrooms_ml.validation import (
    check_bucket_prefix,
    check_compute,
    check_seed,
    is_unresolved,
)

_SECRET_VERSION = re.compile(r"\S{1,256}")
"""A Secrets Manager version id (32 to 64 characters) or staging label (1 to 256), as the
handler takes it: no white space in either."""


class WorkerComputeType(str, enum.Enum):
    """Size of the Spark workers that run a SQL seed query."""

    CR_1X = "CR.1X"
    CR_4X = "CR.4X"
    CR_8X = "CR.8X"


@dataclass(frozen=True)
class ComputeConfiguration:
    """The workers that run a SQL seed query (``sqlComputeConfiguration`` in the API).

    :param worker_type: size of each worker. Default: the service's default.
    :param number: how many workers, 2 to 1024 (a number token, such as a ``CfnParameter``'s
        ``value_as_number``, is taken too). Default: the service's default.
    :param spark_properties: Spark properties for the workers (at most 50). Default: none.
    """

    worker_type: WorkerComputeType | str | None = None
    number: int | None = None
    spark_properties: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        check_field_types(self)
        check_compute(self._render())

    def _render(self) -> dict[str, Any]:
        worker: dict[str, Any] = {}
        if self.worker_type is not None:
            worker["Type"] = (
                self.worker_type.value
                if isinstance(self.worker_type, WorkerComputeType)
                else self.worker_type
            )
        if self.number is not None:
            worker["Number"] = self.number
        if self.spark_properties is not None:
            worker["Properties"] = {"Spark": dict(self.spark_properties)}
        return {"Worker": worker}


@dataclass(frozen=True)
class SeedAudienceConfig:
    """A seed audience bound to a job: the ``SeedAudience`` property and the role it passes.

    A SQL seed may take values for its parameters from a secret, which the job names in its own
    properties (only the secret's ARN and version are in the template).
    """

    properties: dict[str, Any]
    role_arn: str
    parameters_secret: secretsmanager.ISecret | None = None
    """The secret whose JSON object of parameter names to values the handler reads at deploy."""
    parameters_secret_version: str | None = None
    """The secret's version id or staging label to read. None: AWSCURRENT."""
    grants: tuple[iam.Grant, ...] = ()
    """The read grant of ``from_bucket``: the job starts once its policy is in place."""


class SeedAudience:
    """The seed audience of an audience generation job. Create one with a ``from_*`` method.

    Each ``from_*`` method checks its arguments against the service's rules at once, so a mistake
    fails at that line, naming the argument (``compute.number: must be 2 to 1024, got 1``).
    """

    def __init__(
        self,
        source: dict[str, Any],
        role: RoleLike,
        *,
        compute: ComputeConfiguration | None = None,
        read_grant: tuple[s3.IBucket, str] | None = None,
        parameters_secret: secretsmanager.ISecret | None = None,
        parameters_secret_version: str | None = None,
    ) -> None:
        _check_parameters_secret(parameters_secret, parameters_secret_version)
        self._source = source
        self._role = role
        self._compute = compute
        self._read_grant = read_grant
        self._parameters_secret = parameters_secret
        self._parameters_secret_version = parameters_secret_version
        # The compute configuration checked itself; a role object's ARN is read at bind.
        check_seed({**source, **({"RoleArn": role} if isinstance(role, str) else {})})

    @staticmethod
    @check_argument_types
    def from_s3(s3_uri: str, role: RoleLike) -> SeedAudience:
        """A seed audience stored in S3.

        :param s3_uri: ``s3://bucket/prefix/`` of the seed data.
        :param role: the role Clean Rooms ML assumes to read it (an ``iam.IRole`` or a role ARN).
        """
        return SeedAudience({"DataSource": {"S3Uri": s3_uri}}, role)

    @staticmethod
    @check_argument_types
    def from_bucket(bucket: s3.IBucket, prefix: str, role: RoleLike) -> SeedAudience:
        """A seed audience under ``prefix`` in ``bucket``; also grants ``role`` read access to it.

        :param bucket: the bucket that holds the seed data.
        :param prefix: the key prefix of the seed data: a folder, ending in ``/`` (``"seed/"``),
            not starting with one; ``""`` for the whole bucket. The grant covers ``prefix*``, so
            ``"seed"`` would also cover ``seed-archive/``: it is refused. For one object, use
            ``from_s3`` and grant the role read access yourself.
        :param role: the role Clean Rooms ML assumes to read it (an ``iam.IRole`` or a role ARN).
        """
        check_bucket_prefix(prefix)
        return SeedAudience(
            {"DataSource": {"S3Uri": f"s3://{bucket.bucket_name}/{prefix}"}},
            role,
            read_grant=(bucket, prefix),
        )

    @staticmethod
    @check_argument_types
    def from_sql(
        query_string: str,
        role: RoleLike,
        *,
        parameters: Mapping[str, str] | None = None,
        compute: ComputeConfiguration | None = None,
        parameters_secret: secretsmanager.ISecret | None = None,
        parameters_secret_version: str | None = None,
    ) -> SeedAudience:
        """A seed audience produced by a Clean Rooms SQL query.

        The query and ``parameters`` are properties of the job's custom resource: anyone who may
        read the stack's template can read them. Values that must not be there go in
        ``parameters_secret``.

        :param query_string: the SQL query.
        :param role: the role Clean Rooms ML assumes to run it (an ``iam.IRole`` or a role ARN).
        :param parameters: values for the query's parameters, written into the template.
            Default: none.
        :param compute: the workers that run the query. Default: the service's default.
        :param parameters_secret: a secret whose value is a JSON object of parameter names to
            string values. Only its ARN is in the template: the handler reads it when it starts
            the job and merges it with ``parameters`` (a name in both is refused then). The
            handler may read this secret, and decrypt it with its KMS key when the secret names
            one. Default: none.
        :param parameters_secret_version: the secret's version to read: a version id, or a
            staging label such as ``"AWSPREVIOUS"``. A change starts a new job; a new value
            of the secret alone does not. Default: the version labelled AWSCURRENT when the job
            starts.
        """
        return SeedAudience(
            {"SqlParameters": _sql("QueryString", query_string, parameters)},
            role,
            compute=compute,
            parameters_secret=parameters_secret,
            parameters_secret_version=parameters_secret_version,
        )

    @staticmethod
    @check_argument_types
    def from_analysis_template(
        analysis_template_arn: str,
        role: RoleLike,
        *,
        parameters: Mapping[str, str] | None = None,
        compute: ComputeConfiguration | None = None,
        parameters_secret: secretsmanager.ISecret | None = None,
        parameters_secret_version: str | None = None,
    ) -> SeedAudience:
        """A seed audience produced by a Clean Rooms analysis template.

        The query stays in the analysis template, out of the job's properties; ``parameters``
        are in them (in the stack's template), and values that must not be go in
        ``parameters_secret``.

        :param analysis_template_arn: ARN of the analysis template.
        :param role: the role Clean Rooms ML assumes to run it (an ``iam.IRole`` or a role ARN).
        :param parameters: values for the template's parameters, written into the stack's
            template. Default: none.
        :param compute: the workers that run the query. Default: the service's default.
        :param parameters_secret: a secret whose value is a JSON object of parameter names to
            string values, as for ``from_sql``. Default: none.
        :param parameters_secret_version: the secret's version id or staging label, as for
            ``from_sql``. Default: the version labelled AWSCURRENT when the job starts.
        """
        return SeedAudience(
            {"SqlParameters": _sql("AnalysisTemplateArn", analysis_template_arn, parameters)},
            role,
            compute=compute,
            parameters_secret=parameters_secret,
            parameters_secret_version=parameters_secret_version,
        )

    @check_argument_types
    def bind(self, scope: Construct) -> SeedAudienceConfig:
        """Render the seed for the job ``scope``, granting the role what it needs to read it."""
        role_arn = self._role if isinstance(self._role, str) else self._role.role_arn
        grants: tuple[iam.Grant, ...] = ()
        if self._read_grant is not None:
            bucket, prefix = self._read_grant
            role = role_to_grant(scope, self._role, bucket, "SeedRole")
            grants = (bucket.grant_read(role, f"{prefix}*"),)
        properties: dict[str, Any] = {**self._source, "RoleArn": role_arn}
        if self._compute is not None:
            properties["SqlComputeConfiguration"] = self._compute._render()
        return SeedAudienceConfig(
            properties=properties,
            role_arn=role_arn,
            parameters_secret=self._parameters_secret,
            parameters_secret_version=self._parameters_secret_version,
            grants=grants,
        )


def _sql(key: str, value: str, parameters: Mapping[str, str] | None) -> dict[str, Any]:
    sql: dict[str, Any] = {key: value}
    if parameters is not None:
        sql["Parameters"] = dict(parameters)
    return sql


def _check_parameters_secret(secret: secretsmanager.ISecret | None, version: str | None) -> None:
    if version is None:
        return
    if secret is None:
        raise ValueError(
            "parameters_secret_version: only applies with parameters_secret (the version of "
            f"that secret to read), got {version!r} and no parameters_secret"
        )
    if not is_unresolved(version) and _SECRET_VERSION.fullmatch(version) is None:
        raise ValueError(
            "parameters_secret_version: must be a Secrets Manager version id or staging label, "
            f"1 to 256 characters with no white space, got {version!r}"
        )
