"""Audience sizes: those a configured audience model lets jobs generate (``AudienceSizeConfig``),
and the size of an export (``AudienceSize``)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdk_cleanrooms_ml.argument_types import check_field_types
from cdk_cleanrooms_ml.validation import check_member, is_unresolved

MAX_PERCENTAGE = 100


class AudienceSizeType(str, enum.Enum):
    """How audience sizes are counted."""

    ABSOLUTE = "ABSOLUTE"
    """A number of identifiers in the output."""
    PERCENTAGE = "PERCENTAGE"
    """A percentage of the audience model's audience, 1 to 100."""


@dataclass(frozen=True)
class AudienceSizeConfig:
    """The output sizes of the audiences a configured audience model may generate.

    A job that uses the configured audience model picks one of these sizes.

    :param audience_size_type: how the sizes are counted: ``AudienceSizeType.ABSOLUTE`` (a number
        of identifiers) or ``AudienceSizeType.PERCENTAGE`` (1 to 100).
    :param audience_size_bins: the sizes, 1 to 25 of them, each 1 to 20000000 (a number token,
        such as a ``CfnParameter``'s ``value_as_number``, is taken too).
    """

    audience_size_type: AudienceSizeType | str
    audience_size_bins: Sequence[int]

    def __post_init__(self) -> None:
        check_field_types(self)
        rendered = self._render()
        check_member(
            rendered["AudienceSizeType"],
            "CreateConfiguredAudienceModel",
            "audienceSizeConfig.audienceSizeType",
            "audience_size_type",
        )
        check_member(
            rendered["AudienceSizeBins"],
            "CreateConfiguredAudienceModel",
            "audienceSizeConfig.audienceSizeBins",
            "audience_size_bins",
        )
        if rendered["AudienceSizeType"] == AudienceSizeType.PERCENTAGE.value:
            for index, size in enumerate(self.audience_size_bins):
                if not is_unresolved(size) and size > MAX_PERCENTAGE:
                    raise ValueError(
                        f"audience_size_bins[{index}]: must be 1 to {MAX_PERCENTAGE} for "
                        f"AudienceSizeType.PERCENTAGE (a percentage), got {size}"
                    )

    def _render(self) -> dict[str, Any]:
        size_type = self.audience_size_type
        return {
            "AudienceSizeType": (
                size_type.value if isinstance(size_type, AudienceSizeType) else size_type
            ),
            "AudienceSizeBins": list(self.audience_size_bins),
        }


@dataclass(frozen=True)
class AudienceSize:
    """The size of an exported audience (``AudienceExportJob``): one of the sizes its configured
    audience model allows (``AudienceSizeConfig``), counted the same way.

    Made with ``AudienceSize.absolute(count)`` or ``AudienceSize.percentage(percent)``.
    """

    audience_size_type: AudienceSizeType
    value: int
    """A number of identifiers (1 to 20000000), or a percentage (1 to 100); a number token is
    taken too."""

    @staticmethod
    def absolute(count: int) -> AudienceSize:
        """``count`` identifiers, 1 to 20000000."""
        return AudienceSize(AudienceSizeType.ABSOLUTE, count)

    @staticmethod
    def percentage(percent: int) -> AudienceSize:
        """``percent`` per cent of the generated audience, 1 to 100."""
        return AudienceSize(AudienceSizeType.PERCENTAGE, percent)

    def __post_init__(self) -> None:
        check_field_types(self)
        factory = self.audience_size_type.value.lower()
        argument = "count" if self.audience_size_type is AudienceSizeType.ABSOLUTE else "percent"
        if (
            self.audience_size_type is AudienceSizeType.PERCENTAGE
            and not is_unresolved(self.value)
            and isinstance(self.value, int)
            and not 1 <= self.value <= MAX_PERCENTAGE
        ):
            raise ValueError(
                f"AudienceSize.percentage: percent: must be 1 to {MAX_PERCENTAGE}, got {self.value}"
            )
        check_member(
            self.value,
            "StartAudienceExportJob",
            "audienceSize.value",
            f"AudienceSize.{factory}: {argument}",
        )

    def _render(self) -> dict[str, Any]:
        return {"Type": self.audience_size_type.value, "Value": self.value}
