"""Where a configured audience model writes the audiences it generates: S3, and the role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.resource_base import RoleLike, role_to_grant
from cdk_cleanrooms_ml.validation import check_bucket_prefix, check_member

_CREATE = "CreateConfiguredAudienceModel"
_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket")
"""On the bucket itself, as the Clean Rooms ML guide's policy for this role has them."""


@dataclass(frozen=True)
class AudienceDestinationConfig:
    """A destination bound to a configured audience model: its ``OutputConfig`` and the role."""

    properties: dict[str, Any]
    role_arn: str
    grants: tuple[iam.Grant, ...] = ()
    """The write grant of ``from_bucket``: the model is created once its policy is in place."""


class AudienceDestination:
    """The output of a configured audience model (``outputConfig`` in the API).

    Create one with ``from_s3`` or ``from_bucket``; each checks its arguments at once, so a mistake
    fails at that line, naming the argument (``s3_uri: must match the pattern s3://.+, ...``).
    """

    def __init__(
        self, s3_uri: str, role: RoleLike, *, write_grant: tuple[s3.IBucket, str] | None = None
    ) -> None:
        self._s3_uri = s3_uri
        self._role = role
        self._write_grant = write_grant
        check_member(s3_uri, _CREATE, "outputConfig.destination.s3Destination.s3Uri", "s3_uri")
        if isinstance(role, str):
            check_member(role, _CREATE, "outputConfig.roleArn", "role")

    @staticmethod
    @check_argument_types
    def from_s3(s3_uri: str, role: RoleLike) -> AudienceDestination:
        """Audiences written to ``s3_uri``, by a role that may write there already.

        :param s3_uri: ``s3://bucket/prefix/`` where Clean Rooms ML writes the audiences.
        :param role: the role Clean Rooms ML assumes to write them (an ``iam.IRole`` or a role
            ARN); the handler may pass it (``iam:PassRole``) to Clean Rooms ML only.
        """
        return AudienceDestination(s3_uri, role)

    @staticmethod
    @check_argument_types
    def from_bucket(bucket: s3.IBucket, prefix: str, role: RoleLike) -> AudienceDestination:
        """Audiences written under ``prefix`` in ``bucket``; grants ``role`` write access there.

        The grant, as the Clean Rooms ML guide's policy for this role: ``s3:PutObject`` on
        ``prefix*``, ``s3:GetBucketLocation`` and ``s3:ListBucket`` on the bucket, and the use of
        the bucket's KMS key to encrypt, if it has one. It goes on the role when the role is of
        the configured audience model's stack or of the bucket's; otherwise (a role ARN, a role of
        a third stack) into a policy inside the configured audience model that names the role,
        which keeps the stacks free of dependency cycles.

        :param bucket: the bucket the audiences go to.
        :param prefix: the key prefix: a folder, ending in ``/`` (``"audiences/"``), not starting
            with one; ``""`` for the whole bucket. The grant covers ``prefix*``, so
            ``"audiences"`` would also cover ``audiences-archive/``: it is refused.
        :param role: the role Clean Rooms ML assumes to write them (an ``iam.IRole`` or a role
            ARN); the handler may pass it (``iam:PassRole``) to Clean Rooms ML only.
        """
        check_bucket_prefix(prefix, whose="audiences'", access="write")
        return AudienceDestination(
            f"s3://{bucket.bucket_name}/{prefix}", role, write_grant=(bucket, prefix)
        )

    @check_argument_types
    def bind(self, scope: Construct) -> AudienceDestinationConfig:
        """Render the destination for the configured audience model ``scope``, granting the role."""
        role_arn = self._role if isinstance(self._role, str) else self._role.role_arn
        grants: list[iam.Grant] = []
        if self._write_grant is not None:
            bucket, prefix = self._write_grant
            writer = role_to_grant(scope, self._role, bucket, "OutputRole")
            grants += [
                iam.Grant.add_to_principal(
                    grantee=writer,
                    actions=["s3:PutObject"],
                    resource_arns=[bucket.arn_for_objects(f"{prefix}*")],
                ),
                iam.Grant.add_to_principal(
                    grantee=writer,
                    actions=list(_BUCKET_ACTIONS),
                    resource_arns=[bucket.bucket_arn],
                ),
            ]
            if bucket.encryption_key is not None:
                grants.append(bucket.encryption_key.grant_encrypt(writer))
        return AudienceDestinationConfig(
            properties={
                "Destination": {"S3Destination": {"S3Uri": self._s3_uri}},
                "RoleArn": role_arn,
            },
            role_arn=role_arn,
            grants=tuple(grants),
        )
