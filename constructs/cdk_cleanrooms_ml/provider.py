"""The custom resource provider behind every audience generation job of a stack: one per stack."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import cast

import jsii
from aws_cdk import CfnElement, CfnResource, Duration, Stack, TagManager
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct, IValidation

from cdk_cleanrooms_ml.argument_types import check_argument_types
from cdk_cleanrooms_ml.handler_asset import handler_asset_dir
from cdk_cleanrooms_ml.nag import acknowledge, flatten_cfn_reference
from cdk_cleanrooms_ml.validation import merged_tag_problems

QUERY_INTERVAL = Duration.seconds(30)
TOTAL_TIMEOUT = Duration.minutes(55)
"""The framework's own limit; the handler fails with the job's ARN before it (wait_timeout)."""
SERVICE_TIMEOUT_SECONDS = 3600
"""CloudFormation's default and maximum ServiceTimeout for one custom resource operation."""
MAX_WAIT_TIMEOUT = Duration.seconds(TOTAL_TIMEOUT.to_seconds() - 2 * QUERY_INTERVAL.to_seconds())

DEFAULT_MEMORY_SIZE = 256
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
MIN_PYTHON = (3, 10)
"""The oldest Python the handler's code runs on."""

_ID = "CleanRoomsMLJobProvider"  # short: every job's ServiceToken names a resource under it
_CACHE_ATTRIBUTE = "_cdk_cleanrooms_ml_provider"
_JOB_ACTIONS = [
    "cleanrooms-ml:GetAudienceGenerationJob",
    "cleanrooms-ml:DeleteAudienceGenerationJob",
    "cleanrooms-ml:TagResource",
    "cleanrooms-ml:UntagResource",
    "cleanrooms-ml:ListTagsForResource",
]


