"""Waits beyond the hour a custom resource may take: a WaitCondition each, one loop per stack.

A CloudFormation custom resource must answer within an hour; audience models can train for longer,
and jobs can run for longer. A resource whose ``wait_timeout`` is above ``MAX_WAIT_TIMEOUT`` (54
minutes) therefore gets an ``AWS::CloudFormation::WaitCondition`` (which waits up to 12 hours) and
its handle beside its custom resource. The custom resource completes once the resource exists and
has started a check loop: an execution of the stack's one ``LongWait`` state machine, which calls
the handler's ``watch`` function now and then (every 5 minutes at most) until the resource is ACTIVE
or has failed, and then signals the WaitCondition with SUCCESS or with the service's reason.
Whatever uses the resource's ARN in this library waits for that WaitCondition, not just for the
custom resource (``depend_on_waits``).

The WaitCondition's logical id carries a digest of the custom resource's properties (but its
tags) and of those of the resources they refer to: a change that may replace the resource makes a
new WaitCondition, which waits for the new resource (a WaitCondition cannot be updated, and one
that has had its answer would not wait).
The handler's side is ``lambda/handler/cleanrooms/engine/long_wait.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from aws_cdk import CfnElement, CfnResource, Duration, Reference, Stack, Tokenization
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_cleanrooms_ml.nag import acknowledge
from cdk_cleanrooms_ml.validation import handler_module, is_unresolved

_LIMITS = handler_module("engine.limits")
MAX_LONG_WAIT = Duration.seconds(_LIMITS.MAX_LONG_WAIT_SECONDS)
"""The longest wait: CloudFormation's WaitCondition times out after 12 hours at most."""
STATE_MACHINE_ENV: str = _LIMITS.LONG_WAIT_STATE_MACHINE_ENV
_EXECUTION_TIMEOUT = Duration.hours(13)
"""No check loop outlives its WaitCondition by long, whatever happens to its checks."""

_UPSTREAM_DEPTH = 2
"""How far up the references a WaitCondition's digest looks: a model, its dataset, its table."""
_WAITS: dict[str, CfnResource] = {}
"""The WaitCondition of each resource that has one, by the token of that resource's ARN."""


def add_wait_condition(
    scope: Construct, resource: CfnResource, properties: Mapping[str, Any]
) -> CfnResource:
    """The WaitCondition (and its handle) that waits for ``resource`` beyond the hour; the
    handle's URL goes into its ``WaitConditionHandle`` property."""
    defining = {key: value for key, value in properties.items() if key != "ServiceToken"}
    canonical = json.dumps(
        _definition(scope, defining, _UPSTREAM_DEPTH), sort_keys=True, default=str
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:8].upper()
    handle = cloudformation.CfnWaitConditionHandle(scope, f"WaitHandle{digest}")
    condition = cloudformation.CfnWaitCondition(
        scope,
        f"Wait{digest}",
        handle=handle.ref,
        timeout=str(int(properties["WaitTimeoutSeconds"])),
        count=1,
    )
    condition.node.add_dependency(resource)
    resource.add_property_override("WaitConditionHandle", handle.ref)
    return condition


def _definition(scope: Construct, value: Any, depth: int) -> Any:
    """``value`` resolved, with the properties of the resources it refers to, ``depth`` levels up.

    A resource is replaced when a value it refers to changes (a training dataset replaced makes a
    new ARN for the model), which its own resolved properties (a ``Fn::GetAtt``) do not show: the
    properties of what it refers to do. Taking in more than what replaces it only makes a new
    WaitCondition where none was needed, which the handler signals at once.
    """
    upstream = {}
    if depth > 0:
        for target in _references(value):
            if isinstance(target, CfnResource) and target.node.path not in upstream:
                properties = {
                    key: item
                    for key, item in target._cfn_properties.items()
                    if key not in ("Tags", "tags", "ServiceToken")
                }
                upstream[target.node.path] = _definition(target, properties, depth - 1)
    return {"value": Stack.of(scope).resolve(value), "upstream": upstream}


def _references(value: Any) -> list[Any]:
    """The targets of the references (``Ref``, ``Fn::GetAtt``) in ``value``."""
    if isinstance(value, Mapping):
        return [target for item in value.values() for target in _references(item)]
    if isinstance(value, (list, tuple)):
        return [target for item in value for target in _references(item)]
    if isinstance(value, str) and is_unresolved(value):
        return [
            token.target
            for token in Tokenization.reverse_string(value).tokens
            if isinstance(token, Reference)
        ]
    return []


def note_wait(arn: str, condition: CfnResource) -> None:
    """Record that what uses ``arn`` (a token) must wait for ``condition``."""
    _WAITS[arn] = condition


