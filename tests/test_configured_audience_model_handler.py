"""The ConfiguredAudienceModel kind through the real Provider framework and the local endpoint.

The fault scenarios the job kind is proven against (``test_lifecycle``, ``test_sequences``,
``test_sequences_review``), where they apply to a kind that is created, updated and deleted
synchronously and carries a resource policy. Each test plays CloudFormation
(``cloudformation.Stack``) around aws-cdk-lib's own framework runtime (``provider_runtime``),
which raises ``ResponseTooLarge`` for any response above 4096 bytes. A model is *unaccounted*
when it exists while no physical id CloudFormation holds names it (its ARN, or the pending id
that carries its name), and neither the test nor the endpoint registered it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import index
import pytest
from cleanrooms.engine import aws, limits
from cleanrooms.engine.identity import pending_name
from cleanrooms.engine.properties import OWNER_TAG_KEY
from cleanrooms.kinds import configured_audience_model
from cleanrooms.kinds.configured_audience_model import KIND as MODEL
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint, Fault
from cloudformation import CREATE_FAILED_MARKER, Response, Stack
from provider_runtime import RealProviderFramework

RESOURCE_TYPE = "Custom::CleanRoomsMLConfiguredAudienceModel"
ROLE = "arn:aws:iam::123456789012:role/audience-writer"

CREATE = "CreateConfiguredAudienceModel"
GET = "GetConfiguredAudienceModel"
LIST = "ListConfiguredAudienceModels"
UPDATE = "UpdateConfiguredAudienceModel"
DELETE = "DeleteConfiguredAudienceModel"
PUT_POLICY = "PutConfiguredAudienceModelPolicy"
GET_POLICY = "GetConfiguredAudienceModelPolicy"
DELETE_POLICY = "DeleteConfiguredAudienceModelPolicy"
TAG = "TagResource"
UNTAG = "UntagResource"
MUTATING = (CREATE, UPDATE, DELETE, PUT_POLICY, DELETE_POLICY, TAG, UNTAG)
KB10 = 10 * 1024


@pytest.fixture
def models(endpoint: CleanRoomsMLEndpoint) -> Stack:
    """A stack of configured audience models, served by the handler."""
    return Stack(
        RealProviderFramework(index, query_interval=0.01, total_timeout=30),
        resource_type=RESOURCE_TYPE,
    )


@pytest.fixture
def delete_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    """A Delete's own deadline cut from 54 minutes to one second (as in ``test_lifecycle``)."""
    monkeypatch.setattr(limits, "DELETE_TIMEOUT_SECONDS", 1)
    return 1.0


def other_stack(models: Stack) -> Stack:
    """Another stack of the same account, served by the same handler."""
    return Stack(
        models.framework,
        stack_id=models.stack_id.replace("/Jobs/", "/Other/"),
        resource_type=RESOURCE_TYPE,
    )


def model_properties(endpoint: CleanRoomsMLEndpoint, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AudienceModelArn": endpoint.default_audience_model_arn,
        "OutputConfig": {
            "Destination": {"S3Destination": {"S3Uri": "s3://audiences/out/"}},
            "RoleArn": ROLE,
        },
        "SharedAudienceMetrics": ["ALL"],
        "MinMatchingSeedSize": 25,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": "cleanrooms-ml:StartAudienceGenerationJob",
        }
    ],
}
WIDER: dict[str, Any] = {
    **POLICY,
    "Statement": [*POLICY["Statement"], {**POLICY["Statement"][0], "Sid": "Two"}],
}


# --------------------------------------------------------------------------------- helpers


def unaccounted(
    endpoint: CleanRoomsMLEndpoint, held: Collection[str], kept: Collection[str] = ()
) -> list[str]:
    """Models that exist while no physical id in ``held`` names them (by ARN or pending id).

    The endpoint's own registered model and those the test registered (``kept``) do not count.
    """
    names = {pending_name(physical_id) for physical_id in held}
    return [
        f"{model.name} {arn}"
        for arn, model in endpoint.configured_audience_models.items()
        if arn != endpoint.default_model_arn
        and arn not in kept
        and arn not in held
        and model.name not in names
    ]


def created_models(endpoint: CleanRoomsMLEndpoint) -> dict[str, Any]:
    """The models that exist, but the one the endpoint registered itself."""
    return {
        arn: model
        for arn, model in endpoint.configured_audience_models.items()
        if arn != endpoint.default_model_arn
    }


def stored_policy(endpoint: CleanRoomsMLEndpoint, arn: str) -> Any:
    """The model's resource policy as a document, None without one."""
    policy = endpoint.configured_audience_models[arn].policy
    return None if policy is None else json.loads(policy)


def with_resources(policy: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """``policy`` as the handler puts it: the model's ARN in statements that name no resource."""
    return {
        **policy,
        "Statement": [
            statement
            if "Resource" in statement or "NotResource" in statement
            else {**statement, "Resource": arn}
            for statement in policy["Statement"]
        ],
    }


def user_tags(endpoint: CleanRoomsMLEndpoint, arn: str) -> dict[str, str]:
    tags = endpoint.configured_audience_models[arn].tags
    return {key: value for key, value in tags.items() if key != OWNER_TAG_KEY}


def assert_clear_failure(response: Response) -> None:
    """FAILED with a one-line message within the handler's cap, and no traceback."""
    assert response.status == "FAILED", response
    assert response.reason.strip(), "a FAILED response needs a reason"
    escaped = len(json.dumps(response.reason, ensure_ascii=False).encode()) - 2
    assert escaped <= limits.MAX_REASON_BYTES, escaped
    assert "\n" not in response.reason
    assert "Traceback" not in response.raw_reason


def mutations(endpoint: CleanRoomsMLEndpoint) -> list[str]:
    return [name for name, _ in endpoint.calls if name in MUTATING]


# ------------------------------------------------------------------- create under faults


def test_create_throttled_beyond_the_retry_budget_then_succeeds(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    for operation in (CREATE, GET, LIST, GET_POLICY, PUT_POLICY):
        endpoint.inject(operation, Fault.throttle(), times=5)  # botocore makes 3 attempts

    created = models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    )

    assert created.ok, created.reason
    arn = created.physical_id
    assert MODEL.is_arn(arn)
    assert list(created_models(endpoint)) == [arn], "exactly one model was created"
    assert created.data == {
        "ConfiguredAudienceModelArn": arn,
        "Name": endpoint.configured_audience_models[arn].name,
    }
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn)
    for operation in (CREATE, PUT_POLICY):
        assert len(endpoint.calls_of(operation)) > 5, f"every throttle of {operation} served"