class AudienceGenerationJobProvider(Construct):
    """The handler behind every audience generation job of a stack: one per stack.

    Two Lambda functions (``on_event`` and ``is_complete``), their role and log group, and the CDK
    Provider framework around them. The first job of a stack creates it with the defaults below;
    ``configure(stack, ...)`` before that job creates it with other settings.
    """

    @staticmethod
    def of(scope: Construct) -> AudienceGenerationJobProvider:
        """The provider of ``scope``'s stack, created with the defaults if it has none yet."""
        stack = Stack.of(scope)
        # Kept on the stack's Python object too: a lookup through the construct tree costs jsii
        # round trips for every job.
        cached = getattr(stack, _CACHE_ATTRIBUTE, None)
        if isinstance(cached, AudienceGenerationJobProvider):
            return cached
        existing = stack.node.try_find_child(_ID)
        provider = (
            existing
            if isinstance(existing, AudienceGenerationJobProvider)
            else AudienceGenerationJobProvider(stack, _ID)
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
    ) -> AudienceGenerationJobProvider:
        """Create the handler of ``scope``'s stack with these settings; call it before any job.

        Settings are per stack and cost nothing per job. Configuring a stack that already has its
        handler (made by an earlier job, or an earlier ``configure``) raises an error rather than
        leaving jobs on a handler with other settings.

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
        """
        stack = Stack.of(scope)
        if isinstance(getattr(stack, _CACHE_ATTRIBUTE, None), AudienceGenerationJobProvider) or (
            stack.node.try_find_child(_ID) is not None
        ):
            raise ValueError(
                f"AudienceGenerationJobProvider.configure: the stack {stack.node.path!r} has its "
                "handler already (made by an earlier job or configure call); configure it before "
                "the stack's first job"
            )
        provider = AudienceGenerationJobProvider(
            stack,
            _ID,
            memory_size=memory_size,
            log_retention=log_retention,
            log_group_encryption_key=log_group_encryption_key,
            permissions_boundary=permissions_boundary,
            role_path=role_path,
            runtime=runtime,
            architecture=architecture,
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
    ) -> None:
        """Use ``of`` or ``configure``: a provider made otherwise serves no job."""
        super().__init__(scope, id)
        memory_size = DEFAULT_MEMORY_SIZE if memory_size is None else memory_size
        if not 128 <= memory_size <= 10240:
            raise ValueError(f"memory_size: must be 128 to 10240 MiB, got {memory_size}")
        if runtime is not None:
            _check_runtime(runtime)
        stack = Stack.of(self)
        self.stack_tags: dict[str, str] = dict(stack.tags.tag_values())
        """The stack's own tags, which jobs take with the lowest precedence."""
        self._tag_checks: list[tuple[Construct, TagManager, Mapping[str, str]]] = []
        self.node.add_validation(_JobTagRules(self._tag_checks, self.stack_tags))
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
            description="Starts, tags and deletes Clean Rooms ML audience generation jobs",
            path=role_path,
        )
        self.log_group.grant_write(self.role)
        self._job_arns = stack.format_arn(
            service="cleanrooms-ml", resource="audience-generation-job", resource_name="*"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=_JOB_ACTIONS, resources=[self._job_arns])
        )
        # Settles a Start whose answer was lost: the job is found by its name.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cleanrooms-ml:ListAudienceGenerationJobs"], resources=["*"]
            )
        )
        # Before a waiter starts or adopts a job, and while it waits, it asks whether CloudFormation
        # still awaits its request (a create may have been cancelled, or answered by a redelivery).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "cloudformation:DescribeStackResource",
                    "cloudformation:DescribeStacks",
                ],
                resources=[stack.stack_id],
            )
        )
        self._start_statement: iam.PolicyStatement | None = None
        self._pass_role_statement: iam.PolicyStatement | None = None
        self._model_arns: set[str] = set()
        self._role_arns: set[str] = set()

        code = lambda_.Code.from_asset(str(handler_asset_dir()), exclude=["__pycache__", "*.pyc"])
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
                description=f"Clean Rooms ML audience generation job: {entry}",
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
        if role_path is not None:
            waiter = self.provider.node.find_child("waiter-state-machine")
            waiter_role = waiter.node.find_child("Role").node.default_child
            cast(iam.CfnRole, waiter_role).path = role_path
        if permissions_boundary is not None:
            iam.PermissionsBoundary.of(self).apply(permissions_boundary)
        self._acknowledge_unavoidable_findings(functions, framework_roles)
        self._drop_redundant_role_dependencies(functions, framework_roles)

    def _acknowledge_unavoidable_findings(
        self, functions: dict[str, lambda_.Function], framework_roles: list[iam.Role]
    ) -> None:
        """cdk-nag AwsSolutions findings this design cannot avoid, each acknowledged exactly."""
        stack = Stack.of(self)

        def function_versions(function: lambda_.IFunction) -> str:
            element = cast(CfnElement, function.node.default_child)
            return f"Resource::<{stack.get_logical_id(element)}.Arn>:*"

        handler_policy = self.role.node.find_child("DefaultPolicy").node.default_child
        # As cdk-nag words it: the stack's Region and account, literal or a token, are part of it.
        job_arns = flatten_cfn_reference(stack.resolve(self._job_arns))
        acknowledge(
            handler_policy,
            "AwsSolutions-IAM5",
            "Clean Rooms ML generates job ids; the handler may touch only audience generation jobs "
            "of this account and Region, and deletes only those whose ownership tag names it.",
            [f"Resource::{job_arns}"],
        )
        acknowledge(
            handler_policy,
            "AwsSolutions-IAM5",
            "ListAudienceGenerationJobs has no resource-level permissions; the handler lists jobs "
            "to find one whose Start answer was lost.",
            ["Resource::*"],
        )
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
        self, job: Construct, tag_manager: TagManager, own_tags: Mapping[str, str]
    ) -> None:
        """Check ``job``'s tags at synth, once ``Tags.of(...)`` has set them all.

        ``own_tags`` are the job's ``tags`` prop: an error says where a tag came from.
        """
        self._tag_checks.append((job, tag_manager, own_tags))

    def allow(self, configured_audience_model_arn: str, seed_role_arn: str) -> None:
        """Let the handler start jobs of this model and pass this seed role to Clean Rooms ML."""
        if configured_audience_model_arn not in self._model_arns:
            self._model_arns.add(configured_audience_model_arn)
            if self._start_statement is None:
                self._start_statement = iam.PolicyStatement(
                    actions=["cleanrooms-ml:StartAudienceGenerationJob"],
                    resources=[configured_audience_model_arn],
                )
                self.role.add_to_policy(self._start_statement)
            else:
                self._start_statement.add_resources(configured_audience_model_arn)
        if seed_role_arn not in self._role_arns:
            self._role_arns.add(seed_role_arn)
            if self._pass_role_statement is None:
                self._pass_role_statement = iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[seed_role_arn],
                    conditions={
                        "StringEquals": {"iam:PassedToService": "cleanrooms-ml.amazonaws.com"}
                    },
                )
                self.role.add_to_policy(self._pass_role_statement)
            else:
                self._pass_role_statement.add_resources(seed_role_arn)


@jsii.implements(IValidation)
class _JobTagRules:
    """The tag rules of every job in the stack: one validation, not one per job."""

    def __init__(
        self,
        tag_checks: list[tuple[Construct, TagManager, Mapping[str, str]]],
        stack_tags: Mapping[str, str],
    ) -> None:
        self._tag_checks = tag_checks
        self._stack_tags = stack_tags

    def validate(self) -> list[str]:
        return [
            f"{job.node.path}: {problem}"
            for job, tag_manager, own_tags in self._tag_checks
            for problem in merged_tag_problems(
                tag_manager.tag_values(), own_tags=own_tags, stack_tags=self._stack_tags
            )
        ]


def _check_runtime(runtime: lambda_.Runtime) -> None:
    version = re.fullmatch(r"python(\d+)\.(\d+)", runtime.name)
    if version is None or tuple(map(int, version.groups())) < MIN_PYTHON:
        oldest = ".".join(map(str, MIN_PYTHON))
        raise ValueError(f"runtime: must be Python {oldest} or newer, got {runtime.name}")
