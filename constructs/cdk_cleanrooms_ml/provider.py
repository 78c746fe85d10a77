"""The custom resource provider behind every Clean Rooms ML resource of a stack: one per stack.

``CleanRoomsMLProvider`` serves every kind this library defines (audience generation jobs,
configured audience models, ...). ``AudienceGenerationJobProvider`` is the same class under the
name it had when it served jobs only; both names work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import jsii
from aws_cdk import (
    CfnElement,
    CfnResource,
    Duration,
    IStableStringProducer,
    Lazy,
    Stack,
    TagManager,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct, IValidation

from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.handler_asset import handler_asset_dir
from cdk_cleanrooms_ml.long_wait import LongWait
from cdk_cleanrooms_ml.nag import acknowledge, flatten_cfn_reference
from cdk_cleanrooms_ml.validation import handler_module, is_unresolved, merged_tag_problems

_LIMITS = handler_module("engine.limits")
"""The handler's limits (``lambda/handler/cleanrooms/engine/limits.py``): defined there, once."""
QUERY_INTERVAL = Duration.seconds(_LIMITS.QUERY_INTERVAL_SECONDS)
TOTAL_TIMEOUT = Duration.seconds(_LIMITS.TOTAL_TIMEOUT_SECONDS)
"""The framework's own limit; the handler fails with the job's ARN before it (wait_timeout)."""
SERVICE_TIMEOUT_SECONDS: int = _LIMITS.SERVICE_TIMEOUT_SECONDS
"""CloudFormation's default and maximum ServiceTimeout for one custom resource operation."""
MAX_WAIT_TIMEOUT = Duration.seconds(_LIMITS.MAX_WAIT_TIMEOUT_SECONDS)

DEFAULT_MEMORY_SIZE = 256
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
MIN_PYTHON = (3, 10)
"""The oldest Python the handler's code runs on."""

# Short, since every resource's ServiceToken names a resource under it; named when the provider
# served jobs only, and kept: another id would change the logical id of everything under it.
_ID = "CleanRoomsMLJobProvider"
_CACHE_ATTRIBUTE = "_cdk_cleanrooms_ml_provider"
_PASSED_TO_CLEAN_ROOMS_ML = {"StringEquals": {"iam:PassedToService": "cleanrooms-ml.amazonaws.com"}}


@dataclass(frozen=True)
class _Kind:
    """What the handler may do to the resources of one kind, granted with the stack's first one."""

    noun: str
    """One resource, in messages and descriptions: ``audience generation job``."""
    arn_resource: str
    """The resource type in its ARNs: ``audience-generation-job``."""
    actions: tuple[str, ...]
    """The actions on the resources themselves: on every ARN of the kind in the stack's account
    and Region, since the service generates their ids."""
    arns_reason: str
    list_action: str | None
    """The List operation that finds a resource whose create answer was lost, by its name, when it
    has no resource-level permissions (granted on ``*``); None when the kind grants its own."""
    list_reason: str = ""
    service: str = "cleanrooms-ml"
    """The service prefix in its ARNs and actions."""
    arn_resource_name: str = "*"
    """What follows ``arn_resource/`` in the pattern of every ARN of the kind."""


