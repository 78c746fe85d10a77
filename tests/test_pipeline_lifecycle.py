"""The lookalike pipeline, as the constructs synthesize it, played through aws-cdk-lib's real
Provider framework runtime against the local Clean Rooms ML and Clean Rooms doubles.

AudienceModel -> ConfiguredAudienceModel (with a resource policy for a partner account) ->
ConfiguredAudienceModelAssociation -> AudienceGenerationJob -> AudienceExportJob, in the
dependency order of the synthesized template. Each resource's properties are the template's, with
every ``Fn::GetAtt`` replaced by the Data its resource answered (and the pseudo parameters by the
doubles' account and Region), as CloudFormation resolves them. Deletes go in reverse order, and a
failed create is rolled back by deleting what was created, in reverse, as CloudFormation does
(``Stack`` rolls back only the failed resource itself). The export stays: the API cannot delete
one.

``Stack`` settles the stack between whole requests, so every resource after the first arrives as
one a stack update adds; the handler gets the same requests either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import aws_cdk as cdk
import index
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from cleanrooms.engine import aws
from cleanrooms.kinds.audience_export_job import KIND as EXPORT
from cleanrooms.kinds.audience_model import KIND as MODEL
from cleanrooms.kinds.configured_audience_model import KIND as CONFIGURED
from cleanrooms.kinds.configured_audience_model_association import KIND as ASSOCIATION
from cleanrooms_endpoint import CleanRoomsEndpoint, CleanRoomsFault, running
from cleanrooms_ml_endpoint import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, CleanRoomsMLEndpoint
from cloudformation import Response, Stack, stringify
from deployment import dependencies, references
from provider_runtime import RealProviderFramework

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

DATASET = f"arn:aws:cleanrooms-ml:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:training-dataset/customers"
FAILING = f"arn:aws:cleanrooms-ml:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:training-dataset/too-small"
WRITER = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/audience-writer"
SEED_READER = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/seed-reader"
PARTNER, SECOND_PARTNER = "444455556666", "777788889999"
COLLABORATION = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
MEMBERSHIP = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"  # ours, in COLLABORATION
PSEUDO_PARAMETERS = {
    "AWS::AccountId": DEFAULT_ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::Region": DEFAULT_REGION,
    "AWS::URLSuffix": "amazonaws.com",
}
PIPELINE_TYPES = [
    MODEL.resource_type,
    CONFIGURED.resource_type,
    ASSOCIATION.resource_type,
    "Custom::CleanRoomsMLAudienceGenerationJob",
    EXPORT.resource_type,
]
DELETE_CONFIGURED = "DeleteConfiguredAudienceModel"


# ------------------------------------------------------------------- the synthesized pipeline


@dataclass(frozen=True)
class Resource:
    """One custom resource of the template: its logical id, type and (unresolved) properties."""

    logical_id: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Choices:
    """What a test may change in the pipeline's app."""

    dataset: str = DATASET
    training_end: str = "2026-06-30T23:59:59+00:00"
    min_matching_seed_size: int = 25
    partners: tuple[str, ...] = (PARTNER,)
    configured_name: str | None = None
    association_name: str | None = "lookalikes"
    job_after_association: bool = True


