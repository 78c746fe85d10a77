"""``AudienceGenerationJob``: an AWS Clean Rooms ML audience generation job in a CDK stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import jsii
from aws_cdk import (
    CustomResource,
    Duration,
    IResource,
    ITaggableV2,
    RemovalPolicy,
    Resource,
    TagManager,
    TagType,
)
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_cleanrooms_ml.provider import (
    MAX_WAIT_TIMEOUT,
    AudienceGenerationJobProvider,
)
from cdk_cleanrooms_ml.seed_audience import SeedAudience
from cdk_cleanrooms_ml.validation import check_job

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
READ_ACTIONS = ("cleanrooms-ml:GetAudienceGenerationJob", "cleanrooms-ml:ListTagsForResource")


class IAudienceGenerationJob(IResource, Protocol):
    """An audience generation job, defined in this app or imported by ARN."""

    @property
    def audience_generation_job_arn(self) -> str:
        """The job's ARN."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this job to ``grantee``."""
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this job: GetAudienceGenerationJob, ListTagsForResource."""
        ...


class AudienceGenerationJobBase(Resource):
    """What defined and imported jobs share: the ARN and the grants on it."""

    @property
    def audience_generation_job_arn(self) -> str:
        raise NotImplementedError

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this job to ``grantee``."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.audience_generation_job_arn]
        )

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this job: GetAudienceGenerationJob, ListTagsForResource."""
        return self.grant(grantee, *READ_ACTIONS)


class _ImportedAudienceGenerationJob(AudienceGenerationJobBase):
    def __init__(self, scope: Construct, id_: str, arn: str) -> None:
        super().__init__(scope, id_, environment_from_arn=arn)
        self._arn = arn

    @property
    def audience_generation_job_arn(self) -> str:
        return self._arn


@jsii.implements(ITaggableV2)
class AudienceGenerationJob(AudienceGenerationJobBase):
    """An AWS Clean Rooms ML audience generation job.

    CloudFormation has no resource type for it: a custom resource backed by a handler Lambda
    starts the job, tags it, waits for it to become ACTIVE and deletes it with the stack. Every job
    in a stack shares one handler.

    Tags: the ``tags`` prop, the stack's own tags and ``Tags.of(scope).add(...)`` all reach the job,
    with CDK's precedence: a ``Tags.of`` tag (priority 100 by default) overrides a ``tags`` prop or
    stack tag of the same key, ``tags`` overrides the stack's tags, and among ``Tags.of`` calls the
    higher priority, then the scope nearer the job, wins.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        configured_audience_model_arn: str,
        seed_audience: SeedAudience,
        name: str | None = None,
        collaboration_id: str | None = None,
        description: str | None = None,
        include_seed_in_output: bool | None = None,
        tags: Mapping[str, str] | None = None,
        wait_for_completion: bool = True,
        wait_timeout: Duration | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param configured_audience_model_arn: ARN of the configured audience model that generates
            the audience.
        :param seed_audience: where the seed audience comes from (``SeedAudience.from_*``).
        :param name: the job's name, unique per account and Region. Default: a unique name
            generated from the stack and the construct (a new one on each replacement).
        :param collaboration_id: the collaboration that contains the job. Default: none.
        :param description: a description of the job. Default: none.
        :param include_seed_in_output: whether the seed audience is included in the output.
            Default: the service's default (not included).
        :param tags: tags for the job, merged with the stack's tags and ``Tags.of(...)``.
            Default: no tags of its own.
        :param wait_for_completion: wait until the job is ACTIVE before CloudFormation moves on.
            Default: True.
        :param wait_timeout: how long to wait for ACTIVE (or for a slot under the account's quota
            of jobs in progress) before the deployment fails. At most 54 minutes.
            Default: 50 minutes.
        :param removal_policy: what happens to the job when it leaves the stack; ``RETAIN`` keeps
            it. Default: RemovalPolicy.DESTROY.
        """
        super().__init__(scope, id_)
        if removal_policy not in (RemovalPolicy.DESTROY, RemovalPolicy.RETAIN):
            raise ValueError(
                f"removal_policy: must be RemovalPolicy.DESTROY or RemovalPolicy.RETAIN (a job has "
                f"no snapshot), got {removal_policy}"
            )
        wait_seconds = _wait_timeout_seconds(wait_timeout)
        seed = seed_audience.bind(self)
        provider = AudienceGenerationJobProvider.of(self)
        provider.allow(configured_audience_model_arn, seed.role_arn)

        # Every call into aws-cdk-lib is a round trip to Node: per job they are kept to the few
        # that make the resource (see bench/RESULTS.md); the rest is per stack, on the provider.
        self._tag_manager = TagManager(
            TagType.KEY_VALUE, RESOURCE_TYPE, {**provider.stack_tags, **(tags or {})}
        )
        optional: dict[str, Any] = {
            "Name": name,
            "CollaborationId": collaboration_id,
            "Description": description,
            "IncludeSeedInOutput": include_seed_in_output,
            "WaitTimeoutSeconds": wait_seconds,
        }
        properties: dict[str, Any] = {
            "ConfiguredAudienceModelArn": configured_audience_model_arn,
            "SeedAudience": seed.properties,
            **{key: value for key, value in optional.items() if value is not None},
            "WaitForCompletion": wait_for_completion,
            "Tags": self._tag_manager.rendered_tags,
        }
        check_job(properties)
        provider.check_tags_at_synth(self, self._tag_manager)
        # ServiceTimeout is left at CloudFormation's default, 3600 s, its maximum: the provider
        # framework's own limit (55 minutes) fits inside it.
        self._resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            removal_policy=removal_policy,
        )
        self._arn: str | None = None
        self._name: str | None = None

    @staticmethod
    def from_audience_generation_job_arn(
        scope: Construct, id_: str, audience_generation_job_arn: str
    ) -> IAudienceGenerationJob:
        """Refer to a job that exists outside this app (or in another stack) by its ARN."""
        return _ImportedAudienceGenerationJob(scope, id_, audience_generation_job_arn)

    @property
    def audience_generation_job_arn(self) -> str:
        """The job's ARN (a token: ``Fn::GetAtt`` on the custom resource)."""
        if self._arn is None:
            self._arn = self._resource.get_att_string("AudienceGenerationJobArn")
        return self._arn

    @property
    def audience_generation_job_name(self) -> str:
        """The job's name, given or generated (a token)."""
        if self._name is None:
            self._name = self._resource.get_att_string("Name")
        return self._name

    @property
    def cdk_tag_manager(self) -> TagManager:
        """Tag manager through which ``Tags.of(...)`` reaches the job."""
        return self._tag_manager


def _wait_timeout_seconds(wait_timeout: Duration | None) -> int | None:
    if wait_timeout is None:
        return None
    seconds = int(wait_timeout.to_seconds())
    if not 1 <= seconds <= MAX_WAIT_TIMEOUT.to_seconds():
        raise ValueError(
            f"wait_timeout: must be 1 second to {MAX_WAIT_TIMEOUT.to_minutes()} minutes (the "
            f"provider framework gives up after 55), got {seconds} seconds"
        )
    return seconds