def test_create_whose_answer_was_lost_adopts_the_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    endpoint.inject(CREATE, Fault.after_success())  # made, but botocore sees a 500 and retries

    created = models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    )

    assert created.ok, created.reason
    arn = created.physical_id
    assert list(created_models(endpoint)) == [arn], "adopted, not made twice"
    assert len(endpoint.calls_of(CREATE)) == 2, "the retry met ConflictException"
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn)
    assert unaccounted(endpoint, set(models.physical_ids.values())) == []


@pytest.mark.parametrize("refused", [LIST, GET])
def test_a_lost_create_whose_lookup_is_refused_once_adopts_the_model_later(
    models: Stack, endpoint: CleanRoomsMLEndpoint, refused: str
) -> None:
    """on_event cannot settle the conflict (the lookup is refused), so it answers with the
    pending id that names the model; the waiter finds and adopts it."""
    endpoint.inject(CREATE, Fault.after_success())
    endpoint.inject(refused, Fault.access_denied())

    created = models.create("Configured", model_properties(endpoint))

    assert created.ok, created.reason
    assert list(created_models(endpoint)) == [created.physical_id]
    assert len(endpoint.calls_of(CREATE)) == 2, "no third create"
    assert unaccounted(endpoint, set(models.physical_ids.values())) == []


def test_a_redelivered_create_leaves_exactly_one_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    first = models.begin_create("Configured", props)
    second = models.redeliver(first)  # the same event (same RequestId) once more

    answered = models.wait_open(first)
    late = models.wait_open(second)

    assert answered.ok, answered.reason
    arn = answered.physical_id
    assert late.physical_id == arn, late
    assert first.request.ignored == [late], "CloudFormation took the first answer"
    assert list(created_models(endpoint)) == [arn]
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn)


def test_a_create_redelivered_after_its_answer_creates_nothing(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    first = models.begin_create("Configured", model_properties(endpoint))
    answered = models.wait_open(first)
    creates = len(endpoint.calls_of(CREATE))

    late = models.wait_open(models.redeliver(first))

    assert answered.ok, answered.reason
    assert first.request.ignored == [late]
    assert len(endpoint.calls_of(CREATE)) == creates
    assert list(created_models(endpoint)) == [answered.physical_id]


@pytest.mark.parametrize("whose", ["registered by hand", "another stack's"])
def test_a_name_held_by_someone_elses_model_is_a_clear_failure_and_nothing_is_deleted(
    models: Stack, endpoint: CleanRoomsMLEndpoint, whose: str
) -> None:
    if whose == "another stack's":
        theirs = other_stack(models).create("Theirs", model_properties(endpoint, Name="taken"))
        assert theirs.ok, theirs.reason
        kept = theirs.physical_id
    else:
        kept = endpoint.arn("configured-audience-model/theirs")
        endpoint.add_configured_audience_model(kept, name="taken")
    before = endpoint.configured_audience_models[kept]
    props = model_properties(endpoint, Name="taken", Description="mine")

    response = models.create("Mine", props)
    rollback = models.rollback_create("Mine", response, props)

    assert_clear_failure(response)
    assert "Name: a configured audience model named 'taken' already exists" in response.reason
    assert kept in response.reason
    assert rollback.ok, rollback.reason
    assert endpoint.calls_of(DELETE) == [], "their model was not touched"
    after = endpoint.configured_audience_models[kept]
    assert (after.params, after.tags) == (before.params, before.tags)
    assert unaccounted(endpoint, set(), kept={kept}) == []


def test_a_create_refused_by_the_service_fails_with_its_message(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint)
    endpoint.inject(CREATE, Fault.error("ValidationException", message="bins out of range"))

    response = models.create("Configured", props)
    rollback = models.rollback_create("Configured", response, props)

    assert_clear_failure(response)
    assert response.reason.startswith("CreateConfiguredAudienceModel (configured audience model")
    assert "ValidationException: bins out of range" in response.reason
    assert rollback.ok
    assert created_models(endpoint) == {}


# --------------------------------------------------------------------- cancelled creates


def test_a_cancelled_create_leaves_no_model(models: Stack, endpoint: CleanRoomsMLEndpoint) -> None:
    props = model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    waiter = models.begin_create("Configured", props)
    (arn,) = created_models(endpoint)  # on_event created it; the waiter is still to run

    deleted = models.cancel_create("Configured", props, waiter)
    answer = models.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert not MODEL.is_arn(deleted.physical_id), "CloudFormation's own id, no model's"
    assert waiter.request.cancelled and waiter.request.ignored == [answer]
    assert created_models(endpoint) == {}, "the Delete of the made-up id found it by its tag"
    assert [call["configuredAudienceModelArn"] for call in endpoint.calls_of(DELETE)] == [arn]
    assert len(endpoint.calls_of(CREATE)) == 1


def test_a_create_cancelled_while_throttled_never_creates_its_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint)
    endpoint.inject(CREATE, Fault.throttle(), times=None)
    waiter = models.begin_create("Configured", props)
    assert models.poll_open(waiter) is None, "waiting out the throttling"

    deleted = models.cancel_create("Configured", props, waiter)
    endpoint.clear_faults()  # the service answers again while the waiter still runs
    creates = len(endpoint.calls_of(CREATE))
    answer = models.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert answer.status == "FAILED" and "nothing was started" in answer.reason
    assert waiter.request.ignored == [answer]
    assert len(endpoint.calls_of(CREATE)) == creates, "no create once cancelled"
    assert created_models(endpoint) == {}