@cache
def _synthesized(choices: Choices) -> str:
    """The template of the pipeline the constructs make (JSON: the cache hands out copies)."""
    app = cdk.App()
    stack = cdk.Stack(
        app, "Jobs", env=cdk.Environment(account=DEFAULT_ACCOUNT_ID, region=DEFAULT_REGION)
    )
    model = AudienceModel(
        stack,
        "Model",
        training_dataset_arn=choices.dataset,
        training_data_start_time="2026-01-01T00:00:00Z",
        training_data_end_time=choices.training_end,
        tags={"team": "ml"},
        # Within the hour, the custom resource itself waits for ACTIVE. A longer wait goes to a
        # WaitCondition signaled by the stack's long-wait loop, which Stack does not play.
        wait_timeout=cdk.Duration.minutes(50),
    )
    configured = ConfiguredAudienceModel(
        stack,
        "Configured",
        name=choices.configured_name,
        audience_model_arn=model.audience_model_arn,
        output_config=AudienceDestination.from_s3("s3://audiences-bucket/lookalikes/", WRITER),
        shared_audience_metrics=SharedAudienceMetrics.ALL,
        min_matching_seed_size=choices.min_matching_seed_size,
        audience_size_config=AudienceSizeConfig(
            audience_size_type=AudienceSizeType.ABSOLUTE, audience_size_bins=[1000, 5000]
        ),
    )
    for partner in choices.partners:
        configured.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.AccountPrincipal(partner)],
                actions=["cleanrooms-ml:StartAudienceGenerationJob"],
            )
        )
    association = ConfiguredAudienceModelAssociation(
        stack,
        "InCollaboration",
        membership_id=MEMBERSHIP,
        configured_audience_model_arn=configured.configured_audience_model_arn,
        manage_resource_policies=True,
        name=choices.association_name,
    )
    job = AudienceGenerationJob(
        stack,
        "Lookalikes",
        configured_audience_model_arn=configured.configured_audience_model_arn,
        seed_audience=SeedAudience.from_s3("s3://seed-bucket/seed/", role=SEED_READER),
        collaboration_id=COLLABORATION,
    )
    if choices.job_after_association:
        job.node.add_dependency(association)  # generated for the collaboration once associated
    AudienceExportJob(
        stack,
        "Export",
        audience_generation_job_arn=job.audience_generation_job_arn,
        audience_size=AudienceSize.absolute(1000),
    )
    return json.dumps(Template.from_stack(stack).to_json())


def pipeline(**choices: Any) -> list[Resource]:
    """The pipeline's custom resources in the order CloudFormation creates them."""
    template = json.loads(_synthesized(Choices(**choices)))
    custom = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"].startswith("Custom::")
    }
    needs = {
        logical_id: dependencies(resource) & custom.keys()
        for logical_id, resource in custom.items()
    }
    ordered: list[str] = []
    while needs:
        ready = sorted(logical_id for logical_id, ids in needs.items() if ids <= set(ordered))
        assert ready, f"a dependency cycle among {sorted(needs)}"
        ordered += ready
        for logical_id in ready:
            del needs[logical_id]
    return [
        Resource(
            logical_id,
            custom[logical_id]["Type"],
            {k: v for k, v in custom[logical_id]["Properties"].items() if k != "ServiceToken"},
        )
        for logical_id in ordered
    ]


def resolve(value: Any, data: Mapping[str, Mapping[str, Any]]) -> Any:
    """A template value as CloudFormation passes it on: intrinsics replaced by their values."""
    if isinstance(value, Mapping):
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return data[logical_id][attribute]
        if "Ref" in value:
            assert value["Ref"] in PSEUDO_PARAMETERS, f"no stand-in for a Ref of {value['Ref']}"
            return PSEUDO_PARAMETERS[value["Ref"]]
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(part, data)) for part in parts)
        unknown = [key for key in value if key.startswith("Fn::")]
        assert not unknown, f"no stand-in for {unknown}"
        return {key: resolve(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, data) for item in value]
    return value


# ----------------------------------------------------------------------- playing the stack


@dataclass
class PipelineStack(Stack):
    """A stack of several kinds: each request carries its resource's own type.

    DescribeStackResource still reports the stand-in's one ``resource_type`` for every resource;
    the handler reads only their statuses and physical ids.
    """

    types: dict[str, str] = field(default_factory=dict)

    def event(
        self, request_type: str, logical_id: str, properties: Mapping[str, Any], **extra: Any
    ) -> dict[str, Any]:
        event = super().event(request_type, logical_id, properties, **extra)
        return {**event, "ResourceType": self.types[logical_id]}

    def properties_of(self, resource: Resource) -> dict[str, Any]:
        """The resource's properties with what earlier resources answered."""
        self.types[resource.logical_id] = resource.type
        resolved: dict[str, Any] = resolve(resource.properties, self.data)
        return resolved


@dataclass
class Deployment:
    """What a deployment of the pipeline got: each create's answer, and a rollback's deletes."""

    created: dict[str, Response] = field(default_factory=dict)
    failed: tuple[str, Response] | None = None
    rolled_back: dict[str, Response] = field(default_factory=dict)


