"""Integration test in the CDK convention: deploy a job, assert it reaches ACTIVE, destroy it.

`make test` runs it with integ-runner in snapshot mode (no deployment). Against a real account,
with a configured audience model, a seed in S3 and a role Clean Rooms ML may assume:

    npx integ-runner --directory tests/integ --language python --app "python {filePath}" \\
        --parallel-regions us-east-1 --update-on-failed --force \\
        --context configuredAudienceModelArn=<configured audience model ARN> \\
        --context seedS3Uri=s3://bucket/seed/ --context seedRoleArn=arn:aws:iam::...:role/...
"""

import aws_cdk as cdk
from aws_cdk.integ_tests_alpha import ExpectedResult, IntegTest

from cdk_cleanrooms_ml import AudienceGenerationJob, SeedAudience

app = cdk.App(stack_traces=False)  # no machine paths in the committed snapshot
context = app.node.try_get_context
stack = cdk.Stack(app, "CleanRoomsMLAudienceGenerationJobInteg")
job = AudienceGenerationJob(
    stack,
    "Job",
    configured_audience_model_arn=context("configuredAudienceModelArn")
    or "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/integ-model",
    seed_audience=SeedAudience.from_s3(
        context("seedS3Uri") or "s3://integ-seed-bucket/seed/",
        context("seedRoleArn") or "arn:aws:iam::111122223333:role/integ-seed-reader",
    ),
    description="cdk-cleanrooms-ml integration test",
    tags={"purpose": "integ-test"},
)

integ = IntegTest(app, "AudienceGenerationJobTest", test_cases=[stack])
integ.assertions.aws_api_call(
    "CleanRoomsML",
    "GetAudienceGenerationJob",
    {"audienceGenerationJobArn": job.audience_generation_job_arn},
).expect(ExpectedResult.object_like({"status": "ACTIVE", "name": job.audience_generation_job_name}))

app.synth()