def test_the_delete_of_a_cancelled_create_leaves_models_it_did_not_create(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint)
    kept = models.create("Kept", props).physical_id  # another resource's, same properties
    waiter = models.begin_create("Configured", props)

    deleted = models.cancel_create("Configured", props, waiter)
    models.wait_open(waiter)

    assert deleted.ok, deleted.reason
    assert list(created_models(endpoint)) == [kept]


# --------------------------------------------------------------------- in-place updates


def test_tags_change_in_place_and_tags_the_template_never_declared_are_left_alone(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    tags = [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "a"}]
    arn = models.create("Configured", model_properties(endpoint, Tags=tags)).physical_id
    aws.client().tag_resource(resourceArn=arn, tags={"by-hand": "yes"})
    endpoint.clear_calls()

    updated, follow_up = models.update(
        "Configured",
        model_properties(
            endpoint, Tags=[{"Key": "team", "Value": "ai"}, {"Key": "cost", "Value": "1"}]
        ),
    )

    assert updated.ok, updated.reason
    assert (updated.physical_id, follow_up) == (arn, None)
    assert user_tags(endpoint, arn) == {"team": "ai", "cost": "1", "by-hand": "yes"}
    assert OWNER_TAG_KEY in endpoint.configured_audience_models[arn].tags
    assert endpoint.calls_of(UNTAG) == [{"resourceArn": arn, "tagKeys": ["stage"]}]
    assert endpoint.calls_of(UPDATE) == [] and endpoint.calls_of(CREATE) == []


def test_an_update_throttled_beyond_the_retry_budget_then_succeeds(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint)).physical_id
    for operation in (UPDATE, TAG, GET):
        endpoint.inject(operation, Fault.throttle(), times=5)

    updated, _ = models.update(
        "Configured",
        model_properties(
            endpoint,
            Description="second",
            MinMatchingSeedSize=100,
            SharedAudienceMetrics=["NONE"],
            AudienceSizeConfig={"AudienceSizeType": "ABSOLUTE", "AudienceSizeBins": [100, 500]},
            Tags=[{"Key": "team", "Value": "ai"}],
        ),
    )

    assert updated.ok, updated.reason
    assert updated.physical_id == arn
    params = endpoint.configured_audience_models[arn].params
    assert params["description"] == "second"
    assert params["minMatchingSeedSize"] == 100, "a number, not the string CloudFormation sent"
    assert params["sharedAudienceMetrics"] == ["NONE"]
    assert params["audienceSizeConfig"] == {
        "audienceSizeType": "ABSOLUTE",
        "audienceSizeBins": [100, 500],
    }
    assert user_tags(endpoint, arn) == {"team": "ai"}
    assert list(created_models(endpoint)) == [arn]


def test_an_update_the_service_refuses_fails_with_its_message_and_rolls_back(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint, Description="a")).physical_id
    before = endpoint.configured_audience_models[arn].params
    message = "minMatchingSeedSize must not exceed the audience model's training size"
    endpoint.inject(UPDATE, Fault.error("ValidationException", message=message))

    updated, rollback = models.update(
        "Configured",
        model_properties(
            endpoint,
            Description="b",
            MinMatchingSeedSize=400000,
            Tags=[{"Key": "team", "Value": "ai"}],
        ),
    )

    assert_clear_failure(updated)
    assert updated.physical_id == arn
    assert f"UpdateConfiguredAudienceModel (configured audience model {arn})" in updated.reason
    assert f"ValidationException: {message}" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == arn
    assert endpoint.configured_audience_models[arn].params == before
    assert user_tags(endpoint, arn) == {"team": "ml"}, "the tags applied first came back"
    assert len(endpoint.calls_of(UPDATE)) == 2, "the refused one, and the rollback's"


def test_an_update_failing_after_the_model_changed_is_restored_in_place(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """UpdateConfiguredAudienceModel succeeded, then the policy was refused: the rollback puts
    the model's old values back with another Update."""
    props = model_properties(endpoint, Description="a", ConfiguredAudienceModelPolicy=POLICY)
    arn = models.create("Configured", props).physical_id
    before = endpoint.configured_audience_models[arn].params
    endpoint.inject(PUT_POLICY, Fault.access_denied("not allowed to share"))

    updated, rollback = models.update(
        "Configured",
        model_properties(
            endpoint, Description="b", MinMatchingSeedSize=50, ConfiguredAudienceModelPolicy=WIDER
        ),
    )

    assert_clear_failure(updated)
    assert arn in updated.reason
    assert "AccessDeniedException: not allowed to share" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == arn
    assert endpoint.configured_audience_models[arn].params == before
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn)
    assert [call.get("description") for call in endpoint.calls_of(UPDATE)] == ["b", "a"]