def deploy(stack: PipelineStack, resources: list[Resource]) -> Deployment:
    """Create in order; on a failure, delete the failed one and then what was created, in
    reverse (CloudFormation's rollback)."""
    deployment = Deployment()
    for resource in resources:
        props = stack.properties_of(resource)
        response = stack.create(resource.logical_id, props)
        if not response.ok:
            deployment.failed = (resource.logical_id, response)
            deployment.rolled_back[resource.logical_id] = stack.rollback_create(
                resource.logical_id, response, props
            )
            for logical_id in reversed(deployment.created):
                deployment.rolled_back[logical_id] = stack.delete(logical_id)
            return deployment
        deployment.created[resource.logical_id] = response
    return deployment


@dataclass
class Redeployment:
    """What a stack update of the pipeline got: each Update's answer, the cleanup's or the
    rollback's."""

    updated: dict[str, Response] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)
    """The old physical id of each resource replaced."""
    cleaned_up: dict[str, Response] = field(default_factory=dict)
    rolled_back: dict[str, Response] = field(default_factory=dict)


def redeploy(stack: PipelineStack, resources: list[Resource]) -> Redeployment:
    """Update, in order, each resource whose resolved properties changed; once all succeeded,
    delete the replaced ones in reverse (CloudFormation's UPDATE_COMPLETE_CLEANUP_IN_PROGRESS).

    On a failure, CloudFormation's rollback: the failed resource's rollback Update, then, in
    reverse, the replacements made so far are deleted and their old physical ids held again (an
    update in place before the failure is not played). Cleanup and rollback Deletes go to the
    framework directly: ``Stack`` cleans up each replacement at once, before what uses it is
    replaced, and rolls back only the failed resource.
    """
    redeployment = Redeployment()
    before: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # properties, Data
    for resource in resources:
        logical_id, props = resource.logical_id, stack.properties_of(resource)
        if stringify(props) == stack.properties[logical_id]:
            continue  # CloudFormation sends no Update
        old_id = stack.physical_ids[logical_id]
        before[logical_id] = stack.properties[logical_id], stack.data[logical_id]
        waiter = stack.begin_update(logical_id, props)
        answer = redeployment.updated[logical_id] = stack.wait_open(waiter)
        if not answer.ok:
            rollback = stack.follow_up(waiter)
            assert rollback is not None, "a failed Update is rolled back"
            redeployment.rolled_back[logical_id] = rollback
            for earlier in reversed(list(redeployment.updated)[:-1]):
                assert earlier in redeployment.replaced, f"{earlier}: in place, not played"
                new_properties = stack.properties[earlier]
                stack.properties[earlier], stack.data[earlier] = before[earlier]
                redeployment.rolled_back[earlier] = _delete_directly(
                    stack, earlier, stack.physical_ids[earlier], new_properties
                )
                stack.physical_ids[earlier] = redeployment.replaced[earlier]
            return redeployment
        if answer.physical_id != old_id:
            redeployment.replaced[logical_id] = old_id
    for logical_id, old_id in reversed(redeployment.replaced.items()):
        redeployment.cleaned_up[logical_id] = _delete_directly(
            stack, logical_id, old_id, before[logical_id][0]
        )
    return redeployment


def _delete_directly(
    stack: PipelineStack, logical_id: str, physical_id: str, properties: dict[str, Any]
) -> Response:
    """A Delete of ``physical_id`` through the framework, outside the stand-in's bookkeeping."""
    event = stack.event("Delete", logical_id, {}, PhysicalResourceId=physical_id)
    return stack.framework.deliver({**event, "ResourceProperties": properties})


def of_type(resources: list[Resource], resource_type: str) -> Resource:
    (found,) = (resource for resource in resources if resource.type == resource_type)
    return found


def assert_all_ok(responses: Mapping[str, Response]) -> None:
    """Every answer, by logical id, was SUCCESS."""
    failures = {logical_id: r.reason for logical_id, r in responses.items() if not r.ok}
    assert failures == {}, failures


@dataclass(frozen=True)
class Leftovers:
    """What of a pipeline exists in the doubles (their own registered resources left out)."""

    models: list[str]
    configured_models: list[str]
    associations: list[str]
    jobs: list[str]


