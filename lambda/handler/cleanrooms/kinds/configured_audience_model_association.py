"""``Custom::CleanRoomsConfiguredAudienceModelAssociation``: a configured audience model associated
with a collaboration, through one of its memberships.

It belongs to the ``cleanrooms`` service, not ``cleanroomsml``. Its requests name it by membership
and id (both in its ARN), its create and Get responses wrap it, its name is
``configuredAudienceModelAssociationName`` (``name`` in Update), names are unique per membership,
and its Get carries no tags (ListTagsForResource reads them). Created, updated and deleted
synchronously; Update changes the name and the description in place (a removed description is
set to ""); a new membership, configured model or ``ManageResourcePolicies`` needs a new one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..engine.kind import Kind, Operations

RESOURCE_TYPE = "Custom::CleanRoomsConfiguredAudienceModelAssociation"
ARN_PATTERN = re.compile(
    r"arn:aws[-a-z]*:cleanrooms:[-a-z0-9]+:[0-9]{12}:membership/[0-9a-f-]{36}"
    r"/configuredaudiencemodelassociation/[0-9a-f-]{36}"
)


def _identify(arn: str) -> dict[str, str]:
    """``.../membership/<membership id>/configuredaudiencemodelassociation/<id>``."""
    _, membership, _, association = arn.split("/")
    return {
        "membershipIdentifier": membership,
        "configuredAudienceModelAssociationIdentifier": association,
    }


def _list_scope(raw: Mapping[str, Any]) -> dict[str, Any]:
    membership = raw.get("MembershipIdentifier")
    return {"membershipIdentifier": membership} if isinstance(membership, str) else {}


KIND = Kind(
    resource_type=RESOURCE_TYPE,
    noun="configured audience model association",
    service="cleanrooms",
    operations=Operations(
        create="CreateConfiguredAudienceModelAssociation",
        get="GetConfiguredAudienceModelAssociation",
        list="ListConfiguredAudienceModelAssociations",
        delete="DeleteConfiguredAudienceModelAssociation",
        update="UpdateConfiguredAudienceModelAssociation",
    ),
    arn_member="arn",
    list_member="configuredAudienceModelAssociationSummaries",
    arn_pattern=ARN_PATTERN,
    attributes=lambda arn, name: {
        "ConfiguredAudienceModelAssociationArn": arn,
        "ConfiguredAudienceModelAssociationId": arn.rsplit("/", 1)[-1],
        "Name": name,
    },
    identify=_identify,
    response_member="configuredAudienceModelAssociation",
    name_property="ConfiguredAudienceModelAssociationName",
    name_member="configuredAudienceModelAssociationName",
    update_name_member="name",
    names_unique="per membership",
    list_scope=_list_scope,
    tags_in_get=False,
    in_place=frozenset({"ConfiguredAudienceModelAssociationName", "Description"}),
    cleared={"Description": ""},
)
