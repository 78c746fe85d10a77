"""The handler against the local Clean Rooms ML endpoint: API calls per lifecycle, and throughput.

    python bench/handler_bench.py lifecycle
    python bench/handler_bench.py throughput JOBS QUOTA DURATION INTERVAL

Prints JSON. The handler module runs in this process, its boto3 client pointed at the endpoint
with standard boto3 configuration only (tests/local_endpoint.py, as the tests do).

``lifecycle`` drives one job through tests/cloudformation.py's Provider framework stand-in: create
and wait, a tag-only update, delete. Jobs take no time on the endpoint here, so each wait is one
poll; a real wait adds one GetAudienceGenerationJob per further poll (every 30 s).

``throughput`` plays CloudFormation creating JOBS jobs of one stack at once under an account
quota of QUOTA jobs in progress, each taking DURATION seconds: every ``on_event`` first, then
``is_complete`` for every unfinished job right away and then every INTERVAL seconds, the event
built from ``on_event``'s result exactly as the Provider framework builds it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "lambda" / "handler")]

import index  # noqa: E402
from cleanrooms.kinds.audience_generation_job import KIND as JOB  # noqa: E402
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint  # noqa: E402
from cloudformation import ProviderFramework, Response, Stack, Waiter  # noqa: E402
from local_endpoint import local_endpoint  # noqa: E402

SEED_ROLE_ARN = "arn:aws:iam::123456789012:role/seed-reader"
TAGS = [{"Key": "cost-center", "Value": "marketing"}, {"Key": "project", "Value": "lookalikes"}]


def job_properties(endpoint: CleanRoomsMLEndpoint, index_: int, tags: Any = None) -> dict[str, Any]:
    """What the construct renders for a job of the bench app (before CloudFormation's strings)."""
    return {
        "ConfiguredAudienceModelArn": endpoint.default_model_arn,
        "SeedAudience": {
            "DataSource": {"S3Uri": f"s3://example-seed-audiences/seeds/segment-{index_:04d}/"},
            "RoleArn": SEED_ROLE_ARN,
        },
        "WaitForCompletion": True,
        "Tags": TAGS if tags is None else tags,
    }


def calls_since(endpoint: CleanRoomsMLEndpoint, start: int) -> dict[str, int]:
    return dict(Counter(name for name, _ in endpoint.calls[start:]))


def lifecycle() -> dict[str, Any]:
    """API calls of one job's create and wait, tag-only update, and delete."""
    with local_endpoint(create_duration=0.0, delete_duration=0.0) as endpoint:
        stack = Stack(ProviderFramework(index, query_interval=0.0, total_timeout=30))
        phases: dict[str, dict[str, Any]] = {}

        def record(phase: str, start: int, response: Response) -> None:
            if not response.ok:
                raise RuntimeError(f"{phase} failed: {response.reason}")
            calls = calls_since(endpoint, start)
            phases[phase] = {"calls": calls, "total": sum(calls.values()), "polls": response.polls}

        start = len(endpoint.calls)
        record("create and wait", start, stack.create("Job0", job_properties(endpoint, 0)))
        start = len(endpoint.calls)
        retagged = [{"Key": "cost-center", "Value": "sales"}, *TAGS[1:]]
        updated, follow_up = stack.update("Job0", job_properties(endpoint, 0, retagged))
        if follow_up is not None:
            raise RuntimeError("a tag-only update replaced the job")
        record("tag update", start, updated)
        start = len(endpoint.calls)
        record("delete", start, stack.delete("Job0"))
        if endpoint.live_jobs() or endpoint.internal_errors:
            raise RuntimeError(f"left {endpoint.live_jobs()}, {endpoint.internal_errors}")
        return phases


def throughput(jobs: int, quota: int, duration: float, interval: float) -> dict[str, Any]:
    """``jobs`` creates at once under the quota: total seconds against the ideal."""
    with local_endpoint(create_duration=duration, delete_duration=0.0, quota=quota) as local:
        stack = Stack(ProviderFramework(index))
        started = time.perf_counter()
        waiting: dict[str, Waiter] = {}
        for i in range(jobs):
            # The framework's onEvent, for a request CloudFormation holds open (the handler asks).
            waiter = stack.begin_create(f"Job{i}", job_properties(local, i))
            if waiter.response is not None:
                raise RuntimeError(f"Job{i} failed: {waiter.response.reason}")
            waiting[f"Job{i}"] = waiter
        on_event_seconds = time.perf_counter() - started
        started_by_on_event = len(local.jobs)
        finished: dict[str, float] = {}
        rounds, polls, slowest_round = 0, 0, 0.0
        next_round = time.perf_counter()  # the framework calls isComplete right after onEvent
        while waiting:
            delay = next_round - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            round_started = time.perf_counter()
            next_round = round_started + interval
            rounds += 1
            for logical_id, waiter in list(waiting.items()):
                polls += 1
                response = stack.poll_open(waiter)
                if response is None:
                    continue
                if not response.ok or not JOB.is_arn(response.physical_id):
                    raise RuntimeError(f"{logical_id}: {response.status} {response.physical_id}")
                finished[logical_id] = time.perf_counter() - started
                del waiting[logical_id]
            slowest_round = max(slowest_round, time.perf_counter() - round_started)
            if time.perf_counter() - started > 20 * duration * math.ceil(jobs / quota):
                raise RuntimeError(f"gave up with {len(waiting)} jobs unfinished")
        total = max(finished.values())
        live = local.live_jobs()
        if len(live) != jobs or any(job.status != "ACTIVE" for job in live.values()):
            raise RuntimeError(f"expected {jobs} ACTIVE jobs, found {len(live)}")
        if local.internal_errors:
            raise RuntimeError(str(local.internal_errors))
        calls = dict(Counter(name for name, _ in local.calls))
        return {
            "jobs": jobs,
            "quota": quota,
            "duration": duration,
            "interval": interval,
            "ideal": math.ceil(jobs / quota) * duration,
            "total": total,
            "on_event_seconds": on_event_seconds,
            "started_by_on_event": started_by_on_event,
            "rounds": rounds,
            "polls": polls,
            "slowest_round": slowest_round,
            "calls": calls,
        }


def main(argv: list[str]) -> None:
    if argv[1:] == ["lifecycle"]:
        result = lifecycle()
    elif len(argv) == 6 and argv[1] == "throughput":
        result = throughput(int(argv[2]), int(argv[3]), float(argv[4]), float(argv[5]))
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