def test_the_rollback_of_an_update_that_added_a_description_removes_it(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    arn = models.create("Configured", props).physical_id
    endpoint.inject(PUT_POLICY, Fault.access_denied("not allowed to share"))

    updated, rollback = models.update(
        "Configured", {**props, "Description": "added", "ConfiguredAudienceModelPolicy": WIDER}
    )

    assert updated.status == "FAILED"
    assert rollback is not None and rollback.ok, rollback
    assert endpoint.configured_audience_models[arn].params.get("description", "") == ""


def test_a_cancelled_policy_update_leaves_the_policy_the_rollback_restored(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    arn = models.create("Configured", props).physical_id
    waiter = models.begin_update(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=WIDER)
    )

    rolled_back = models.cancel_update("Configured", waiter)
    models.wait_open(waiter)  # the cancelled waiter keeps running; its answer is ignored

    assert rolled_back.ok, rolled_back.reason
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn), "what CloudFormation holds"


def test_a_cancelled_update_leaves_the_values_the_rollback_restored(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint, Description="a")).physical_id
    endpoint.inject(UPDATE, Fault.throttle(), times=3)  # on_event's Update is left to the waiter
    waiter = models.begin_update("Configured", model_properties(endpoint, Description="b"))

    rolled_back = models.cancel_update("Configured", waiter)
    stale = models.wait_open(waiter)

    assert rolled_back.ok, rolled_back.reason
    assert stale.status == "FAILED" and waiter.request.ignored == [stale]
    assert endpoint.configured_audience_models[arn].params["description"] == "a"


# -------------------------------------------------------------------------- replacement


def test_removing_an_in_place_member_replaces_the_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    old = models.create(
        "Configured",
        model_properties(
            endpoint,
            Description="first",
            AudienceSizeConfig={"AudienceSizeType": "PERCENTAGE", "AudienceSizeBins": [5, 10]},
        ),
    ).physical_id

    updated, cleanup = models.update(
        "Configured", model_properties(endpoint, Description="first", AudienceSizeConfig=None)
    )

    assert updated.ok, updated.reason
    new = updated.physical_id
    assert MODEL.is_arn(new) and new != old
    assert cleanup is not None and cleanup.ok, cleanup
    assert list(created_models(endpoint)) == [new]
    params = endpoint.configured_audience_models[new].params
    assert params["description"] == "first" and "audienceSizeConfig" not in params
    assert endpoint.calls_of(UPDATE) == [], "Update cannot unset a member"


def test_a_removed_description_is_cleared_in_place(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint, Description="first")).physical_id

    updated, _ = models.update("Configured", model_properties(endpoint))

    assert updated.ok, updated.reason
    assert updated.physical_id == arn
    assert endpoint.configured_audience_models[arn].params.get("description", "") == ""
    assert [call.get("description") for call in endpoint.calls_of(UPDATE)] == [""]


def test_removing_an_in_place_member_with_a_pinned_name_fails_before_any_change(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint, Name="pinned", MinMatchingSeedSize="30")
    arn = models.create("Configured", props).physical_id
    endpoint.clear_calls()

    updated, rollback = models.update(
        "Configured", {key: value for key, value in props.items() if key != "MinMatchingSeedSize"}
    )

    assert_clear_failure(updated)
    assert (
        "Name: changing MinMatchingSeedSize needs a new configured audience model" in updated.reason
    )
    assert "'pinned'" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert endpoint.calls_of(CREATE) == [] and endpoint.calls_of(DELETE) == []
    assert list(created_models(endpoint)) == [arn]
    assert endpoint.configured_audience_models[arn].params["minMatchingSeedSize"] == 30


@pytest.mark.parametrize(
    "change",
    [{"Name": "second"}, {"ChildResourceTagOnCreatePolicy": "FROM_PARENT_RESOURCE"}],
    ids=["Name", "ChildResourceTagOnCreatePolicy"],
)
def test_a_create_only_member_replaces_the_model_and_cleanup_deletes_the_old(
    models: Stack, endpoint: CleanRoomsMLEndpoint, change: dict[str, str]
) -> None:
    props = model_properties(endpoint, Name="first", ConfiguredAudienceModelPolicy=POLICY)
    old = models.create("Configured", props).physical_id

    updated, cleanup = models.update("Configured", {**props, "Name": "second", **change})

    assert updated.ok, updated.reason
    new = updated.physical_id
    assert new != old and cleanup is not None and cleanup.ok, cleanup
    assert list(created_models(endpoint)) == [new]
    assert stored_policy(endpoint, new) == with_resources(POLICY, new), "its own ARN in it"
    assert models.data["Configured"]["ConfiguredAudienceModelArn"] == new