def depend_on_waits(resource: CfnResource, properties: Mapping[str, Any]) -> None:
    """Make ``resource`` wait for the WaitCondition of every resource whose ARN it names."""
    for value in properties.values():
        condition = _WAITS.get(value) if isinstance(value, str) else None
        # A resource of another stack needs nothing more: the ARN is that stack's export, so
        # CloudFormation deploys it first, WaitCondition included.
        if condition is not None and Stack.of(condition) is Stack.of(resource):
            resource.node.add_dependency(condition)


class LongWait(Construct):
    """The stack's check loop for waits beyond the hour, made with the first such wait.

    A Step Functions state machine (Standard: an execution costs nothing while it waits) runs one
    execution per waiting resource: check, then wait the seconds the check returned, until a
    check says it is done. Each check is one call of the ``watch`` function (the handler's code),
    whose role may only read the kinds that wait this way. The handler's functions may start
    executions of this state machine, and nothing else may.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        code: lambda_.Code,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        memory_size: int,
        log_group: logs.ILogGroup,
        role_path: str | None,
        handler_functions: Sequence[lambda_.Function],
        handler_role: iam.IRole,
    ) -> None:
        super().__init__(scope, id)
        self._allowed: set[tuple[str, str]] = set()
        self.role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads the Clean Rooms ML resources that a wait beyond the hour waits for",
            path=role_path,
        )
        log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            code=code,
            handler="index.watch",
            runtime=runtime,
            architecture=architecture,
            role=self.role,
            log_group=log_group,
            memory_size=memory_size,
            timeout=Duration.minutes(1),
            description="Clean Rooms ML resources: one check of a wait beyond the hour",
            environment={"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "5"},
        )
        check = tasks.LambdaInvoke(
            self,
            "Check",
            lambda_function=self.function,
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        # A check that fails (a bug, an outage) is tried again; the loop never ends silently early.
        check.add_retry(
            errors=[sfn.Errors.ALL],
            interval=Duration.minutes(1),
            max_attempts=5,
            backoff_rate=2,
        )
        pause = sfn.Wait(self, "Pause", time=sfn.WaitTime.seconds_path("$.WaitSeconds"))
        # Past its retries (Lambda or the service down for long), a check is tried again later
        # rather than ending the loop unsignaled: the check's own deadline, the WaitCondition's
        # timeout and the execution's bound its length.
        later = sfn.Wait(
            self,
            "CheckAgainLater",
            time=sfn.WaitTime.duration(Duration.seconds(_LIMITS.LONG_WAIT_CHECK_SECONDS)),
        )
        check.add_catch(later.next(check), errors=[sfn.Errors.ALL], result_path="$.LastError")
        done = (
            sfn.Choice(self, "Done")
            .when(sfn.Condition.boolean_equals("$.Done", True), sfn.Succeed(self, "Ended"))
            .otherwise(pause.next(check))
        )
        state_machine_role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            path=role_path,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(check.next(done)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=_EXECUTION_TIMEOUT,
            role=state_machine_role,
            comment="Waits beyond the hour for Clean Rooms ML resources of this stack",
        )
        for function in handler_functions:
            function.add_environment(STATE_MACHINE_ENV, self.state_machine.state_machine_arn)
        self.state_machine.grant_start_execution(handler_role)
        self._acknowledge_findings(state_machine_role)
        # Each depends on its role's policy only: its GetAtt of the role orders it already (a
        # DependsOn on the role too is one cfn-lint flags, W3005).
        stack = Stack.of(self)
        for owner, role in ((self.function, self.role), (self.state_machine, state_machine_role)):
            policy = cast(CfnElement, role.node.find_child("DefaultPolicy").node.default_child)
            resource = cast(CfnResource, owner.node.default_child)
            resource.add_override("DependsOn", [stack.get_logical_id(policy)])

    def allow(self, action: str, resources: str) -> bool:
        """Let the checks do ``action`` (a kind's read) on ``resources`` (an ARN pattern); False
        if they may already."""
        if (action, resources) in self._allowed:
            return False
        self._allowed.add((action, resources))
        self.role.add_to_policy(iam.PolicyStatement(actions=[action], resources=[resources]))
        return True

    def _acknowledge_findings(self, state_machine_role: iam.Role) -> None:
        stack = Stack.of(self)
        function = cast(CfnElement, self.function.node.default_child)
        acknowledge(
            state_machine_role.node.find_child("DefaultPolicy").node.default_child,
            "AwsSolutions-IAM5",
            "The long wait's state machine may invoke any version of its own check function.",
            [f"Resource::<{stack.get_logical_id(function)}.Arn>:*"],
        )
        state_machine = self.state_machine.node.default_child
        acknowledge(
            state_machine,
            "AwsSolutions-SF1",
            "Each execution's input holds the URL that signals its WaitCondition, kept out of "
            "logs; the check function logs every check.",
        )
        acknowledge(
            state_machine,
            "AwsSolutions-SF2",
            "A loop of one Lambda call every few minutes: the function's logs trace it.",
        )
