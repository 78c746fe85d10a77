"""AWS CDK constructs for AWS Clean Rooms ML resources that CloudFormation has no type for."""

from cdk_cleanrooms_ml.audience_destination import AudienceDestination, AudienceDestinationConfig
from cdk_cleanrooms_ml.audience_export_job import AudienceExportJob, IAudienceExportJob
from cdk_cleanrooms_ml.audience_generation_job import (
    AudienceGenerationJob,
    AudienceGenerationJobBase,
    IAudienceGenerationJob,
)
from cdk_cleanrooms_ml.audience_model import AudienceModel, AudienceModelBase, IAudienceModel
from cdk_cleanrooms_ml.audience_size import AudienceSize, AudienceSizeConfig, AudienceSizeType
from cdk_cleanrooms_ml.configured_audience_model import (
    ConfiguredAudienceModel,
    ConfiguredAudienceModelBase,
    IConfiguredAudienceModel,
    SharedAudienceMetrics,
    TagOnCreatePolicy,
)
from cdk_cleanrooms_ml.configured_audience_model_association import (
    ConfiguredAudienceModelAssociation,
    ConfiguredAudienceModelAssociationBase,
    IConfiguredAudienceModelAssociation,
)
from cdk_cleanrooms_ml.provider import AudienceGenerationJobProvider, CleanRoomsMLProvider
from cdk_cleanrooms_ml.seed_audience import (
    ComputeConfiguration,
    SeedAudience,
    SeedAudienceConfig,
    WorkerComputeType,
)

__all__ = [
    "AudienceDestination",
    "AudienceDestinationConfig",
    "AudienceExportJob",
    "AudienceGenerationJob",
    "AudienceGenerationJobBase",
    "AudienceGenerationJobProvider",
    "AudienceModel",
    "AudienceModelBase",
    "AudienceSize",
    "AudienceSizeConfig",
    "AudienceSizeType",
    "CleanRoomsMLProvider",
    "ComputeConfiguration",
    "ConfiguredAudienceModel",
    "ConfiguredAudienceModelAssociation",
    "ConfiguredAudienceModelAssociationBase",
    "ConfiguredAudienceModelBase",
    "IAudienceExportJob",
    "IAudienceGenerationJob",
    "IAudienceModel",
    "IConfiguredAudienceModel",
    "IConfiguredAudienceModelAssociation",
    "SeedAudience",
    "SeedAudienceConfig",
    "SharedAudienceMetrics",
    "TagOnCreatePolicy",
    "WorkerComputeType",
]
