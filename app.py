#!/usr/bin/env python3
"""Example app: one audience generation job seeded from S3. Synthesizes offline, no credentials."""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from cdk_cleanrooms_ml import AudienceGenerationJob, SeedAudience

app = cdk.App()
stack = cdk.Stack(app, "CleanRoomsMLExample", tags={"project": "lookalikes"})

seed_bucket = s3.Bucket(
    stack,
    "SeedBucket",
    encryption=s3.BucketEncryption.S3_MANAGED,
    block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    enforce_ssl=True,
)
seed_role = iam.Role(
    stack,
    "SeedRole",
    assumed_by=iam.ServicePrincipal("cleanrooms-ml.amazonaws.com"),
    description="Lets Clean Rooms ML read the seed audience",
)

job = AudienceGenerationJob(
    stack,
    "Lookalikes",
    configured_audience_model_arn=(
        "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/"
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    ),
    seed_audience=SeedAudience.from_bucket(seed_bucket, "seed/", seed_role),
    description="Lookalike audience for the spring campaign",
    tags={"cost-center": "marketing"},
)
cdk.Tags.of(app).add("owner", "data-team")

cdk.CfnOutput(stack, "AudienceGenerationJobArn", value=job.audience_generation_job_arn)

app.synth()
