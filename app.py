#!/usr/bin/env python3
"""Example app: the whole lookalike pipeline in one stack. Synthesizes offline, no credentials.

Glue table -> training dataset -> audience model -> configured audience model (shared with a
partner account) -> its association with a collaboration -> audience generation job -> audience
export job. Each step refers to the one before (a GetAtt or Ref), so CloudFormation creates them
in that order, and each waits for what it refers to: the model for its training, the job for its
audience, the export for the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_cleanrooms as cleanrooms
from aws_cdk import aws_cleanroomsml as cleanroomsml
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from cdk_cleanrooms_ml import (
    AudienceDestination,
    AudienceExportJob,
    AudienceGenerationJob,
    AudienceModel,
    AudienceSize,
    AudienceSizeConfig,
    AudienceSizeType,
    ConfiguredAudienceModel,
    ConfiguredAudienceModelAssociation,
    SeedAudience,
    SharedAudienceMetrics,
)

STACK_NAME = "CleanRoomsMLExample"
COLLABORATION_ID = "a1b2c3d4-5678-90ab-cdef-333333333333"
"""The Clean Rooms collaboration our account is invited to (its creator made it)."""
PARTNER_ACCOUNT = "444455556666"
"""The partner account that may generate audiences from our configured model."""
CLICK_COLUMNS = (("user_id", "USER_ID"), ("item_id", "ITEM_ID"), ("event_time", "TIMESTAMP"))
"""The training table's columns (all strings in Glue) and what Clean Rooms ML reads them as."""


@dataclass(frozen=True)
class Pipeline:
    """The pipeline's resources, each created after the one before it."""

    training_dataset: cleanroomsml.CfnTrainingDataset
    audience_model: AudienceModel
    configured_model: ConfiguredAudienceModel
    membership: cleanrooms.CfnMembership
    association: ConfiguredAudienceModelAssociation
    job: AudienceGenerationJob
    export: AudienceExportJob


def clean_rooms_ml_role(stack: cdk.Stack, id: str, description: str) -> iam.Role:
    """A role only Clean Rooms ML may assume, and only for this account's resources."""
    return iam.Role(
        stack,
        id,
        assumed_by=iam.ServicePrincipal(
            "cleanrooms-ml.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ),
        description=description,
    )


def private_bucket(stack: cdk.Stack, id: str) -> s3.Bucket:
    bucket = s3.Bucket(
        stack,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
    )
    cdk.Validations.of(bucket).acknowledge(
        cdk.Acknowledgment(
            id="AwsSolutions-S1",
            reason="An example: log object access (server access logs or CloudTrail data "
            "events) where the data is real",
        )
    )
    return bucket


def add_pipeline(stack: cdk.Stack) -> Pipeline:
    """Declare the pipeline, with its buckets, roles and grants, in ``stack``."""
    # Training data: a Glue table over training/ in the data bucket; seeds under seed/.
    data = private_bucket(stack, "DataBucket")
    database = glue.CfnDatabase(
        stack,
        "Marketing",
        catalog_id=stack.account,
        database_input=glue.CfnDatabase.DatabaseInputProperty(name="marketing"),
    )
    table = glue.CfnTable(
        stack,
        "Clicks",
        catalog_id=stack.account,
        database_name=database.ref,
        table_input=glue.CfnTable.TableInputProperty(
            name="clicks",
            table_type="EXTERNAL_TABLE",
            parameters={"classification": "parquet"},
            storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                location=data.s3_url_for_object("training/"),
                columns=[
                    glue.CfnTable.ColumnProperty(name=name, type="string")
                    for name, _ in CLICK_COLUMNS
                ],
                input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                serde_info=glue.CfnTable.SerdeInfoProperty(
                    serialization_library=(
                        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    )
                ),
            ),
        ),
    )

    # Clean Rooms ML reads the table's definition and its files, and nothing else.
    dataset_reader = clean_rooms_ml_role(
        stack, "DatasetReader", "Lets Clean Rooms ML read the training table"
    )
    read_table = iam.Grant.add_to_principal(
        grantee=dataset_reader,
        actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
        resource_arns=[
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=database.ref),
            stack.format_arn(
                service="glue", resource="table", resource_name=f"{database.ref}/{table.ref}"
            ),
        ],
    )
    read_files = data.grant_read(dataset_reader, "training/*")
    training_dataset = cleanroomsml.CfnTrainingDataset(
        stack,
        "ClickData",
        name="clicks",
        role_arn=dataset_reader.role_arn,
        training_data=[
            cleanroomsml.CfnTrainingDataset.DatasetProperty(
                type="INTERACTIONS",
                input_config=cleanroomsml.CfnTrainingDataset.DatasetInputConfigProperty(
                    data_source=cleanroomsml.CfnTrainingDataset.DataSourceProperty(
                        glue_data_source=cleanroomsml.CfnTrainingDataset.GlueDataSourceProperty(
                            database_name=database.ref, table_name=table.ref
                        )
                    ),
                    schema=[
                        cleanroomsml.CfnTrainingDataset.ColumnSchemaProperty(
                            column_name=name, column_types=[kind]
                        )
                        for name, kind in CLICK_COLUMNS
                    ],
                ),
            )
        ],
    )
    # Created once the role may read the data: its policy, not only the role.
    read_table.apply_before(training_dataset)
    read_files.apply_before(training_dataset)

    # The model trains on the dataset; the deployment goes on once it is ACTIVE.
    audience_model = AudienceModel(
        stack,
        "ClicksModel",
        training_dataset_arn=training_dataset.attr_training_dataset_arn,
        training_data_start_time="2024-01-01T00:00:00+00:00",
        training_data_end_time="2024-06-30T23:59:59+00:00",
        description="Lookalikes of last half-year's clickers",
    )

    # Generated audiences go to audiences/ in a bucket of their own.
    audiences = private_bucket(stack, "AudienceBucket")
    audience_writer = clean_rooms_ml_role(
        stack, "AudienceWriter", "Lets Clean Rooms ML write generated audiences"
    )
    configured_model = ConfiguredAudienceModel(
        stack,
        "Configured",
        audience_model_arn=audience_model.audience_model_arn,
        output_config=AudienceDestination.from_bucket(audiences, "audiences/", audience_writer),
        shared_audience_metrics=SharedAudienceMetrics.ALL,
        min_matching_seed_size=500,
        audience_size_config=AudienceSizeConfig(
            audience_size_type=AudienceSizeType.ABSOLUTE, audience_size_bins=[10_000, 50_000]
        ),
        description="Spring lookalikes",
    )
    configured_model.add_to_resource_policy(
        iam.PolicyStatement(  # Resource left out: the handler fills in the model's own ARN
            principals=[iam.AccountPrincipal(PARTNER_ACCOUNT)],
            actions=["cleanrooms-ml:StartAudienceGenerationJob"],
        )
    )

    # Our membership in the collaboration, and the configured model associated with it.
    membership = cleanrooms.CfnMembership(
        stack,
        "Membership",
        collaboration_identifier=COLLABORATION_ID,
        query_log_status="DISABLED",
        payment_configuration=cleanrooms.CfnMembership.MembershipPaymentConfigurationProperty(
            # As the collaboration's creator set it: this member pays for the queries it runs.
            query_compute=cleanrooms.CfnMembership.MembershipQueryComputePaymentConfigProperty(
                is_responsible=True
            )
        ),
    )
    association = ConfiguredAudienceModelAssociation(
        stack,
        "InCollaboration",
        membership_id=membership.attr_membership_identifier,
        configured_audience_model_arn=configured_model.configured_audience_model_arn,
        name="lookalikes",
        manage_resource_policies=True,  # Clean Rooms adds the collaboration to the model's policy
        description="Spring lookalikes for our partner",
    )

    # The job: a lookalike audience of the seed under seed/, in the collaboration.
    seed_reader = clean_rooms_ml_role(stack, "SeedReader", "Lets Clean Rooms ML read the seed")
    job = AudienceGenerationJob(
        stack,
        "Lookalikes",
        configured_audience_model_arn=configured_model.configured_audience_model_arn,
        seed_audience=SeedAudience.from_bucket(data, "seed/", seed_reader),
        collaboration_id=COLLABORATION_ID,
        description="Lookalike audience for the spring campaign",
        tags={"cost-center": "marketing"},
    )
    job.node.add_dependency(association)  # the job runs in the collaboration

    # The export: 10,000 of the generated audience (a size the configured model offers).
    export = AudienceExportJob(
        stack,
        "Export",
        audience_generation_job_arn=job.audience_generation_job_arn,
        audience_size=AudienceSize.absolute(10_000),
        description="Spring lookalikes, top 10,000",
    )

    acknowledge_data_grants(stack, data, audiences, dataset_reader, seed_reader, audience_writer)
    return Pipeline(
        training_dataset, audience_model, configured_model, membership, association, job, export
    )


