"""Acknowledge a cdk-nag finding the way cdk-nag 2.x and 3.x both read, without importing cdk-nag.

cdk-nag 2.x (``Aspects.of(app).add(AwsSolutionsChecks())``) reads ``cdk_nag`` metadata on the
CloudFormation resource, as ``NagSuppressions.add_resource_suppressions`` writes it. cdk-nag 3.x
(``Validations.of(app).add_plugins(AwsSolutionsChecks(app))``) reads CDK's own acknowledgments,
one per finding id such as ``AwsSolutions-IAM5[Resource::*]``.

Both match a finding by its exact id, in which cdk-nag writes a resource ARN as
``flatten_cfn_reference`` does: a stack with ``env=`` has its Region and account in the id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

_METADATA_KEY = "cdk_nag"


def acknowledge(
    construct: IConstruct | None, rule: str, reason: str, findings: Sequence[str] = ()
) -> None:
    """Acknowledge ``rule`` on a CloudFormation resource; ``findings`` narrow it down."""
    resource = construct if isinstance(construct, cdk.CfnResource) else None
    if resource is None:
        raise TypeError(f"cdk-nag findings are acknowledged on a CfnResource, got {construct!r}")
    suppression: dict[str, Any] = {"id": rule, "reason": reason}
    if findings:
        suppression["applies_to"] = list(findings)
    existing = resource.get_metadata(_METADATA_KEY) or {}
    resource.add_metadata(
        _METADATA_KEY,
        {"rules_to_suppress": [*existing.get("rules_to_suppress", []), suppression]},
    )
    validations = cdk.Validations.of(resource)
    for finding in findings or [""]:
        try:
            validations.acknowledge(
                cdk.Acknowledgment(id=f"{rule}[{finding}]" if finding else rule, reason=reason)
            )
        except RuntimeError as error:
            # Older aws-cdk-lib (2.257 does; 2.275 does not) refuses a finding id with '::' past the
            # prefix, as in '<AWS::Region>': there the whole rule is acknowledged on the resource.
            if "InvalidValidationId" not in str(error):
                raise
            validations.acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def flatten_cfn_reference(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in a finding id.

    cdk-nag's own ``flattenCfnReference`` (the same in 2.x and 3.x): ``Fn::Join`` joined,
    ``{"Ref": "X"}`` as ``<X>``, ``{"Fn::GetAtt": ["X", "Arn"]}`` as ``<X.Arn>``, ``Fn::Sub``'s
    ``${X}`` as ``<X>``, ``Fn::ImportValue`` as its export name.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))
