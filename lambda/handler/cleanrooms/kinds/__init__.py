"""Every kind the handler serves, by CloudFormation resource type (``index`` dispatches on it).

Adding a kind: write its module here (a ``KIND``), and list it below.
"""

from __future__ import annotations

from ..engine.kind import Kind
from . import (
    audience_export_job,
    audience_generation_job,
    audience_model,
    configured_audience_model,
    configured_audience_model_association,
)

KINDS: dict[str, Kind] = {
    kind.resource_type: kind
    for kind in (
        audience_export_job.KIND,
        audience_generation_job.KIND,
        audience_model.KIND,
        configured_audience_model.KIND,
        configured_audience_model_association.KIND,
    )
}


def kind_of(resource_type: str) -> Kind:
    """The kind of ``resource_type``; a clear error for a type this handler does not serve."""
    try:
        return KINDS[resource_type]
    except KeyError:
        raise ValueError(
            f"ResourceType {resource_type!r} is not served by this handler; it serves "
            f"{', '.join(sorted(KINDS))}"
        ) from None