_TAGGING = (
    "cleanrooms-ml:TagResource",
    "cleanrooms-ml:UntagResource",
    "cleanrooms-ml:ListTagsForResource",
)
JOBS = _Kind(
    noun="audience generation job",
    arn_resource="audience-generation-job",
    actions=(
        "cleanrooms-ml:GetAudienceGenerationJob",
        "cleanrooms-ml:DeleteAudienceGenerationJob",
        *_TAGGING,
    ),
    arns_reason=(
        "Clean Rooms ML generates job ids; the handler may touch only audience generation jobs "
        "of this account and Region, and deletes only those whose ownership tag names it."
    ),
    list_action="cleanrooms-ml:ListAudienceGenerationJobs",
    list_reason=(
        "ListAudienceGenerationJobs has no resource-level permissions; the handler lists jobs "
        "to find one whose Start answer was lost."
    ),
)
CONFIGURED_AUDIENCE_MODELS = _Kind(
    noun="configured audience model",
    arn_resource="configured-audience-model",
    actions=(
        "cleanrooms-ml:GetConfiguredAudienceModel",
        "cleanrooms-ml:UpdateConfiguredAudienceModel",
        "cleanrooms-ml:DeleteConfiguredAudienceModel",
        "cleanrooms-ml:PutConfiguredAudienceModelPolicy",
        "cleanrooms-ml:GetConfiguredAudienceModelPolicy",
        "cleanrooms-ml:DeleteConfiguredAudienceModelPolicy",
        *_TAGGING,
    ),
    arns_reason=(
        "Clean Rooms ML generates configured audience model ids; the handler may touch only "
        "configured audience models of this account and Region, and deletes only those whose "
        "ownership tag names it. Jobs of this stack start on its configured audience models, "
        "whose ARNs its own policy cannot name (a dependency cycle)."
    ),
    list_action="cleanrooms-ml:ListConfiguredAudienceModels",
    list_reason=(
        "ListConfiguredAudienceModels has no resource-level permissions; the handler lists "
        "configured audience models to find one whose Create answer was lost."
    ),
)
AUDIENCE_MODELS = _Kind(
    noun="audience model",
    arn_resource="audience-model",
    actions=(
        "cleanrooms-ml:GetAudienceModel",
        "cleanrooms-ml:DeleteAudienceModel",
        *_TAGGING,
    ),
    arns_reason=(
        "Clean Rooms ML generates audience model ids; the handler may touch only audience models "
        "of this account and Region, and deletes only those whose ownership tag names it. "
        "Configured audience models of this stack are made of its audience models, whose ARNs "
        "its own policy cannot name (a dependency cycle)."
    ),
    list_action="cleanrooms-ml:ListAudienceModels",
    list_reason=(
        "ListAudienceModels has no resource-level permissions; the handler lists audience models "
        "to find one whose Create answer was lost."
    ),
)
AUDIENCE_EXPORT_JOBS = _Kind(
    noun="audience export job",
    arn_resource="audience-generation-job",
    # An export has no ARN: nothing acts on one by ARN (no Get, Delete or tags). Its Start is
    # authorized on the generation job it exports: see allow_audience_export_job.
    actions=(),
    arns_reason="",
    list_action="cleanrooms-ml:ListAudienceExportJobs",
    list_reason=(
        "ListAudienceExportJobs has no resource-level permissions; the API has no Get, so the "
        "handler lists a generation job's exports to read an export's status and output "
        "location, and to find one whose Start answer was lost."
    ),
)
_KEY_ACTIONS = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
"""What Clean Rooms ML asks of the caller of CreateAudienceModel on its customer managed key."""
CONFIGURED_AUDIENCE_MODEL_ASSOCIATIONS = _Kind(
    noun="configured audience model association",
    service="cleanrooms",
    arn_resource="membership",
    arn_resource_name="*/configuredaudiencemodelassociation/*",
    actions=(
        "cleanrooms:GetConfiguredAudienceModelAssociation",
        "cleanrooms:UpdateConfiguredAudienceModelAssociation",
        "cleanrooms:DeleteConfiguredAudienceModelAssociation",
        "cleanrooms:TagResource",
        "cleanrooms:UntagResource",
        "cleanrooms:ListTagsForResource",
    ),
    arns_reason=(
        "Clean Rooms generates configured audience model association ids; the handler may touch "
        "only associations of this account and Region, creates and lists them only in the "
        "memberships the stack names, and deletes only those whose ownership tag names it."
    ),
    # Create and List need the membership too: granted per membership, see
    # allow_configured_audience_model_association.
    list_action=None,
)
_MODEL_POLICY_ACTIONS = [
    "cleanrooms-ml:DeleteConfiguredAudienceModelPolicy",
    "cleanrooms-ml:GetConfiguredAudienceModelPolicy",
    "cleanrooms-ml:PutConfiguredAudienceModelPolicy",
]
"""What Clean Rooms asks of the caller of an association with manageResourcePolicies: to change
the configured audience model's resource policy (on create and delete of the association)."""


