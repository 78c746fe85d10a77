"""``AudienceGenerationJob``: an AWS Clean Rooms ML audience generation job in a CDK stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aws_cdk import Duration, IResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.long_wait import MAX_LONG_WAIT
from cdk_cleanrooms_ml.provider import MAX_WAIT_TIMEOUT, CleanRoomsMLProvider
from cdk_cleanrooms_ml.resource_base import (
    GrantableResource,
    ImportedResource,
    ManagedResource,
    check_removal_policy,
    stack_facts,
)
from cdk_cleanrooms_ml.seed_audience import SeedAudience
from cdk_cleanrooms_ml.validation import check_job, check_model_region, check_tags, is_unresolved

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
PARAMETERS_FROM = "SeedAudienceParametersSecretArn"
"""The secret that holds SQL parameter values, which the handler reads when it starts the job."""
PARAMETERS_VERSION = "SeedAudienceParametersSecretVersion"
"""That secret's version id or staging label; absent: AWSCURRENT."""
READ_ACTIONS = ("cleanrooms-ml:GetAudienceGenerationJob", "cleanrooms-ml:ListTagsForResource")


class IAudienceGenerationJob(IResource, Protocol):
    """An audience generation job, defined in this app or imported."""

    @property
    def audience_generation_job_arn(self) -> str:
        """The job's ARN."""
        ...

    @property
    def audience_generation_job_name(self) -> str:
        """The job's name (unknown for a job imported by its ARN alone)."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this job to ``grantee``."""
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this job: GetAudienceGenerationJob, ListTagsForResource."""
        ...


class AudienceGenerationJobBase(GrantableResource):
    """What defined and imported jobs share: the ARN, the name and the grants on the job."""

    @property
    def audience_generation_job_arn(self) -> str:
        raise NotImplementedError

    @property
    def audience_generation_job_name(self) -> str:
        raise NotImplementedError

    _READ_ACTIONS = READ_ACTIONS

    @property
    def _grant_arn(self) -> str:
        return self.audience_generation_job_arn


class _ImportedAudienceGenerationJob(AudienceGenerationJobBase, ImportedResource):
    def __init__(self, scope: Construct, id: str, arn: str, name: str | None) -> None:
        super().__init__(scope, id, arn)
        self._name = name

    @property
    def audience_generation_job_arn(self) -> str:
        return self._imported_arn

    @property
    def audience_generation_job_name(self) -> str:
        if self._name is None:
            raise ValueError(
                f"{self.node.path}: the name of a job imported by its ARN is unknown (the ARN "
                "ends in the job's id, not its name); import it with "
                "AudienceGenerationJob.from_audience_generation_job_attributes to give the name"
            )
        return self._name


class AudienceGenerationJob(AudienceGenerationJobBase, ManagedResource):
    """An AWS Clean Rooms ML audience generation job.

    CloudFormation has no resource type for it: a custom resource backed by a handler Lambda
    starts the job, tags it, waits for it to become ACTIVE and deletes it with the stack. Every job
    in a stack shares one handler.

    Tags: the ``tags`` prop, the stack's own tags and ``Tags.of(scope).add(...)`` all reach the job,
    with CDK's precedence: a ``Tags.of`` tag (priority 100 by default) overrides a ``tags`` prop or
    stack tag of the same key, ``tags`` overrides the stack's tags, and among ``Tags.of`` calls the
    higher priority, then the scope nearer the job, wins.

    Like any CDK L2, its ``node.default_child`` is its ``CfnResource`` (for escape hatches such as
    ``add_property_override``) and ``apply_removal_policy`` works on it. The handler all jobs of a
    stack share (with its other Clean Rooms ML resources) is set up with
    ``CleanRoomsMLProvider.configure`` (defaults there).
    """

    _RESOURCE_TYPE = RESOURCE_TYPE
    _NOUN = "a job"
    _LONG_WAIT_READ = ("cleanrooms-ml:GetAudienceGenerationJob", "audience-generation-job")

    @check_argument_types
    def __init__(
        self,
        scope: Construct,
        id: str,
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
            the audience; in the stack's Region (the job runs there), of any account.
        :param seed_audience: where the seed audience comes from (``SeedAudience.from_*``).
        :param name: the job's name, unique per account and Region: two jobs of the app in one
            account and Region cannot pin the same name (environment-agnostic stacks count as
            one environment). Default (or ``""``): a unique name generated from the stack and the
            construct (a new one on each replacement).
        :param collaboration_id: the collaboration that contains the job. Default: none.
        :param description: a description of the job. Default: none.
        :param include_seed_in_output: whether the seed audience is included in the output.
            Default: the service's default (not included).
        :param tags: tags for the job, merged with the stack's tags and ``Tags.of(...)``.
            Default: no tags of its own.
        :param wait_for_completion: wait until the job is ACTIVE before CloudFormation moves on.
            Default: True.
        :param wait_timeout: how long to wait for ACTIVE (or for a slot under the account's quota
            of jobs in progress) before the deployment fails: whole seconds, up to 12 hours. Up
            to 54 minutes the custom resource itself waits; beyond, a CloudFormation
            WaitCondition does (see the README, "Waiting beyond one hour"), and the slot must
            still be had within 54 minutes. A number token (``Duration.seconds`` of a
            ``CfnParameter``) is taken too, and waits within the hour. Default: 50 minutes.
        :param removal_policy: what happens to the job when it leaves the stack; ``RETAIN`` keeps
            it. Default: RemovalPolicy.DESTROY.
        """
        check_removal_policy(removal_policy, self._NOUN)
        wait_seconds = _wait_timeout_seconds(wait_timeout)
        if tags:
            check_tags(tags)
        super().__init__(scope, id)
        seed = seed_audience.bind(self)
        provider = CleanRoomsMLProvider.of(self)

        # Every call into aws-cdk-lib is a round trip to Node: per job they are kept to the few
        # that make the resource (see bench/RESULTS.md); the rest is per stack, on the provider.
        optional: dict[str, Any] = {
            # "" is no name, to the handler too: it generates one.
            "Name": name or None,
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
        }
        secret_arn = None
        if seed.parameters_secret is not None:
            # The secret's ARN only: CloudFormation resolves no dynamic reference to a secret in
            # a custom resource's properties, so the handler reads the values itself.
            secret_arn = provider.secret_arn(seed.parameters_secret)
            properties[PARAMETERS_FROM] = secret_arn
            if seed.parameters_secret_version is not None:
                properties[PARAMETERS_VERSION] = seed.parameters_secret_version
        check_job(properties)
        facts = stack_facts(self, provider)
        check_model_region(configured_audience_model_arn, facts.region)
        if secret_arn is not None:
            _check_secret_region(secret_arn, facts.region)
        self._pin_name(name, facts)
        # Only a job that passed its checks reaches the handler's policy.
        provider.allow(configured_audience_model_arn, seed.role_arn, seed.parameters_secret)
        self._create_resource(provider, properties, tags=tags, removal_policy=removal_policy)
        provider.job_lane(self._resource, self._completion)
        for grant in seed.grants:
            # The service reads the seed once the job starts: the role's policy comes first.
            grant.apply_before(self._resource)

    @staticmethod
    @check_argument_types
    def from_audience_generation_job_arn(
        scope: Construct, id: str, audience_generation_job_arn: str
    ) -> IAudienceGenerationJob:
        """Refer to a job that exists outside this app (or in another stack) by its ARN.

        The ARN ends in the job's id, which the service generates, not in its name: the import
        has no ``audience_generation_job_name``. To have it, use
        ``from_audience_generation_job_attributes``.
        """
        return _ImportedAudienceGenerationJob(scope, id, audience_generation_job_arn, None)

    @staticmethod
    @check_argument_types
    def from_audience_generation_job_attributes(
        scope: Construct,
        id: str,
        *,
        audience_generation_job_arn: str,
        audience_generation_job_name: str,
    ) -> IAudienceGenerationJob:
        """Refer to a job that exists outside this app (or in another stack) by ARN and name.

        There is no ``from_audience_generation_job_name``: the ARN cannot be derived from the name
        (it ends in an id the service generates), and grants need the ARN.

        :param audience_generation_job_arn: the job's ARN.
        :param audience_generation_job_name: the job's name.
        """
        return _ImportedAudienceGenerationJob(
            scope, id, audience_generation_job_arn, audience_generation_job_name
        )

    @property
    def audience_generation_job_arn(self) -> str:
        """The job's ARN (a token: ``Fn::GetAtt`` on the custom resource)."""
        return self._attribute("AudienceGenerationJobArn", arn=True)

    @property
    def audience_generation_job_name(self) -> str:
        """The job's name, given or generated (a token)."""
        return self._attribute("Name")