def leftovers(endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint) -> Leftovers:
    """Resources that exist and are not on their way out."""
    return Leftovers(
        models=[
            arn
            for arn, model in endpoint.audience_models.items()
            if arn != endpoint.default_audience_model_arn and not model.status.startswith("DELETE_")
        ],
        configured_models=[
            arn for arn in endpoint.configured_audience_models if arn != endpoint.default_model_arn
        ],
        associations=list(cleanrooms.associations),
        jobs=[
            arn for arn, job in endpoint.live_jobs().items() if not job.status.startswith("DELETE_")
        ],
    )


NOTHING = Leftovers([], [], [], [])


@pytest.fixture
def cleanrooms(endpoint: CleanRoomsMLEndpoint) -> Iterator[CleanRoomsEndpoint]:
    double = running()
    assert double is not None, "local_endpoint() runs one"
    double.add_membership(MEMBERSHIP, collaboration_id=COLLABORATION)
    endpoint.add_training_dataset(DATASET)
    endpoint.add_training_dataset(
        FAILING, fail_training=("INSUFFICIENT_DATA", "Not enough rows to train a model")
    )
    # A configured model used by a job cannot be deleted (the API documentation): deletes must
    # come in reverse order.
    endpoint.refuse_deleting_models_in_use = True
    yield double


@pytest.fixture
def pipeline_stack(cleanrooms: CleanRoomsEndpoint) -> PipelineStack:
    return PipelineStack(RealProviderFramework(index, query_interval=0.01, total_timeout=30))


# ------------------------------------------------------------------------------------ tests


def test_the_template_orders_the_pipeline_as_its_dependencies() -> None:
    resources = pipeline()

    assert [resource.type for resource in resources] == PIPELINE_TYPES
    configured = of_type(resources, CONFIGURED.resource_type)
    assert references(configured.properties) == {resources[0].logical_id}