def test_a_failed_replacement_is_swept_and_the_old_model_kept_as_it_was(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(
        endpoint, Name="first", Description="a", ConfiguredAudienceModelPolicy=POLICY
    )
    old = models.create("Configured", props).physical_id
    before = endpoint.configured_audience_models[old]
    endpoint.inject(PUT_POLICY, Fault.access_denied("not allowed to share"))

    updated, rollback = models.update(
        "Configured",
        model_properties(
            endpoint,
            Name="second",
            Description="b",
            ConfiguredAudienceModelPolicy=WIDER,
            Tags=[{"Key": "team", "Value": "ai"}],
        ),
    )

    assert_clear_failure(updated)
    replacement = updated.physical_id
    assert MODEL.is_arn(replacement) and replacement != old
    assert "AccessDeniedException: not allowed to share" in updated.reason
    assert rollback is not None and rollback.ok, rollback
    assert rollback.physical_id == old
    assert replacement not in endpoint.configured_audience_models, "swept by the rollback"
    after = endpoint.configured_audience_models[old]
    assert (after.params, after.tags, after.policy) == (before.params, before.tags, before.policy)
    assert unaccounted(endpoint, set(models.physical_ids.values())) == []
    assert len(endpoint.calls_of(CREATE)) == 2, "the original and one replacement"


def test_a_replacement_whose_policy_is_refused_is_removed_at_once(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint, Name="first", ConfiguredAudienceModelPolicy=POLICY)
    old = models.create("Configured", props).physical_id
    endpoint.inject(PUT_POLICY, Fault.access_denied("not allowed to share"))

    waiter = models.begin_update("Configured", {**props, "Name": "second"})
    failed = models.wait_open(waiter)  # no rollback follows (cdk deploy --no-rollback)

    assert failed.status == "FAILED"
    assert failed.physical_id != old
    assert failed.physical_id not in endpoint.configured_audience_models


def test_a_replacement_refused_by_the_service_rolls_back_to_the_old_model(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    props = model_properties(endpoint, Name="first")
    old = models.create("Configured", props).physical_id
    endpoint.inject(CREATE, Fault.error("ValidationException", message="bad output location"))

    updated, rollback = models.update("Configured", {**props, "Name": "second"})

    assert_clear_failure(updated)
    assert "ValidationException: bad output location" in updated.reason
    assert rollback is not None and rollback.ok and rollback.physical_id == old, rollback
    assert list(created_models(endpoint)) == [old]


# ------------------------------------------------------------------------------- deletes


def test_delete_refused_with_conflict_until_its_deadline_names_the_arn_and_the_refusal(
    models: Stack, endpoint: CleanRoomsMLEndpoint, delete_deadline: float
) -> None:
    arn = models.create("Configured", model_properties(endpoint)).physical_id
    message = "The configured audience model is associated with a collaboration"
    endpoint.inject(DELETE, Fault.error("ConflictException", message=message), times=None)

    began = time.monotonic()
    deleted = models.delete("Configured")
    took = time.monotonic() - began

    assert_clear_failure(deleted)
    assert deleted.physical_id == arn
    assert f"Configured audience model {arn} was not deleted" in deleted.reason
    assert f"ConflictException: {message}" in deleted.reason, deleted.reason
    assert delete_deadline <= took < 5, "bounded by the delete deadline"
    assert arn in endpoint.configured_audience_models
    assert models.physical_ids["Configured"] == arn, "CloudFormation still holds it"


def test_delete_refused_with_conflict_a_few_times_completes(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    models.create("Configured", model_properties(endpoint))
    endpoint.inject(DELETE, Fault.error("ConflictException", message="busy"), times=3)

    deleted = models.delete("Configured")

    assert deleted.ok, deleted.reason
    assert created_models(endpoint) == {}
    assert len(endpoint.calls_of(DELETE)) == 4


def test_delete_whose_answer_was_lost_succeeds(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    models.create("Configured", model_properties(endpoint))
    endpoint.inject(DELETE, Fault.after_success())  # the retry meets ResourceNotFoundException

    deleted = models.delete("Configured")

    assert deleted.ok, deleted.reason
    assert created_models(endpoint) == {}


def test_delete_of_a_model_deleted_outside_cloudformation_succeeds_twice(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint)).physical_id
    aws.client().delete_configured_audience_model(configuredAudienceModelArn=arn)
    event = models.event("Delete", "Configured", model_properties(endpoint), PhysicalResourceId=arn)

    first = models.framework.deliver(event)
    again = models.framework.deliver(event)

    assert first.ok and again.ok, (first.reason, again.reason)
    assert len(endpoint.calls_of(DELETE)) == 1, "only the one made outside CloudFormation"


def test_delete_of_a_model_another_resource_owns_fails_and_deletes_nothing(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    theirs = other_stack(models).create("Theirs", model_properties(endpoint)).physical_id
    endpoint.clear_calls()

    response = models.framework.deliver(
        models.event("Delete", "Mine", model_properties(endpoint), PhysicalResourceId=theirs)
    )

    assert_clear_failure(response)
    assert response.reason.startswith(
        f"Configured audience model {theirs} carries the ownership tag of another stack resource"
    )
    assert theirs in endpoint.configured_audience_models
    assert mutations(endpoint) == []


def test_delete_of_a_model_whose_ownership_tag_was_removed_deletes_it(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint)).physical_id
    aws.client().untag_resource(resourceArn=arn, tagKeys=[OWNER_TAG_KEY])

    deleted = models.delete("Configured")

    assert deleted.ok, deleted.reason
    assert created_models(endpoint) == {}


@pytest.mark.parametrize(
    "physical_id",
    [CREATE_FAILED_MARKER, "Jobs-Configured-1A2B3C4D5E6F", "6f1c1f4e-1111-2222-3333-444455556666"],
)
def test_delete_of_an_id_that_is_no_model_deletes_nothing(
    models: Stack, endpoint: CleanRoomsMLEndpoint, physical_id: str
) -> None:
    other = models.create("Other", model_properties(endpoint)).physical_id
    endpoint.clear_calls()
    event = models.event(
        "Delete", "Configured", model_properties(endpoint), PhysicalResourceId=physical_id
    )

    first = models.framework.deliver(event)
    second = models.framework.deliver(event)

    assert first.ok and second.ok, (first.reason, second.reason)
    assert mutations(endpoint) == []
    assert list(created_models(endpoint)) == [other]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Descripton": "typo"}, "Descripton: unknown property (did you mean Description?)"),
        (
            {"ConfiguredAudienceModelPolicies": POLICY},
            "ConfiguredAudienceModelPolicies: unknown property "
            "(did you mean ConfiguredAudienceModelPolicy?)",
        ),
        (
            {
                "OutputConfig": {
                    "Destination": {"S3Destination": {"S3Url": "s3://audiences/"}},
                    "RoleArn": ROLE,
                }
            },
            "OutputConfig.Destination.S3Destination.S3Url: unknown property (did you mean S3Uri?)",
        ),
    ],
    ids=["top level", "policy", "nested"],
)
def test_an_unknown_property_is_refused_naming_it(
    models: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    props = model_properties(endpoint, **overrides)

    response = models.create("Configured", props)
    rollback = models.rollback_create("Configured", response, props)

    assert_clear_failure(response)
    assert response.physical_id == CREATE_FAILED_MARKER
    assert message in response.reason, response.reason
    assert rollback.ok
    assert endpoint.calls == []


BAD_VALUES = [
    ({"MinMatchingSeedSize": "10"}, "MinMatchingSeedSize: must be 25 to 500000, got 10"),
    ({"MinMatchingSeedSize": "many"}, "MinMatchingSeedSize: must be a whole number, got 'many'"),
    ({"MinMatchingSeedSize": "2.5"}, "MinMatchingSeedSize: must be a whole number, got '2.5'"),
    (
        {"SharedAudienceMetrics": ["SOME"]},
        "SharedAudienceMetrics[0]: must be one of ALL, NONE, got 'SOME'",
    ),
    ({"SharedAudienceMetrics": "ALL"}, "SharedAudienceMetrics: must be a list, got str"),
    ({"SharedAudienceMetrics": []}, "SharedAudienceMetrics: must be 1 item, got 0"),
    ({"OutputConfig": "s3://audiences/"}, "OutputConfig: must be an object, got str"),
    ({"OutputConfig": {"RoleArn": ROLE}}, "OutputConfig.Destination: required"),
    (
        {"AudienceSizeConfig": {"AudienceSizeType": "ABSOLUTE"}},
        "AudienceSizeConfig.AudienceSizeBins: required",
    ),
    (
        {"AudienceSizeConfig": {"AudienceSizeType": "ABSOLUTE", "AudienceSizeBins": ["ten"]}},
        "AudienceSizeConfig.AudienceSizeBins[0]: must be a whole number, got 'ten'",
    ),
    (
        {"ChildResourceTagOnCreatePolicy": "ALWAYS"},
        "ChildResourceTagOnCreatePolicy: must be one of FROM_PARENT_RESOURCE, NONE",
    ),
    ({"AudienceModelArn": "arn:aws:s3:::bucket"}, "AudienceModelArn: must be"),
    ({"Name": "n" * 64}, "Name: must be 1 to 63 characters, got 64"),
    ({"Description": ["a"]}, "Description: must be a string, got list"),
    ({"Tags": [{"Key": "aws:team", "Value": "x"}]}, "the prefix 'aws:' is reserved"),
    (
        {"ConfiguredAudienceModelPolicy": "{}"},
        "ConfiguredAudienceModelPolicy: must be a policy document (an object)",
    ),
    (
        {"ConfiguredAudienceModelPolicy": {"Version": "2012-10-17", "Statement": []}},
        "ConfiguredAudienceModelPolicy.Statement: must be a non-empty list of statements",
    ),
    (
        {"ConfiguredAudienceModelPolicy": {"Statement": ["Allow"]}},
        "ConfiguredAudienceModelPolicy.Statement[0]: must be an object",
    ),
    (
        {"ConfiguredAudienceModelPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*"}]}},
        "ConfiguredAudienceModelPolicy.Statement[0]: must name Action or NotAction",
    ),
    (
        {"ConfiguredAudienceModelPolicy": {"Statement": [{"Effect": "Allow", "Action": "x:Y"}]}},
        "ConfiguredAudienceModelPolicy.Statement[0]: must name Principal or NotPrincipal",
    ),
    (
        {
            "ConfiguredAudienceModelPolicy": {
                "Statement": [
                    {**POLICY["Statement"][0], "Sid": f"Partner{index}"} for index in range(200)
                ]
            }
        },
        "ConfiguredAudienceModelPolicy: must be at most 20480 characters as JSON, got at least",
    ),
]