def _wait_timeout_seconds(
    wait_timeout: Duration | None, *, beyond_the_hour: bool = True
) -> float | None:
    """Whole seconds, or a number token (the handler checks its value). Up to 12 hours, or, for a
    kind that cannot wait ``beyond_the_hour``, 54 minutes."""
    if wait_timeout is None:
        return None
    seconds = wait_timeout.to_seconds(integral=False)
    if is_unresolved(seconds):
        return seconds
    longest, why = (
        (
            f"{MAX_LONG_WAIT.to_hours()} hours",
            "CloudFormation's WaitCondition waits 12 hours at most; beyond "
            f"{MAX_WAIT_TIMEOUT.to_minutes()} minutes the wait is one",
        )
        if beyond_the_hour
        else (
            f"{MAX_WAIT_TIMEOUT.to_minutes()} minutes",
            "this resource waits within the hour the Provider framework allows",
        )
    )
    most = (MAX_LONG_WAIT if beyond_the_hour else MAX_WAIT_TIMEOUT).to_seconds()
    if not 1 <= seconds <= most or seconds != int(seconds):
        raise ValueError(
            f"wait_timeout: must be 1 second to {longest}, in whole seconds ({why}), got "
            f"{seconds:g} seconds"
        )
    return int(seconds)


def _check_secret_region(secret_arn: str, stack_region: str | None) -> None:
    """Refuse a secret of another Region than the stack's: the handler reads it there."""
    parts = secret_arn.split(":", 5)
    if stack_region is None or len(parts) < 6 or is_unresolved(parts[3]):
        return
    if parts[3] != stack_region:
        raise ValueError(
            f"seed_audience.parameters_secret: must be a secret in the stack's Region, "
            f"{stack_region} (the handler reads it there), got one in {parts[3]}: {secret_arn!r}"
        )
