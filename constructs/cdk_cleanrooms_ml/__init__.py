"""AWS CDK constructs for AWS Clean Rooms ML resources that CloudFormation has no type for."""

from cdk_cleanrooms_ml.audience_generation_job import (
    AudienceGenerationJob,
    AudienceGenerationJobBase,
    IAudienceGenerationJob,
)
from cdk_cleanrooms_ml.provider import AudienceGenerationJobProvider, CleanRoomsMLProvider
from cdk_cleanrooms_ml.seed_audience import (
    ComputeConfiguration,
    SeedAudience,
    SeedAudienceConfig,
    WorkerComputeType,
)

__all__ = [
    "AudienceGenerationJob",
    "AudienceGenerationJobBase",
    "AudienceGenerationJobProvider",
    "CleanRoomsMLProvider",
    "ComputeConfiguration",
    "IAudienceGenerationJob",
    "SeedAudience",
    "SeedAudienceConfig",
    "WorkerComputeType",
]