class CleanRoomsMLProvider(Construct):
    """The handler behind every Clean Rooms ML resource of a stack: one per stack.

    Two Lambda functions (``on_event`` and ``is_complete``), their role and log group, and the CDK
    Provider framework around them. The stack's first resource (of any kind) creates it with the
    defaults below; ``configure(stack, ...)`` before that resource creates it with other settings.

    The handler's role may do what the kinds in the stack need, each kind's permissions added with
    its first resource. ``AudienceGenerationJobProvider`` is another name of this class.
    """

    @staticmethod
    def of(scope: Construct) -> CleanRoomsMLProvider:
        """The provider of ``scope``'s stack, created with the defaults if it has none yet."""
        stack = Stack.of(scope)
        # Kept on the stack's Python object too: a lookup through the construct tree costs jsii
        # round trips for every resource.
        cached = getattr(stack, _CACHE_ATTRIBUTE, None)
        if isinstance(cached, CleanRoomsMLProvider):
            return cached
        existing = stack.node.try_find_child(_ID)
        provider = (
            existing
            if isinstance(existing, CleanRoomsMLProvider)
            else CleanRoomsMLProvider(stack, _ID)
        )
        setattr(stack, _CACHE_ATTRIBUTE, provider)
        return provider

    @staticmethod
    @check_argument_types
    def configure(
        scope: Construct,
        *,
        memory_size: int | None = None,
        log_retention: logs.RetentionDays | None = None,
        log_group_encryption_key: kms.IKey | None = None,
        permissions_boundary: iam.IManagedPolicy | None = None,
        role_path: str | None = None,
        runtime: lambda_.Runtime | None = None,
        architecture: lambda_.Architecture | None = None,
        max_jobs_in_progress: int | None = None,
    ) -> CleanRoomsMLProvider:
        """Create the handler of ``scope``'s stack with these settings; call it before any resource.

        Settings are per stack and cost nothing per resource. Configuring a stack that already has
        its handler (made by an earlier resource of any kind, or an earlier ``configure``) raises
        an error rather than leaving resources on a handler with other settings.

        :param scope: any construct in the stack.
        :param memory_size: memory of each handler function, in MiB (128 to 10240). Default: 256.
        :param log_retention: how long the handler's log group keeps logs.
            Default: RetentionDays.ONE_MONTH.
        :param log_group_encryption_key: KMS key that encrypts the log group; its key policy must
            let CloudWatch Logs of this Region use it. Default: CloudWatch Logs' own encryption.
        :param permissions_boundary: permissions boundary for every role of the handler (its own,
            the Provider framework's two and its waiter's). Default: none of its own (a stack's or
            app's ``PermissionsBoundary`` still applies).
        :param role_path: IAM path of those roles, such as ``"/service/"``. Default: ``/``.
        :param runtime: a Python runtime, 3.10 or newer. Default: Runtime.PYTHON_3_14.
        :param architecture: instruction set of the handler functions.
            Default: Architecture.ARM_64.
        :param max_jobs_in_progress: how many audience generation jobs of the stack may run at
            once: the account's quota of jobs pending or in progress (Service Quotas), 1 to 1000.
            The stack's n-th job starts once its (n - max_jobs_in_progress)-th has ended (or
            started, without ``wait_for_completion``), so that no job waits long for a slot.
            Default: 10, the default quota.
        """
        stack = Stack.of(scope)
        if isinstance(getattr(stack, _CACHE_ATTRIBUTE, None), CleanRoomsMLProvider) or (
            stack.node.try_find_child(_ID) is not None
        ):
            raise ValueError(
                f"CleanRoomsMLProvider.configure: the stack {stack.node.path!r} has its handler "
                "already (made by an earlier resource or configure call); configure it before the "
                "stack's first resource (a job, a configured audience model, ...)"
            )
        provider = CleanRoomsMLProvider(
            stack,
            _ID,
            memory_size=memory_size,
            log_retention=log_retention,
            log_group_encryption_key=log_group_encryption_key,
            permissions_boundary=permissions_boundary,
            role_path=role_path,
            runtime=runtime,
            architecture=architecture,
            max_jobs_in_progress=max_jobs_in_progress,
        )
        setattr(stack, _CACHE_ATTRIBUTE, provider)
        return provider

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        memory_size: int | None = None,
        log_retention: logs.RetentionDays | None = None,
        log_group_encryption_key: kms.IKey | None = None,
        permissions_boundary: iam.IManagedPolicy | None = None,
        role_path: str | None = None,
        runtime: lambda_.Runtime | None = None,
        architecture: lambda_.Architecture | None = None,
        max_jobs_in_progress: int | None = None,
    ) -> None:
        """Use ``of`` or ``configure``: a provider made otherwise serves no resource."""
        super().__init__(scope, id)
        memory_size = DEFAULT_MEMORY_SIZE if memory_size is None else memory_size
        if not 128 <= memory_size <= 10240:
            raise ValueError(f"memory_size: must be 128 to 10240 MiB, got {memory_size}")
        if max_jobs_in_progress is None:
            max_jobs_in_progress = _LIMITS.JOBS_IN_PROGRESS_QUOTA
        if not 1 <= max_jobs_in_progress <= 1000:
            raise ValueError(
                f"max_jobs_in_progress: must be 1 to 1000 jobs, got {max_jobs_in_progress}"
            )
        self._max_jobs_in_progress = max_jobs_in_progress
        self._jobs: list[CfnResource] = []
        self._long_wait: LongWait | None = None
        self._role_path = role_path
        if runtime is not None:
            _check_runtime(runtime)
        stack = Stack.of(self)
        self.stack_tags: dict[str, str] = dict(stack.tags.tag_values())
        """The stack's own tags, which resources take with the lowest precedence."""
        self._tag_checks: list[tuple[Construct, TagManager, Mapping[str, str]]] = []
        self.node.add_validation(_TagRules(self._tag_checks, self.stack_tags))
        self._kinds: list[_Kind] = []
        self._list_statement: iam.PolicyStatement | None = None
        self._arn_patterns: dict[str, str] = {}
        self._own_arn_tokens: set[str] = set()
        self._handler_policy: IConstruct | None = None
        # By the Python object (kept alive here, so that its id stays its own): what jobs sharing
        # a secret pass, at no jsii call.
        self._secret_arns: dict[int, tuple[secretsmanager.ISecret, str]] = {}
        self._readable_secrets: dict[int, secretsmanager.ISecret] = {}
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention or DEFAULT_LOG_RETENTION,
            encryption_key=log_group_encryption_key,
        )
        self.role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=Lazy.string(_Description(self._kinds, "role")),
            path=role_path,
        )
        self.log_group.grant_write(self.role)
        self._start = _GrowingStatement(self.role, ["cleanrooms-ml:StartAudienceGenerationJob"])
        self._create_configured = _GrowingStatement(
            self.role,
            [
                "cleanrooms-ml:CreateConfiguredAudienceModel",
                "cleanrooms-ml:UpdateConfiguredAudienceModel",
            ],
        )
        self._pass_role = _GrowingStatement(
            self.role, ["iam:PassRole"], conditions=_PASSED_TO_CLEAN_ROOMS_ML
        )
        self._associate = _GrowingStatement(
            self.role,
            [
                "cleanrooms:CreateConfiguredAudienceModelAssociation",
                "cleanrooms:ListConfiguredAudienceModelAssociations",
            ],
        )
        self._model_policies = _GrowingStatement(self.role, _MODEL_POLICY_ACTIONS)
        self._create_model = _GrowingStatement(self.role, ["cleanrooms-ml:CreateAudienceModel"])
        self._start_export = _GrowingStatement(self.role, ["cleanrooms-ml:StartAudienceExportJob"])
        self._model_keys = _GrowingStatement(
            self.role,
            _KEY_ACTIONS,
            conditions={
                "StringEquals": {"kms:ViaService": f"cleanrooms-ml.{stack.region}.amazonaws.com"}
            },
        )
        self._membership_arns: dict[str, str] = {}

        code = lambda_.Code.from_asset(str(handler_asset_dir()), exclude=["__pycache__", "*.pyc"])
        self._function_settings = (code, runtime or lambda_.Runtime.PYTHON_3_14, memory_size)
        functions = {
            entry: lambda_.Function(
                self,
                name,
                code=code,
                handler=f"index.{entry}",
                runtime=runtime or lambda_.Runtime.PYTHON_3_14,
                architecture=architecture or lambda_.Architecture.ARM_64,
                role=self.role,
                log_group=self.log_group,
                memory_size=memory_size,
                timeout=Duration.minutes(2),
                description=Lazy.string(_Description(self._kinds, entry)),
                environment={"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "5"},
            )
            for entry, name in (("on_event", "OnEvent"), ("is_complete", "IsComplete"))
        }
        # Two framework roles, as the framework recommends, instead of one for each of its three
        # functions: two IAM resources fewer per stack.
        framework_roles = [
            iam.Role(
                self, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), path=role_path
            )
            for name in ("FrameworkOnEventRole", "FrameworkWaiterRole")
        ]
        for role in framework_roles:
            self.log_group.grant_write(role)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=functions["on_event"],
            is_complete_handler=functions["is_complete"],
            framework_on_event_role=framework_roles[0],
            framework_complete_and_timeout_role=framework_roles[1],
            query_interval=QUERY_INTERVAL,
            total_timeout=TOTAL_TIMEOUT,
            log_group=self.log_group,
        )
        self.service_token = self.provider.service_token
        self._functions = list(functions.values())
        if role_path is not None:
            waiter = self.provider.node.find_child("waiter-state-machine")
            waiter_role = waiter.node.find_child("Role").node.default_child
            cast(iam.CfnRole, waiter_role).path = role_path
        if permissions_boundary is not None:
            iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self._acknowledge_framework_findings(functions, framework_roles)
        self._drop_redundant_role_dependencies(functions, framework_roles)

    def _acknowledge_framework_findings(
        self, functions: dict[str, lambda_.Function], framework_roles: list[iam.Role]
    ) -> None:
        """cdk-nag AwsSolutions findings of the Provider framework, each acknowledged exactly.

        The handler policy's own findings depend on the kinds in the stack: see ``_use``.
        """
        stack = Stack.of(self)

        def function_versions(function: lambda_.IFunction) -> str:
            element = cast(CfnElement, function.node.default_child)
            return f"Resource::<{stack.get_logical_id(element)}.Arn>:*"

        user_functions = [function_versions(f) for f in functions.values()]
        for role in framework_roles:
            acknowledge(
                role.node.find_child("DefaultPolicy").node.default_child,
                "AwsSolutions-IAM5",
                "CDK Provider framework: may invoke any version of this stack's handler functions.",
                user_functions,
            )
        waiter = self.provider.node.find_child("waiter-state-machine")
        framework_functions = [
            function_versions(cast(lambda_.IFunction, self.provider.node.find_child(name)))
            for name in ("framework-isComplete", "framework-onTimeout")
        ]
        acknowledge(
            waiter.node.find_child("Role").node.find_child("DefaultPolicy").node.default_child,
            "AwsSolutions-IAM5",
            "CDK Provider framework: its waiter may invoke any version of its own functions.",
            framework_functions,
        )
        state_machine = waiter.node.find_child("Resource")
        acknowledge(
            state_machine,
            "AwsSolutions-SF1",
            "CDK Provider framework's internal waiter; its execution data holds the resource "
            "properties (SQL seeds), which are kept out of logs. The handler logs each step.",
        )
        acknowledge(
            state_machine,
            "AwsSolutions-SF2",
            "CDK Provider framework's internal waiter, which offers no X-Ray tracing option.",
        )

    def _drop_redundant_role_dependencies(
        self, functions: dict[str, lambda_.Function], framework_roles: list[iam.Role]
    ) -> None:
        """Keep each function's DependsOn on its role's policy, not on the role it already GetAtts.

        CDK makes a function depend on its whole role construct (role and policy); cfn-lint
        flags the role half as redundant (W3005), since ``Role: !GetAtt`` orders it already.
        """
        stack = Stack.of(self)
        waiter = self.provider.node.find_child("waiter-state-machine")
        pairs: list[tuple[IConstruct, IConstruct]] = [
            *((function, self.role) for function in functions.values()),
            (self.provider.node.find_child("framework-onEvent"), framework_roles[0]),
            (self.provider.node.find_child("framework-isComplete"), framework_roles[1]),
            (self.provider.node.find_child("framework-onTimeout"), framework_roles[1]),
            (waiter, waiter.node.find_child("Role")),
        ]
        for owner, role in pairs:
            policy = cast(CfnElement, role.node.find_child("DefaultPolicy").node.default_child)
            resource = cast(CfnResource, owner.node.default_child)
            resource.add_override("DependsOn", [stack.get_logical_id(policy)])

    def check_tags_at_synth(
        self, resource: Construct, tag_manager: TagManager, own_tags: Mapping[str, str]
    ) -> None:
        """Check ``resource``'s tags at synth, once ``Tags.of(...)`` has set them all.

        ``own_tags`` are the resource's ``tags`` prop: an error says where a tag came from.
        """
        self._tag_checks.append((resource, tag_manager, own_tags))

    def note_own_arn(self, arn: str) -> None:
        """Record the ARN (a token) of a resource this provider serves.

        A permission of the handler on such an ARN would make a dependency cycle (the handler's
        policy -> the resource -> the provider -> the policy): one on a string that holds it is
        scoped by the ARN pattern of the stack's account and Region instead.
        """
        self._own_arn_tokens.add(arn)

    def allow(
        self,
        configured_audience_model_arn: str,
        seed_role_arn: str,
        parameters_secret: secretsmanager.ISecret | None = None,
    ) -> None:
        """Let the handler start jobs of this model and pass this seed role to Clean Rooms ML,
        and read the seed's ``parameters_secret``, if any."""
        self._use(JOBS)
        self._start.add(self._scoped(configured_audience_model_arn, "configured-audience-model"))
        self._pass_role.add(seed_role_arn)
        if parameters_secret is not None:
            self._allow_reading(parameters_secret)

    def secret_arn(self, secret: secretsmanager.ISecret) -> str:
        """``secret.secret_arn``, read once per secret however many resources name it."""
        known = self._secret_arns.get(id(secret))
        if known is None:
            known = (secret, secret.secret_arn)
            self._secret_arns[id(secret)] = known
        return known[1]

    def _allow_reading(self, secret: secretsmanager.ISecret) -> None:
        """Let the handler read ``secret``: GetSecretValue and DescribeSecret on it (what
        ``grant_read`` grants), and kms:Decrypt through Secrets Manager on its key, if it has
        one. Once per secret and stack.

        ``grant_read`` lets a customer managed key decrypt by adding the handler's role to the
        key's policy, not to the role's. A secret or key of another stack than the handler's is
        granted through an import of the secret by ARN, so that its stack never names the role
        (which would make a cycle between the stacks: the job's stack names the secret).
        """
        if id(secret) in self._readable_secrets:
            return
        self._readable_secrets[id(secret)] = secret
        stack = Stack.of(self)
        key = secret.encryption_key
        granted: secretsmanager.ISecret = secret
        if secret.stack is not stack or (key is not None and key.stack is not stack):
            full_arn = secret.secret_full_arn
            granted = secretsmanager.Secret.from_secret_attributes(
                self,
                f"ParametersSecret{len(self._readable_secrets)}",
                secret_complete_arn=full_arn,
                secret_partial_arn=None if full_arn is not None else secret.secret_arn,
            )
        granted.grant_read(self.role)
        if key is not None:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"
                        }
                    },
                )
            )

    def allow_configured_audience_model(
        self, audience_model_arn: str, output_role_arn: str
    ) -> None:
        """Let the handler configure this audience model and pass this output role to the service.

        CreateConfiguredAudienceModel, and UpdateConfiguredAudienceModel when the model changes,
        are authorized on the audience model.
        """
        self._use(CONFIGURED_AUDIENCE_MODELS)
        self._create_configured.add(self._scoped(audience_model_arn, "audience-model"))
        self._pass_role.add(output_role_arn)

    def allow_audience_model(self, training_dataset_arn: str, kms_key_arn: str | None) -> None:
        """Let the handler train audience models on this training dataset, encrypted with this
        key, if any.

        CreateAudienceModel is authorized on the training dataset. A customer managed key is
        granted in the role's own policy, on that key only and through Clean Rooms ML only: a
        key of another stack then gets no statement in its policy naming this stack's role.
        """
        self._use(AUDIENCE_MODELS)
        self._create_model.add(training_dataset_arn)
        if kms_key_arn is not None:
            self._model_keys.add(kms_key_arn)

    def allow_audience_export_job(self, audience_generation_job_arn: str) -> None:
        """Let the handler export audiences of this generation job (and list its exports).

        StartAudienceExportJob is authorized on the generation job: on its ARN, or on the
        pattern of the generation jobs of the stack's account and Region for a job of this stack
        (its own ARN would make a dependency cycle).
        """
        self._use(AUDIENCE_EXPORT_JOBS)
        self._start_export.add(
            self._scoped(audience_generation_job_arn, AUDIENCE_EXPORT_JOBS.arn_resource)
        )

    def allow_configured_audience_model_association(
        self,
        membership_id: str,
        configured_audience_model_arn: str,
        *,
        manage_resource_policies: bool,
    ) -> None:
        """Let the handler associate configured audience models in this membership, and, when
        Clean Rooms is to manage the model's resource policy, change that policy.

        CreateConfiguredAudienceModelAssociation and ListConfiguredAudienceModelAssociations are
        authorized on the membership and on the association.
        """
        kind = CONFIGURED_AUDIENCE_MODEL_ASSOCIATIONS
        self._use(kind)
        self._associate.add(
            self._arn_pattern(kind.arn_resource, kind.service, kind.arn_resource_name)
        )
        self._associate.add(self._membership_arn(membership_id))
        if not manage_resource_policies:
            return
        model = self._scoped(configured_audience_model_arn, "configured-audience-model")
        # A model of this stack: the configured models' own statement has these actions on it.
        if model is not configured_audience_model_arn and CONFIGURED_AUDIENCE_MODELS in self._kinds:
            return
        self._model_policies.add(model)

    def _membership_arn(self, membership_id: str) -> str:
        """The ARN of the membership ``membership_id`` (a token is fine) in the stack's account
        and Region, made once per membership."""
        arn = self._membership_arns.get(membership_id)
        if arn is None:
            arn = Stack.of(self).format_arn(
                service="cleanrooms", resource="membership", resource_name=membership_id
            )
            self._membership_arns[membership_id] = arn
        return arn

    def job_lane(self, job: CfnResource, completion: CfnResource) -> None:
        """Queue the stack's next job: ``job`` (its custom resource) starts once the job
        ``max_jobs_in_progress`` places ahead of it has ended (its ``completion``: its
        WaitCondition, or its custom resource), so that the account's quota is never full of the
        stack's own jobs."""
        if len(self._jobs) >= self._max_jobs_in_progress:
            job.node.add_dependency(self._jobs[len(self._jobs) - self._max_jobs_in_progress])
        self._jobs.append(completion)

    def allow_long_wait(self, action: str, arn_resource: str | None) -> None:
        """Let the stack wait beyond the hour for resources read by ``action``, on every ARN of
        ``arn_resource`` in the stack's account and Region (None: an action on ``*``, such as a
        List). The long wait's state machine and function are made with the first one."""
        if self._long_wait is None:
            code, runtime, memory_size = self._function_settings
            self._long_wait = LongWait(
                self,
                "LongWait",
                code=code,
                runtime=runtime,
                architecture=self._functions[0].architecture,
                memory_size=memory_size,
                log_group=self.log_group,
                role_path=self._role_path,
                handler_functions=self._functions,
                handler_role=self.role,
            )
        pattern = "*" if arn_resource is None else self._arn_pattern(arn_resource)
        if not self._long_wait.allow(action, pattern):
            return
        finding = flatten_cfn_reference(Stack.of(self).resolve(pattern))
        acknowledge(
            self._long_wait.role.node.find_child("DefaultPolicy").node.default_child,
            "AwsSolutions-IAM5",
            "Clean Rooms ML generates resource ids; a long wait reads only resources of this "
            "account and Region (a List has no resource-level permissions).",
            [f"Resource::{finding}"],
        )

    def _use(self, kind: _Kind) -> None:
        """Grant the handler what ``kind`` needs, once per stack, and acknowledge its findings."""
        if kind in self._kinds:
            return
        first = not self._kinds
        self._kinds.append(kind)
        handler_policy = self._policy_resource()
        if kind.actions:
            pattern = self._arn_pattern(kind.arn_resource, kind.service, kind.arn_resource_name)
            self.role.add_to_policy(
                iam.PolicyStatement(actions=list(kind.actions), resources=[pattern])
            )
            # As cdk-nag words it: the stack's Region and account, literal or a token, are in it.
            arns = flatten_cfn_reference(Stack.of(self).resolve(pattern))
            acknowledge(
                handler_policy, "AwsSolutions-IAM5", kind.arns_reason, [f"Resource::{arns}"]
            )
        if kind.list_action is not None:
            acknowledge(handler_policy, "AwsSolutions-IAM5", kind.list_reason, ["Resource::*"])
            if self._list_statement is not None:
                self._list_statement.add_actions(kind.list_action)
            else:
                self._list_statement = iam.PolicyStatement(
                    actions=[kind.list_action], resources=["*"]
                )
                self.role.add_to_policy(self._list_statement)
        if first:
            # Before a waiter starts or adopts a resource, and while it waits, it asks whether
            # CloudFormation still awaits its request (a create may have been cancelled, or
            # answered by a redelivery).
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "cloudformation:DescribeStackResource",
                        "cloudformation:DescribeStacks",
                    ],
                    resources=[Stack.of(self).stack_id],
                )
            )

    def _scoped(self, arn: str, arn_resource: str) -> str:
        """``arn``, or the ARN pattern when it holds the ARN of a resource this provider serves."""
        if is_unresolved(arn) and any(token in arn for token in self._own_arn_tokens):
            return self._arn_pattern(arn_resource)
        return arn

    def _arn_pattern(
        self, arn_resource: str, service: str = "cleanrooms-ml", resource_name: str = "*"
    ) -> str:
        """Every ``arn_resource`` ARN of ``service`` in the stack's account and Region."""
        key = f"{service}:{arn_resource}/{resource_name}"
        pattern = self._arn_patterns.get(key)
        if pattern is None:
            pattern = Stack.of(self).format_arn(
                service=service, resource=arn_resource, resource_name=resource_name
            )
            self._arn_patterns[key] = pattern
        return pattern

    def _policy_resource(self) -> IConstruct | None:
        """The handler's policy, made by the log group's grant (``acknowledge`` checks it is)."""
        if self._handler_policy is None:
            self._handler_policy = self.role.node.find_child("DefaultPolicy").node.default_child
        return self._handler_policy