def test_the_policy_limit_is_the_service_model_s(endpoint: CleanRoomsMLEndpoint) -> None:
    shape = aws.client().meta.service_model.shape_for("ResourcePolicy")

    assert shape.metadata["max"] == configured_audience_model.MAX_POLICY_LENGTH


@pytest.mark.parametrize(("overrides", "message"), BAD_VALUES)
def test_a_bad_value_is_refused_before_any_api_call(
    models: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    props = model_properties(endpoint, **overrides)

    response = models.create("Configured", props)
    rollback = models.rollback_create("Configured", response, props)

    assert_clear_failure(response)
    assert response.physical_id == CREATE_FAILED_MARKER
    assert message in response.reason, response.reason
    assert rollback.ok
    assert endpoint.calls == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Descripton": "typo"}, "did you mean Description?"),
        ({"MinMatchingSeedSize": "10"}, "MinMatchingSeedSize: must be 25 to 500000, got 10"),
        ({"SharedAudienceMetrics": ["SOME"]}, "SharedAudienceMetrics[0]: must be one of"),
        ({"Name": "other", "SharedAudienceMetrics": ["SOME"]}, "SharedAudienceMetrics[0]"),
        ({"ConfiguredAudienceModelPolicy": []}, "must be a policy document"),
    ],
)
def test_a_bad_value_on_update_changes_nothing(
    models: Stack, endpoint: CleanRoomsMLEndpoint, overrides: dict[str, Any], message: str
) -> None:
    props = model_properties(endpoint, Name="pinned", ConfiguredAudienceModelPolicy=POLICY)
    arn = models.create("Configured", props).physical_id
    before = endpoint.configured_audience_models[arn]
    endpoint.clear_calls()
    event = models.event(
        "Update",
        "Configured",
        {**props, "Description": "new", "Tags": [], **overrides},
        PhysicalResourceId=arn,
        OldResourceProperties=models.properties["Configured"],
    )

    updated = models.framework.deliver(event)

    assert_clear_failure(updated)
    assert message in updated.reason, updated.reason
    assert mutations(endpoint) == []
    after = endpoint.configured_audience_models[arn]
    assert (after.params, after.tags, after.policy) == (before.params, before.tags, before.policy)


