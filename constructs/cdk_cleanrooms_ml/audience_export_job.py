"""``AudienceExportJob``: an AWS Clean Rooms ML audience export job in a CDK stack."""

from __future__ import annotations

from typing import Any, Protocol

from aws_cdk import Duration, IResource, RemovalPolicy
from constructs import Construct

from cdk_cleanrooms_ml import validation
from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.audience_generation_job import _wait_timeout_seconds
from cdk_cleanrooms_ml.audience_size import AudienceSize
from cdk_cleanrooms_ml.provider import CleanRoomsMLProvider
from cdk_cleanrooms_ml.resource_base import ManagedResource, stack_facts
from cdk_cleanrooms_ml.validation import check_member, check_model_region

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceExportJob"
_START = "StartAudienceExportJob"

_USER_NAMES = {
    "AudienceGenerationJobArn": "audience_generation_job_arn",
    "AudienceSize": "audience_size",
    "Name": "name",
    "Description": "description",
    "WaitForCompletion": "wait_for_completion",
    "WaitTimeoutSeconds": "wait_timeout",
}
"""Template property paths (the handler's messages) -> the names the user wrote."""


class IAudienceExportJob(IResource, Protocol):
    """An audience export job defined in this app."""

    @property
    def audience_export_job_name(self) -> str:
        """The export's name."""
        ...

    @property
    def output_location(self) -> str:
        """Where in S3 the export wrote the audience."""
        ...


class AudienceExportJob(ManagedResource):
    """An AWS Clean Rooms ML audience export job: exports an audience of one size that an
    audience generation job generated, to the S3 location of its configured audience model.

    CloudFormation has no resource type for it: a custom resource
    (``Custom::CleanRoomsMLAudienceExportJob``) backed by the stack's shared handler starts the
    export and waits for it to end (status ACTIVE).

    The service has no Get, Delete, tags or ARN for an export, only Start and List, and its name
    (unique per account and Region) is its only handle:

    - the handler starts each export once, whatever CloudFormation redelivers or retries: a second
      Start of the same request finds its export by its name;
    - **deleting the resource deletes nothing**: the export stays in the account's list and the
      files it wrote stay in S3 (remove them with the bucket's own lifecycle or by hand). The
      handler logs the export's output location when its resource is deleted, replaced or its
      create cancelled;
    - any change but the two wait settings starts a new export (a replacement); the old one stays,
      as on delete;
    - there is no import (an export has no ARN) and nothing to grant (reading exports is
      ``cleanrooms-ml:ListAudienceExportJobs``, which has no resource-level permissions);
    - tags: the API takes none, so neither ``Tags.of(...)`` nor the stack's tags reach it.

    The handler's role gets ``cleanrooms-ml:StartAudienceExportJob`` on the generation job (on the
    stack's generation jobs, by ARN pattern, for a job of the same stack) and
    ``cleanrooms-ml:ListAudienceExportJobs``.
    """

    _RESOURCE_TYPE = RESOURCE_TYPE
    _NOUN = "an audience export job"
    _TAGGABLE = False

    @check_argument_types
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        audience_generation_job_arn: str,
        audience_size: AudienceSize,
        name: str | None = None,
        description: str | None = None,
        wait_for_completion: bool = True,
        wait_timeout: Duration | None = None,
    ) -> None:
        """
        :param audience_generation_job_arn: ARN of the audience generation job to export
            (``AudienceGenerationJob.audience_generation_job_arn``, or the ARN as a string), of
            the stack's account and Region, ACTIVE by the time the export starts (a job of the
            same stack with ``wait_for_completion`` is). A change starts a new export.
        :param audience_size: how much of the generated audience to export:
            ``AudienceSize.absolute(count)`` or ``AudienceSize.percentage(percent)``; it must be
            one of the sizes the configured audience model allows (its
            ``audience_size_config``), which the service checks. A change starts a new export.
        :param name: the export's name, 1 to 63 characters, unique per account and Region among
            every export ever started (exports cannot be deleted, so a name is taken for good):
            two exports of the app in one environment cannot pin the same name, and a name an
            export outside this stack resource holds fails the deployment, naming ``name``. A
            change starts a new export. Default (or ``""``): a unique name the handler generates
            from the stack and the construct (a new one for each new export).
        :param description: a description, at most 255 characters. A change starts a new export.
            Default: none.
        :param wait_for_completion: wait until the export is ACTIVE (done) before CloudFormation
            moves on; an export that fails then fails the deployment with the service's status
            code and message. Without it, ``output_location`` is what the service reports once
            the export has started, which may be empty. Default: True.
        :param wait_timeout: how long to wait for ACTIVE (or for the service to accept the Start
            while it throttles) before the deployment fails: whole seconds, at most 54 minutes.
            The export goes on, and stays. Default: 50 minutes.
        """
        # No WaitCondition waits for an export: the custom resource must report where its files
        # are, known only once it is ACTIVE, so it waits itself.
        wait_seconds = _wait_timeout_seconds(wait_timeout, beyond_the_hour=False)
        _check_member(audience_generation_job_arn, "audienceGenerationJobArn")
        if name:
            _check_member(name, "name")
        if description is not None:
            _check_member(description, "description")
        super().__init__(scope, id)
        provider = CleanRoomsMLProvider.of(self)
        optional: dict[str, Any] = {
            # "" is no name, to the handler too: it generates one.
            "Name": name or None,
            "Description": description,
            "WaitTimeoutSeconds": wait_seconds,
        }
        properties: dict[str, Any] = {
            "AudienceGenerationJobArn": audience_generation_job_arn,
            "AudienceSize": audience_size._render(),
            **{key: value for key, value in optional.items() if value is not None},
            "WaitForCompletion": wait_for_completion,
        }
        validation.check_resource(RESOURCE_TYPE, properties, user_names=_USER_NAMES)
        facts = stack_facts(self, provider)
        check_model_region(
            audience_generation_job_arn,
            facts.region,
            name="audience_generation_job_arn",
            why="the handler exports it in the stack's account and Region",
            stack_account=facts.account,
            noun="an audience generation job",
        )
        self._pin_name(name, facts)
        # Only an export that passed its checks reaches the handler's policy.
        provider.allow_audience_export_job(audience_generation_job_arn)
        self._create_resource(provider, properties, tags=None, removal_policy=RemovalPolicy.DESTROY)

    @property
    def audience_export_job_name(self) -> str:
        """The export's name, given or generated (a token: ``Fn::GetAtt`` ``Name``)."""
        return self._attribute("Name")

    @property
    def output_location(self) -> str:
        """Where in S3 the export wrote the audience, as the service's List reports it (a token:
        ``Fn::GetAtt`` ``OutputLocation``); empty while unknown (``wait_for_completion=False``)."""
        return self._attribute("OutputLocation")


def _check_member(value: Any, member: str) -> None:
    """The service model's rules of a StartAudienceExportJob request member, at the user's line."""
    check_member(value, _START, member, _USER_NAMES[member[:1].upper() + member[1:]])