AudienceGenerationJobProvider = CleanRoomsMLProvider
"""The name ``CleanRoomsMLProvider`` had when it served audience generation jobs only."""


class _GrowingStatement:
    """One statement of the handler's policy, made with its first resource and grown by the rest."""

    def __init__(
        self,
        role: iam.Role,
        actions: Sequence[str],
        conditions: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._role = role
        self._actions = list(actions)
        self._conditions = conditions
        self._statement: iam.PolicyStatement | None = None
        self._resources: set[str] = set()

    def add(self, resource: str) -> None:
        if resource in self._resources:
            return
        self._resources.add(resource)
        if self._statement is not None:
            self._statement.add_resources(resource)
            return
        self._statement = iam.PolicyStatement(
            actions=self._actions,
            resources=[resource],
            conditions=dict(self._conditions) if self._conditions else None,
        )
        self._role.add_to_policy(self._statement)


@jsii.implements(IStableStringProducer)
class _Description:
    """The description of the handler's role or of one of its functions: the kinds it serves.

    Read at synth, once every resource of the stack is defined; a stack of jobs only keeps the
    words it always had.
    """

    def __init__(self, kinds: list[_Kind], what: str) -> None:
        self._kinds = kinds
        self._what = what

    def produce(self) -> str:
        if self._what == "role":
            if self._kinds == [JOBS]:
                return "Starts, tags and deletes Clean Rooms ML audience generation jobs"
            # Exports are only started and read: the API can neither tag nor delete one.
            managed = [f"{kind.noun}s" for kind in self._kinds if kind is not AUDIENCE_EXPORT_JOBS]
            exports = AUDIENCE_EXPORT_JOBS in self._kinds
            parts = []
            if managed or not exports:
                parts.append(
                    f"creates, tags and deletes Clean Rooms ML {', '.join(managed) or 'resources'}"
                )
            if exports:
                parts.append("starts Clean Rooms ML audience export jobs")
            text = "; ".join(parts)
            return text[:1].upper() + text[1:]
        served = self._kinds[0].noun if len(self._kinds) == 1 else "resources"
        return f"Clean Rooms ML {served}: {self._what}"


@jsii.implements(IValidation)
class _TagRules:
    """The tag rules of every resource in the stack: one validation, not one per resource."""

    def __init__(
        self,
        tag_checks: list[tuple[Construct, TagManager, Mapping[str, str]]],
        stack_tags: Mapping[str, str],
    ) -> None:
        self._tag_checks = tag_checks
        self._stack_tags = stack_tags

    def validate(self) -> list[str]:
        return [
            f"{resource.node.path}: {problem}"
            for resource, tag_manager, own_tags in self._tag_checks
            for problem in merged_tag_problems(
                tag_manager.tag_values(), own_tags=own_tags, stack_tags=self._stack_tags
            )
        ]


def _check_runtime(runtime: lambda_.Runtime) -> None:
    version = re.fullmatch(r"python(\d+)\.(\d+)", runtime.name)
    if version is None or tuple(map(int, version.groups())) < MIN_PYTHON:
        oldest = ".".join(map(str, MIN_PYTHON))
        raise ValueError(f"runtime: must be Python {oldest} or newer, got {runtime.name}")
