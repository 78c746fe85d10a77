"""``AudienceModel``: an AWS Clean Rooms ML audience model, trained on a training dataset."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from aws_cdk import Duration, IResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk_cleanrooms_ml import validation
from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.audience_generation_job import _wait_timeout_seconds
from cdk_cleanrooms_ml.long_wait import MAX_LONG_WAIT
from cdk_cleanrooms_ml.provider import CleanRoomsMLProvider
from cdk_cleanrooms_ml.resource_base import (
    GrantableResource,
    ImportedResource,
    ManagedResource,
    check_removal_policy,
    stack_facts,
)
from cdk_cleanrooms_ml.validation import check_member, check_model_region, check_tags, is_unresolved

RESOURCE_TYPE = "Custom::CleanRoomsMLAudienceModel"
READ_ACTIONS = ("cleanrooms-ml:GetAudienceModel", "cleanrooms-ml:ListTagsForResource")
DEFAULT_WAIT_TIMEOUT = MAX_LONG_WAIT
"""Training takes hours: by default the deployment waits as long as a WaitCondition can."""
_CREATE = "CreateAudienceModel"

_USER_NAMES = {
    "TrainingDatasetArn": "training_dataset_arn",
    "TrainingDataStartTime": "training_data_start_time",
    "TrainingDataEndTime": "training_data_end_time",
    "KmsKeyArn": "kms_key",
    "Name": "name",
    "Description": "description",
    "Tags": "tags",
    "WaitForCompletion": "wait_for_completion",
    "WaitTimeoutSeconds": "wait_timeout",
}
"""Template property paths (the handler's messages) -> the names the user wrote."""


class IAudienceModel(IResource, Protocol):
    """An audience model, defined in this app or imported."""

    @property
    def audience_model_arn(self) -> str:
        """The audience model's ARN."""
        ...

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Grant ``actions`` on this audience model to ``grantee``."""
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this audience model: GetAudienceModel, ListTagsForResource."""
        ...


class AudienceModelBase(GrantableResource):
    """What defined and imported audience models share: the ARN and the grants."""

    _READ_ACTIONS = READ_ACTIONS

    @property
    def audience_model_arn(self) -> str:
        raise NotImplementedError

    @property
    def _grant_arn(self) -> str:
        return self.audience_model_arn


class _ImportedAudienceModel(AudienceModelBase, ImportedResource):
    @property
    def audience_model_arn(self) -> str:
        return self._imported_arn


class AudienceModel(AudienceModelBase, ManagedResource):
    """An AWS Clean Rooms ML audience model: a lookalike model trained on a training dataset.

    CloudFormation has no resource type for it: a custom resource
    (``Custom::CleanRoomsMLAudienceModel``) backed by the stack's shared handler creates it, tags
    it, waits for the training to end (status ACTIVE) and deletes it with the stack.

    The service cannot update an audience model: a change of any prop but ``tags`` (and the two
    wait settings, which are the handler's own) replaces it, that is, trains a new model, then
    deletes the old one.

    Waiting: training often outlasts the hour a custom resource may take, so by default the
    deployment waits up to 12 hours for it, through a CloudFormation WaitCondition beside the custom
    resource (see the README, "Waiting beyond one hour"): the custom resource completes once the
    model exists, and the WaitCondition once it is ACTIVE. A training that fails (or outlasts
    ``wait_timeout``) fails the deployment with the service's status code and message, and the
    rollback deletes the model (unless ``removal_policy`` is RETAIN). A ``wait_timeout`` of 54
    minutes or less waits within the custom resource, with no WaitCondition.

    With ``wait_for_completion=True``, whatever in this library uses ``audience_model_arn`` (a
    ``ConfiguredAudienceModel``, in this stack or another) is created only once training has
    ended. A resource of your own that uses it should ``node.add_dependency(model)``, which makes
    it wait for the WaitCondition too (a GetAtt alone waits for the custom resource only).

    Tags: the ``tags`` prop, the stack's own tags and ``Tags.of(scope).add(...)`` all reach it, with
    CDK's precedence, as for ``AudienceGenerationJob``. Its ``node.default_child`` is its
    ``CfnResource``, and ``apply_removal_policy`` works on it.
    """

    _RESOURCE_TYPE = RESOURCE_TYPE
    _NOUN = "an audience model"
    _LONG_WAIT_READ = ("cleanrooms-ml:GetAudienceModel", "audience-model")

    @check_argument_types
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        training_dataset_arn: str,
        name: str | None = None,
        description: str | None = None,
        training_data_start_time: datetime | str | None = None,
        training_data_end_time: datetime | str | None = None,
        kms_key: kms.IKey | str | None = None,
        tags: Mapping[str, str] | None = None,
        wait_for_completion: bool = True,
        wait_timeout: Duration | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param training_dataset_arn: ARN of the training dataset to train on
            (``CfnTrainingDataset.attr_training_dataset_arn``, or the ARN as a string), of the
            stack's account and Region. A change replaces the model.
        :param name: the model's name, 1 to 63 characters. Two audience models of the app in one
            account and Region cannot pin the same name. A change replaces the model.
            Default (or ``""``): a unique name the handler generates from the stack and the
            construct (a new one on each replacement).
        :param description: a description, at most 255 characters. A change replaces the model.
            Default: none.
        :param training_data_start_time: the start of the training window: a ``datetime`` with a
            timezone, or an ISO 8601 string with an offset (``"2024-01-01T00:00:00+00:00"``). A
            change replaces the model. Default: not sent (the service's default).
        :param training_data_end_time: the end of the training window, as the start; after it when
            both are given. A change replaces the model. Default: not sent (the service's default).
        :param kms_key: the KMS key that encrypts the trained model and its data, as an
            ``kms.IKey`` or a key ARN, in the stack's Region. The handler's role is allowed to use
            it through Clean Rooms ML (its own policy; the key's policy must let the account's IAM
            policies grant it, as a key's default policy does). A change replaces the model.
            Default: a key AWS owns.
        :param tags: tags for it, merged with the stack's tags and ``Tags.of(...)``. Changed in
            place. Default: no tags of its own.
        :param wait_for_completion: wait until the model is ACTIVE (trained) before CloudFormation
            moves on. Without it, a resource that uses ``audience_model_arn`` may be created while
            the model still trains, which the service may refuse. Default: True.
        :param wait_timeout: how long to wait for ACTIVE before the deployment fails: whole
            seconds, up to 12 hours (CloudFormation's WaitCondition limit). Beyond 54 minutes a
            WaitCondition waits; up to 54 minutes, the custom resource itself. Default: 12 hours.
        :param removal_policy: what happens to the model when it leaves the stack; ``RETAIN``
            keeps it. Default: RemovalPolicy.DESTROY.
        """
        check_removal_policy(removal_policy, self._NOUN)
        wait_seconds = _wait_timeout_seconds(wait_timeout or DEFAULT_WAIT_TIMEOUT)
        if tags:
            check_tags(tags)
        _check_member(training_dataset_arn, "trainingDatasetArn", "training_dataset_arn")
        if name:
            _check_member(name, "name", "name")
        if description is not None:
            _check_member(description, "description", "description")
        start = _time(training_data_start_time, "training_data_start_time")
        end = _time(training_data_end_time, "training_data_end_time")
        _check_window(start, end)
        if isinstance(kms_key, str):
            _check_member(kms_key, "kmsKeyArn", "kms_key")
        super().__init__(scope, id)
        provider = CleanRoomsMLProvider.of(self)
        kms_key_arn = kms_key if kms_key is None or isinstance(kms_key, str) else kms_key.key_arn

        optional: dict[str, Any] = {
            "TrainingDataStartTime": None if start is None else start[0],
            "TrainingDataEndTime": None if end is None else end[0],
            "KmsKeyArn": kms_key_arn,
            # "" is no name, to the handler too: it generates one.
            "Name": name or None,
            "Description": description,
            "WaitTimeoutSeconds": wait_seconds,
        }
        properties: dict[str, Any] = {
            "TrainingDatasetArn": training_dataset_arn,
            **{key: value for key, value in optional.items() if value is not None},
            "WaitForCompletion": wait_for_completion,
        }
        _check(properties)
        facts = stack_facts(self, provider)
        check_model_region(
            training_dataset_arn,
            facts.region,
            name="training_dataset_arn",
            why="an audience model is trained by the stack's account, in its Region, on a "
            "training dataset of its own",
            stack_account=facts.account,
            noun="a training dataset",
        )
        self._pin_name(name, facts)
        # Only a model that passed its checks reaches the handler's policy.
        provider.allow_audience_model(training_dataset_arn, kms_key_arn)
        self._create_resource(provider, properties, tags=tags, removal_policy=removal_policy)

    @staticmethod
    @check_argument_types
    def from_audience_model_arn(
        scope: Construct, id: str, audience_model_arn: str
    ) -> IAudienceModel:
        """Refer to an audience model outside this app (or in another stack) by its ARN."""
        return _ImportedAudienceModel(scope, id, audience_model_arn)

    @property
    def audience_model_arn(self) -> str:
        """The audience model's ARN (a token: ``Fn::GetAtt`` on the custom resource).

        With ``wait_for_completion`` (the default), a resource that uses it is created once the
        model is trained. A ``ConfiguredAudienceModel`` of the same stack may use it: the handler's
        permission to configure it is then scoped to the audience models of the stack's account
        and Region (its own ARN would make a dependency cycle).
        """
        return self._attribute("AudienceModelArn", arn=True)


def _time(value: datetime | str | None, name: str) -> tuple[str, datetime | None] | None:
    """The ISO 8601 string the template holds, and the moment when it is known at synth."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name}: must be a datetime with a timezone (a naive one could be read in any "
                f"zone), got {value.isoformat()!r}; write e.g. "
                f"datetime({value.year}, {value.month}, {value.day}, tzinfo=timezone.utc)"
            )
        return value.isoformat(), value
    if is_unresolved(value):
        return value, None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{name}: must be an ISO 8601 date and time with an offset, such as "
            f"'2024-01-01T00:00:00+00:00', got {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(
            f"{name}: must have an offset (a time without one could be read in any zone), got "
            f"{value!r}; write e.g. {value + '+00:00'!r}"
        )
    return value, moment


def _check_window(
    start: tuple[str, datetime | None] | None, end: tuple[str, datetime | None] | None
) -> None:
    """Refuse a training window that ends before it starts (when both are known at synth)."""
    if start is None or end is None or start[1] is None or end[1] is None:
        return
    if start[1] >= end[1]:
        raise ValueError(
            f"training_data_start_time: must be before training_data_end_time, got {start[0]!r} "
            f"and an end of {end[0]!r}"
        )


def _check_member(value: Any, member: str, name: str) -> None:
    """The service model's rules of a CreateAudienceModel request member, at the user's line."""
    check_member(value, _CREATE, member, name)


def _check(properties: Mapping[str, Any]) -> None:
    """The handler's own checks of the rendered properties (the user's names in messages)."""
    validation.check_resource(RESOURCE_TYPE, properties, user_names=_USER_NAMES)