# --------------------------------------------------------------------------- the policy


def test_the_policy_is_put_with_the_models_arn_changed_and_removed(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    created = models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    )
    assert created.ok, created.reason
    arn = models.physical_ids["Configured"]
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn)
    (put,) = endpoint.calls_of(PUT_POLICY)
    assert put["policyExistenceCondition"] == "POLICY_MUST_NOT_EXIST"

    widened, _ = models.update(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=WIDER)
    )
    assert widened.ok, widened.reason
    assert widened.physical_id == arn
    assert stored_policy(endpoint, arn) == with_resources(WIDER, arn)
    assert "previousPolicyHash" in endpoint.calls_of(PUT_POLICY)[-1]
    assert endpoint.calls_of(UPDATE) == [], "the policy alone changes no model member"

    removed, _ = models.update("Configured", model_properties(endpoint))
    assert removed.ok, removed.reason
    assert endpoint.configured_audience_models[arn].policy is None
    assert len(endpoint.calls_of(DELETE_POLICY)) == 1


def test_a_statement_with_its_own_resource_keeps_it(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    elsewhere = endpoint.arn("configured-audience-model/*")
    statement = POLICY["Statement"][0]
    policy = {
        **POLICY,
        "Statement": [
            {**statement, "Sid": "Own", "Resource": [elsewhere]},
            {**statement, "Sid": "Not", "NotResource": elsewhere},
            {**statement, "Sid": "Filled"},
        ],
    }

    created = models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=policy)
    )

    assert created.ok, created.reason
    arn = created.physical_id
    stored = {s["Sid"]: s for s in stored_policy(endpoint, arn)["Statement"]}
    assert stored["Own"]["Resource"] == [elsewhere]
    assert stored["Not"]["NotResource"] == elsewhere and "Resource" not in stored["Not"]
    assert stored["Filled"]["Resource"] == arn


@pytest.mark.parametrize("step", ["create", "update"])
def test_a_put_policy_whose_answer_was_lost_does_not_fail(
    models: Stack, endpoint: CleanRoomsMLEndpoint, step: str
) -> None:
    """botocore retries the Put after the 500; its condition no longer holds then."""
    if step == "create":
        endpoint.inject(PUT_POLICY, Fault.after_success())
        response = models.create(
            "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
        )
        expected = POLICY
    else:
        models.create(
            "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
        )
        endpoint.inject(PUT_POLICY, Fault.after_success())
        response, _ = models.update(
            "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=WIDER)
        )
        expected = WIDER

    assert response.ok, response.reason
    arn = models.physical_ids["Configured"]
    assert stored_policy(endpoint, arn) == with_resources(expected, arn)
    assert len(endpoint.calls_of(PUT_POLICY)) >= 2 + (step == "update")