def acknowledge_data_grants(
    stack: cdk.Stack,
    data: s3.IBucket,
    audiences: s3.IBucket,
    dataset_reader: iam.IRole,
    seed_reader: iam.IRole,
    audience_writer: iam.IRole,
) -> None:
    """cdk-nag's findings on the grants to our data, each acknowledged with why (cdk-nag 3.x)."""

    def bucket_id(bucket: s3.IBucket) -> str:
        return stack.get_logical_id(cast(cdk.CfnElement, bucket.node.default_child))

    read = ["Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*"]
    findings = {
        dataset_reader: (
            [*read, f"Resource::<{bucket_id(data)}.Arn>/training/*"],
            "Clean Rooms ML reads the training data under training/ in this bucket",
        ),
        seed_reader: (
            [*read, f"Resource::<{bucket_id(data)}.Arn>/seed/*"],
            "Clean Rooms ML reads the seed audience under seed/ in this bucket",
        ),
        audience_writer: (
            [f"Resource::<{bucket_id(audiences)}.Arn>/audiences/*"],
            "Clean Rooms ML writes generated audiences under audiences/ in this bucket",
        ),
    }
    for role, (role_findings, reason) in findings.items():
        for finding in role_findings:
            cdk.Validations.of(role).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason)
            )


def build(app: cdk.App) -> cdk.Stack:
    """The example: the pipeline's stack, tagged as a team would tag it."""
    stack = cdk.Stack(app, STACK_NAME, tags={"project": "lookalikes"})
    pipeline = add_pipeline(stack)
    cdk.Tags.of(app).add("owner", "data-team")
    cdk.CfnOutput(
        stack,
        "ConfiguredAudienceModelArn",
        value=pipeline.configured_model.configured_audience_model_arn,
    )
    cdk.CfnOutput(stack, "AudienceGenerationJobArn", value=pipeline.job.audience_generation_job_arn)
    cdk.CfnOutput(stack, "ExportOutputLocation", value=pipeline.export.output_location)
    return stack


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