def test_the_pipeline_is_created_in_order_and_deleted_in_reverse(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    resources = pipeline()

    deployment = deploy(pipeline_stack, resources)

    assert deployment.failed is None, deployment.failed
    model_id, configured_id, association_id, job_id, export_id = (r.logical_id for r in resources)
    data = pipeline_stack.data
    model_arn = data[model_id]["AudienceModelArn"]
    configured_arn = data[configured_id]["ConfiguredAudienceModelArn"]
    association_arn = data[association_id]["ConfiguredAudienceModelAssociationArn"]
    job_arn = data[job_id]["AudienceGenerationJobArn"]
    assert endpoint.audience_models[model_arn].status == "ACTIVE"
    assert endpoint.audience_models[model_arn].params["trainingDatasetArn"] == DATASET
    configured = endpoint.configured_audience_models[configured_arn]
    assert configured.params["audienceModelArn"] == model_arn
    assert configured.params["minMatchingSeedSize"] == 25
    assert configured.params["audienceSizeConfig"] == {
        "audienceSizeType": "ABSOLUTE",
        "audienceSizeBins": [1000, 5000],
    }
    assert configured.policy is not None
    (statement,) = json.loads(configured.policy)["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{PARTNER}:root"}
    assert statement["Resource"] == configured_arn, "the handler filled in the model's own ARN"
    association = cleanrooms.associations[association_arn]
    assert association.configured_audience_model_arn == configured_arn
    assert association.membership.id == MEMBERSHIP
    assert association.membership.collaboration_id == COLLABORATION
    assert (association.name, association.manage_resource_policies) == ("lookalikes", True)
    job = endpoint.jobs[job_arn]
    assert job.status == "ACTIVE"
    assert job.params["configuredAudienceModelArn"] == configured_arn
    assert job.params["collaborationId"] == COLLABORATION
    export_name, output_location = data[export_id]["Name"], data[export_id]["OutputLocation"]
    export = endpoint.export_jobs[export_name]
    assert export.status == "ACTIVE"
    assert export.params["audienceGenerationJobArn"] == job_arn
    assert export.params["audienceSize"] == {"type": "ABSOLUTE", "value": 1000}
    assert output_location == export.output_location
    assert output_location.startswith("s3://audiences-bucket/lookalikes/"), output_location
    assert leftovers(endpoint, cleanrooms) == Leftovers(
        [model_arn], [configured_arn], [association_arn], [job_arn]
    )

    deleted = {r.logical_id: pipeline_stack.delete(r.logical_id) for r in reversed(resources)}

    assert_all_ok(deleted)
    assert leftovers(endpoint, cleanrooms) == NOTHING
    assert endpoint.jobs[job_arn].gone, "deleted before its configured model"
    assert list(endpoint.export_jobs) == [export_name], "the API cannot delete an export"
    assert endpoint.export_jobs[export_name].status == "ACTIVE"
    assert pipeline_stack.status == "DELETE_COMPLETE"
    assert endpoint.calls_of(DELETE_CONFIGURED) == [{"configuredAudienceModelArn": configured_arn}]


def test_a_failed_training_fails_the_model_with_the_service_s_reason_and_leaves_nothing(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    resources = pipeline(dataset=FAILING)

    deployment = deploy(pipeline_stack, resources)

    assert deployment.failed is not None
    failed_id, failed = deployment.failed
    assert failed_id == resources[0].logical_id and not failed.ok
    assert MODEL.is_arn(failed.physical_id), "the model's ARN reached CloudFormation"
    assert (
        f"Audience model {failed.physical_id} ended CREATE_FAILED: INSUFFICIENT_DATA: "
        "Not enough rows to train a model"
    ) in failed.reason, failed.reason
    assert list(deployment.rolled_back) == [failed_id]
    assert deployment.rolled_back[failed_id].ok, deployment.rolled_back[failed_id].reason
    assert leftovers(endpoint, cleanrooms) == NOTHING
    assert endpoint.calls_of("CreateConfiguredAudienceModel") == [], "nothing after the model"
    assert cleanrooms.calls_of("CreateConfiguredAudienceModelAssociation") == []
    assert endpoint.calls_of("StartAudienceGenerationJob") == []
    assert endpoint.calls_of("StartAudienceExportJob") == []


def test_a_failed_generation_job_rolls_the_pipeline_back_in_reverse(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    resources = pipeline()
    endpoint.next_create_outcome("CREATE_FAILED", "SEED_TOO_SMALL", "Only 3 seed users matched")

    deployment = deploy(pipeline_stack, resources)

    assert deployment.failed is not None
    failed_id, failed = deployment.failed
    assert failed_id == resources[-2].logical_id
    assert "CREATE_FAILED: SEED_TOO_SMALL: Only 3 seed users matched" in failed.reason, (
        failed.reason
    )
    assert list(deployment.rolled_back) == [r.logical_id for r in reversed(resources[:-1])]
    assert_all_ok(deployment.rolled_back)
    assert leftovers(endpoint, cleanrooms) == NOTHING
    assert endpoint.jobs[failed.physical_id].gone
    assert endpoint.calls_of("StartAudienceExportJob") == [], "nothing after the job"


def test_a_failed_export_rolls_the_pipeline_back_and_only_the_export_stays(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    resources = pipeline()
    endpoint.next_export_outcome("CREATE_FAILED", "EXPORT_DENIED", "The role cannot write there")

    deployment = deploy(pipeline_stack, resources)

    assert deployment.failed is not None
    failed_id, failed = deployment.failed
    assert failed_id == resources[-1].logical_id
    assert EXPORT.is_arn(failed.physical_id), "the export's handle reached CloudFormation"
    assert "CREATE_FAILED: EXPORT_DENIED: The role cannot write there" in failed.reason, (
        failed.reason
    )
    assert list(deployment.rolled_back) == [r.logical_id for r in reversed(resources)]
    assert_all_ok(deployment.rolled_back)
    assert leftovers(endpoint, cleanrooms) == NOTHING
    (export,) = endpoint.export_jobs.values()
    assert export.status == "CREATE_FAILED", "the API cannot delete an export"
    assert failed.physical_id.endswith(f"|{export.name}")


@pytest.mark.parametrize(
    "change",
    [{"min_matching_seed_size": 50}, {"partners": (PARTNER, SECOND_PARTNER)}],
    ids=["MinMatchingSeedSize", "ConfiguredAudienceModelPolicy"],
)
def test_an_update_of_the_configured_model_in_place_keeps_what_uses_it(
    pipeline_stack: PipelineStack,
    endpoint: CleanRoomsMLEndpoint,
    cleanrooms: CleanRoomsEndpoint,
    change: dict[str, Any],
) -> None:
    resources = pipeline()
    assert deploy(pipeline_stack, resources).failed is None
    before = dict(pipeline_stack.physical_ids)
    configured_id = resources[1].logical_id
    configured_arn = before[configured_id]
    changed = of_type(pipeline(**change), CONFIGURED.resource_type)
    assert changed.logical_id == configured_id
    endpoint.clear_calls()
    cleanrooms.clear_calls()

    updated, cleanup = pipeline_stack.update(configured_id, pipeline_stack.properties_of(changed))

    assert updated.ok, updated.reason
    assert cleanup is None, "in place: no old model to clean up"
    assert pipeline_stack.physical_ids == before
    assert pipeline_stack.data[configured_id]["ConfiguredAudienceModelArn"] == configured_arn
    configured = endpoint.configured_audience_models[configured_arn]
    assert configured.params["minMatchingSeedSize"] == change.get("min_matching_seed_size", 25)
    assert configured.policy is not None
    principals = [s["Principal"]["AWS"] for s in json.loads(configured.policy)["Statement"]]
    partners = change.get("partners", (PARTNER,))
    assert principals == [f"arn:aws:iam::{partner}:root" for partner in partners]
    model_id, _, association_id, job_id, _ = (r.logical_id for r in resources)
    assert leftovers(endpoint, cleanrooms) == Leftovers(
        [before[model_id]], [configured_arn], [before[association_id]], [before[job_id]]
    )
    assert endpoint.jobs[before[job_id]].status == "ACTIVE"
    assert endpoint.calls_of("CreateConfiguredAudienceModel") == []
    assert endpoint.calls_of(DELETE_CONFIGURED) == []
    assert endpoint.calls_of("StartAudienceGenerationJob") == []
    assert endpoint.calls_of("StartAudienceExportJob") == []
    assert cleanrooms.calls == [], "the association was not touched"


def test_a_replaced_configured_model_replaces_what_uses_it_and_cleanup_goes_in_reverse(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    """A new Name needs a new configured model: its new ARN reaches the association and the job,
    which are replaced too, and the job's new ARN the export (a new export; the old one stays).
    The old ones are deleted once all succeeded, the job before the model it uses."""
    first = pipeline(association_name=None)
    assert deploy(pipeline_stack, first).failed is None
    before = dict(pipeline_stack.physical_ids)
    old_export = pipeline_stack.data[first[-1].logical_id]["Name"]
    model_id, configured_id, association_id, job_id, export_id = (r.logical_id for r in first)

    redeployment = redeploy(
        pipeline_stack, pipeline(association_name=None, configured_name="retrained")
    )

    assert list(redeployment.updated) == [configured_id, association_id, job_id, export_id]
    assert_all_ok(redeployment.updated)
    assert redeployment.replaced == {
        logical_id: before[logical_id]
        for logical_id in (configured_id, association_id, job_id, export_id)
    }
    assert list(redeployment.cleaned_up) == [export_id, job_id, association_id, configured_id]
    assert_all_ok(redeployment.cleaned_up)
    now = pipeline_stack.physical_ids
    assert now[model_id] == before[model_id], "the audience model is not retrained"
    assert leftovers(endpoint, cleanrooms) == Leftovers(
        [now[model_id]], [now[configured_id]], [now[association_id]], [now[job_id]]
    )
    configured = endpoint.configured_audience_models[now[configured_id]]
    assert configured.name == "retrained"
    assert configured.policy is not None
    assert [s["Resource"] for s in json.loads(configured.policy)["Statement"]] == [
        now[configured_id]
    ], "the new model's own ARN in its policy"
    association = cleanrooms.associations[now[association_id]]
    assert association.configured_audience_model_arn == now[configured_id]
    assert endpoint.jobs[now[job_id]].params["configuredAudienceModelArn"] == now[configured_id]
    assert endpoint.jobs[before[job_id]].gone
    new_export = pipeline_stack.data[export_id]["Name"]
    assert new_export != old_export
    exports = endpoint.export_jobs
    assert set(exports) == {old_export, new_export}, "the old export stays"
    assert exports[new_export].params["audienceGenerationJobArn"] == now[job_id]
    assert exports[new_export].status == "ACTIVE"


def test_a_replacement_the_pinned_association_name_refuses_rolls_back_to_the_pipeline_as_it_was(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    """The association's name is pinned, and names are unique per membership: it cannot follow
    its configured model to a new one. The update fails naming the property, and the rollback
    deletes the new configured model; the deployed pipeline is untouched."""
    first = pipeline()
    assert deploy(pipeline_stack, first).failed is None
    before = dict(pipeline_stack.physical_ids)
    model_id, configured_id, association_id, job_id, export_id = (r.logical_id for r in first)
    policy = endpoint.configured_audience_models[before[configured_id]].policy

    redeployment = redeploy(pipeline_stack, pipeline(configured_name="retrained"))

    assert list(redeployment.updated) == [configured_id, association_id]
    failed = redeployment.updated[association_id]
    assert not failed.ok
    assert failed.reason.startswith(
        "ConfiguredAudienceModelAssociationName: changing ConfiguredAudienceModelArn needs a new "
        "configured audience model association"
    ), failed.reason
    assert "'lookalikes'" in failed.reason
    assert list(redeployment.rolled_back) == [association_id, configured_id]
    assert_all_ok(redeployment.rolled_back)
    assert pipeline_stack.physical_ids == before
    assert leftovers(endpoint, cleanrooms) == Leftovers(
        [before[model_id]], [before[configured_id]], [before[association_id]], [before[job_id]]
    ), "the new configured model was deleted, the old one kept"
    assert endpoint.configured_audience_models[before[configured_id]].policy == policy
    assert cleanrooms.associations[before[association_id]].name == "lookalikes"
    assert len(cleanrooms.calls_of("CreateConfiguredAudienceModelAssociation")) == 1
    assert len(endpoint.calls_of("StartAudienceGenerationJob")) == 1
    assert list(endpoint.export_jobs) == [pipeline_stack.data[export_id]["Name"]]


def test_a_failed_association_cancels_the_job_made_beside_it_and_the_rollback_leaves_nothing(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    """Without the job's dependency on the association, CloudFormation creates both at once
    once the configured model exists. The association fails: the job's create, still waiting
    for ACTIVE, is cancelled (a Delete with an id CloudFormation made up), and the rest is
    rolled back in reverse."""
    model, configured, association, job, _ = pipeline(job_after_association=False)
    assert deploy(pipeline_stack, [model, configured]).failed is None
    endpoint.create_duration = 0.3
    refusal = "This membership may not associate configured audience models"
    cleanrooms.inject(
        "CreateConfiguredAudienceModelAssociation", CleanRoomsFault.access_denied(refusal)
    )
    job_props = pipeline_stack.properties_of(job)
    waiter = pipeline_stack.begin_create(job.logical_id, job_props)
    (job_arn,) = endpoint.live_jobs()
    association_props = pipeline_stack.properties_of(association)

    failed = pipeline_stack.create(association.logical_id, association_props)
    cancelled = pipeline_stack.cancel_create(job.logical_id, job_props, waiter)
    late = pipeline_stack.wait_open(waiter)
    rollback = pipeline_stack.rollback_create(association.logical_id, failed, association_props)
    rest = [pipeline_stack.delete(r.logical_id) for r in (configured, model)]

    assert not failed.ok and f"AccessDeniedException: {refusal}" in failed.reason, failed.reason
    assert cancelled.ok, cancelled.reason
    assert waiter.request.cancelled and waiter.request.ignored == [late]
    assert rollback.ok and all(response.ok for response in rest), (rollback, rest)
    assert leftovers(endpoint, cleanrooms) == NOTHING
    assert endpoint.jobs[job_arn].gone or endpoint.jobs[job_arn].status.startswith("DELETE_")
    assert endpoint.calls_of("StartAudienceExportJob") == []


def test_a_retrained_model_is_swapped_into_the_configured_model_in_place(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    """A new training window trains a new audience model; the configured model takes it in
    place (its ARN unchanged), so the association, the job and the export stay; cleanup then
    deletes the old model, which nothing uses any more."""
    first = pipeline()
    assert deploy(pipeline_stack, first).failed is None
    before = dict(pipeline_stack.physical_ids)
    model_id, configured_id, *_ = (r.logical_id for r in first)

    redeployment = redeploy(pipeline_stack, pipeline(training_end="2026-07-31T23:59:59+00:00"))

    assert list(redeployment.updated) == [model_id, configured_id]
    assert_all_ok(redeployment.updated)
    assert redeployment.replaced == {model_id: before[model_id]}
    assert list(redeployment.cleaned_up) == [model_id]
    assert redeployment.cleaned_up[model_id].ok, redeployment.cleaned_up[model_id].reason
    new_model = pipeline_stack.physical_ids[model_id]
    assert pipeline_stack.physical_ids == {**before, model_id: new_model}
    configured = endpoint.configured_audience_models[before[configured_id]]
    assert configured.params["audienceModelArn"] == new_model
    assert endpoint.audience_models[new_model].status == "ACTIVE"
    assert before[model_id] not in endpoint.audience_models, "the old model was deleted"
    assert len(endpoint.calls_of("CreateConfiguredAudienceModel")) == 1
    assert len(endpoint.calls_of("StartAudienceGenerationJob")) == 1
    assert len(cleanrooms.calls_of("CreateConfiguredAudienceModelAssociation")) == 1
    assert len(endpoint.export_jobs) == 1


def clean_rooms_manages_the_policy(endpoint: CleanRoomsMLEndpoint, configured_arn: str) -> None:
    """What Clean Rooms does for an association with ManageResourcePolicies: it adds the
    collaboration's statement to the configured model's policy (the statement is a guess; the
    double records ManageResourcePolicies only)."""
    client = aws.client()
    current = client.get_configured_audience_model_policy(configuredAudienceModelArn=configured_arn)
    policy = json.loads(current["configuredAudienceModelPolicy"])
    policy["Statement"].append(
        {
            "Sid": "CleanRoomsCollaboration",
            "Effect": "Allow",
            "Principal": {"Service": "cleanrooms-ml.amazonaws.com"},
            "Action": "cleanrooms-ml:StartAudienceGenerationJob",
            "Resource": configured_arn,
            "Condition": {"StringEquals": {"cleanrooms-ml:CollaborationId": COLLABORATION}},
        }
    )
    client.put_configured_audience_model_policy(
        configuredAudienceModelArn=configured_arn,
        configuredAudienceModelPolicy=json.dumps(policy),
        previousPolicyHash=current["policyHash"],
    )


def test_a_new_partner_reaches_the_policy_of_a_model_whose_association_manages_it(
    pipeline_stack: PipelineStack, endpoint: CleanRoomsMLEndpoint, cleanrooms: CleanRoomsEndpoint
) -> None:
    """app.py's combination: a policy for a partner, and an association that lets Clean Rooms
    manage the model's policy for the collaboration. Adding a partner in the template must reach
    the policy and keep the collaboration's statement."""
    first = pipeline()
    assert deploy(pipeline_stack, first).failed is None
    configured_id = first[1].logical_id
    configured_arn = pipeline_stack.physical_ids[configured_id]
    clean_rooms_manages_the_policy(endpoint, configured_arn)
    changed = of_type(pipeline(partners=(PARTNER, SECOND_PARTNER)), CONFIGURED.resource_type)

    updated, rollback = pipeline_stack.update(configured_id, pipeline_stack.properties_of(changed))

    assert updated.ok, (updated.reason, rollback)
    policy = endpoint.configured_audience_models[configured_arn].policy
    assert policy is not None
    statements = json.loads(policy)["Statement"]
    principals = [s["Principal"] for s in statements]
    assert {"AWS": f"arn:aws:iam::{SECOND_PARTNER}:root"} in principals
    assert {"Service": "cleanrooms-ml.amazonaws.com"} in principals, "the collaboration's stays"