def test_a_delete_policy_whose_answer_was_lost_does_not_fail(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    models.create("Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY))
    endpoint.inject(DELETE_POLICY, Fault.after_success())  # the retry meets no policy

    removed, _ = models.update("Configured", model_properties(endpoint))

    assert removed.ok, removed.reason
    assert endpoint.configured_audience_models[models.physical_ids["Configured"]].policy is None


def test_a_policy_put_throttled_beyond_the_retry_budget_is_put_on_a_later_poll(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create("Configured", model_properties(endpoint)).physical_id
    endpoint.inject(PUT_POLICY, Fault.throttle(), times=5)

    updated, _ = models.update(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    )

    assert updated.ok, updated.reason
    assert stored_policy(endpoint, arn) == with_resources(POLICY, arn)


def someone_elses_policy(arn: str) -> dict[str, Any]:
    """The stack's statement changed by hand (its Sid and actions)."""
    statement = {**POLICY["Statement"][0], "Resource": arn}
    return {**POLICY, "Statement": [{**statement, "Sid": "ByHand", "Action": "cleanroomsml:*"}]}


def with_a_statement_added(arn: str) -> dict[str, Any]:
    """The stack's statement, and one added by hand (as Clean Rooms adds one for an association
    that manages the model's resource policy)."""
    statement = {**POLICY["Statement"][0], "Resource": arn}
    return {**POLICY, "Statement": [statement, {**statement, "Sid": "ByHand"}]}


def policy_changed_outside_cloudformation(
    models: Stack,
    endpoint: CleanRoomsMLEndpoint,
    change: Callable[[str], dict[str, Any]] = someone_elses_policy,
) -> tuple[str, dict[str, Any]]:
    """A model created with POLICY, whose policy someone then changed by hand."""
    created = models.create(
        "Configured",
        model_properties(endpoint, Description="old", ConfiguredAudienceModelPolicy=POLICY),
    )
    assert created.ok, created.reason
    theirs = change(created.physical_id)
    aws.client().put_configured_audience_model_policy(
        configuredAudienceModelArn=created.physical_id,
        configuredAudienceModelPolicy=json.dumps(theirs),
    )
    endpoint.clear_calls()
    return created.physical_id, theirs


DECLARED = pytest.mark.parametrize(
    "declared", [None, WIDER], ids=["policy removed", "policy changed"]
)


def test_an_update_that_keeps_the_policy_leaves_an_outside_change_alone(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn, theirs = policy_changed_outside_cloudformation(models, endpoint)

    updated, _ = models.update(
        "Configured",
        model_properties(endpoint, Description="new", ConfiguredAudienceModelPolicy=POLICY),
    )

    assert updated.ok, updated.reason
    assert stored_policy(endpoint, arn) == theirs, "Clean Rooms (or someone) changed it: kept"
    assert endpoint.calls_of(PUT_POLICY) == [] and endpoint.calls_of(DELETE_POLICY) == []
    assert endpoint.configured_audience_models[arn].params["description"] == "new"


@DECLARED
def test_a_policy_changed_outside_cloudformation_is_not_overwritten(
    models: Stack, endpoint: CleanRoomsMLEndpoint, declared: dict[str, Any] | None
) -> None:
    arn, theirs = policy_changed_outside_cloudformation(models, endpoint)

    updated, rollback = models.update(
        "Configured",
        model_properties(endpoint, Description="new", ConfiguredAudienceModelPolicy=declared),
    )

    assert_clear_failure(updated)
    assert f"configured audience model {arn} was changed outside CloudFormation" in (updated.reason)
    assert rollback is not None, "CloudFormation rolls the failed update back"
    assert stored_policy(endpoint, arn) == theirs, "neither the update nor its rollback put one"
    assert endpoint.calls_of(PUT_POLICY) == [] and endpoint.calls_of(DELETE_POLICY) == []
    assert endpoint.configured_audience_models[arn].params["description"] == "old"


@DECLARED
def test_the_rollback_of_an_update_refused_for_an_outside_policy_change_succeeds(
    models: Stack, endpoint: CleanRoomsMLEndpoint, declared: dict[str, Any] | None
) -> None:
    arn, theirs = policy_changed_outside_cloudformation(models, endpoint)

    updated, rollback = models.update(
        "Configured",
        model_properties(endpoint, Description="new", ConfiguredAudienceModelPolicy=declared),
    )

    assert updated.status == "FAILED"
    assert rollback is not None and rollback.ok, rollback
    assert stored_policy(endpoint, arn) == theirs


@DECLARED
def test_statements_added_outside_cloudformation_are_kept_when_the_template_s_change(
    models: Stack, endpoint: CleanRoomsMLEndpoint, declared: dict[str, Any] | None
) -> None:
    """The stack replaces the statements it put, and only those."""
    arn, theirs = policy_changed_outside_cloudformation(models, endpoint, with_a_statement_added)

    updated, _ = models.update(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=declared)
    )

    assert updated.ok, updated.reason
    added = theirs["Statement"][1]
    wanted = with_resources(declared, arn)["Statement"] if declared else []
    assert stored_policy(endpoint, arn) == {**POLICY, "Statement": [*wanted, added]}
    assert endpoint.calls_of(DELETE_POLICY) == []


def test_a_policy_deleted_outside_cloudformation_is_put_again(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    arn = models.create(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    ).physical_id
    aws.client().delete_configured_audience_model_policy(configuredAudienceModelArn=arn)

    updated, _ = models.update(
        "Configured", model_properties(endpoint, ConfiguredAudienceModelPolicy=WIDER)
    )

    assert updated.ok, updated.reason
    assert stored_policy(endpoint, arn) == with_resources(WIDER, arn)


# ------------------------------------------------------------------ 4096 bytes, any refusal


@pytest.mark.parametrize("operation", [CREATE, UPDATE, PUT_POLICY, GET_POLICY, DELETE, TAG])
def test_a_10kb_refusal_fits_the_response(
    models: Stack, endpoint: CleanRoomsMLEndpoint, operation: str
) -> None:
    props = model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    refusal = Fault.access_denied("d" * KB10)
    if operation == CREATE:
        endpoint.inject(CREATE, refusal)
        response = models.create("Configured", props)  # raises ResponseTooLarge over 4096 bytes
    else:
        arn = models.create("Configured", props).physical_id
        endpoint.inject(operation, refusal)
        if operation == DELETE:
            response = models.delete("Configured")
        else:
            response, _ = models.update(
                "Configured",
                model_properties(
                    endpoint,
                    Description="new",
                    Tags=[{"Key": "b", "Value": "2"}],
                    ConfiguredAudienceModelPolicy=WIDER,
                ),
            )
        assert arn in response.reason

    assert_clear_failure(response)
    assert "AccessDeniedException: dddd" in response.reason


# ------------------------------------------------------------------------------ orphans


def test_no_model_is_orphaned_over_a_faulty_lifecycle(
    models: Stack, endpoint: CleanRoomsMLEndpoint
) -> None:
    """The orphan rule over one stack: a redelivery, a cancel, a lost answer, a failed
    replacement, a replacement and deletes."""
    props = model_properties(endpoint, ConfiguredAudienceModelPolicy=POLICY)
    waiter = models.begin_create("A", props)
    again = models.redeliver(waiter)
    models.wait_open(waiter)
    models.wait_open(again)
    cancelled = models.begin_create("B", props)
    models.cancel_create("B", props, cancelled)
    models.wait_open(cancelled)
    endpoint.inject(CREATE, Fault.after_success())
    assert models.create("C", props).ok
    endpoint.inject(PUT_POLICY, Fault.access_denied())
    failed, rolled_back = models.update("C", {**props, "Name": "c-second"})
    replaced, cleanup = models.update("A", {**props, "Name": "a-second"})

    assert [r.ok for r in (failed, rolled_back, replaced, cleanup) if r] == [
        False,
        True,
        True,
        True,
    ]
    assert unaccounted(endpoint, set(models.physical_ids.values())) == []
    assert len(created_models(endpoint)) == 2

    for logical_id in ("A", "C"):
        assert models.delete(logical_id).ok
    assert created_models(endpoint) == {}
