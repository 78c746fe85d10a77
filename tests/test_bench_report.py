"""bench/report.py renders the table and bench/RESULTS.md from fixed, made-up results.

No synth runs here: ``make bench`` measures (minutes); this checks only how results are worded.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # bench/ is a folder of scripts, not an installed package

from bench import report  # noqa: E402
from bench.measurements import (  # noqa: E402
    AWS_CR,
    CONSTRUCT,
    FLOOR,
    JOB_TYPE,
    PIPELINE,
    PROFILE_JOBS,
    SIZES,
    SMALL,
    VARIANTS,
    Asset,
    Code,
    ImportTimes,
    Machine,
    Phase,
    Profile,
    Profiles,
    Results,
    Run,
    SynthRun,
    Synths,
    Throughput,
)

SEED_ROLE = "arn:aws:iam::111122223333:role/seed-reader"
PROVIDER_RESOURCES = {CONSTRUCT: 15, AWS_CR: 2, FLOOR: 0}
"""The variants' own per-stack resources (the construct's provider, AwsCustomResource's)."""
SECONDS = {CONSTRUCT: (3.0, 0.003), AWS_CR: (3.2, 0.012), FLOOR: (2.9, 0.004)}
"""Synth wall seconds of each variant: at N=0, and per job."""


def job(variant: str, index: int, missed: bool) -> dict[str, Any]:
    """Job ``index``'s resources, in the shape each variant's are."""
    seed = {"DataSource": {"S3Uri": f"s3://example-seed-audiences/seeds/segment-{index:04d}/"}}
    properties = {"ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:p", **seed}
    if variant == AWS_CR:
        return {
            f"Job{index}Resource": {"Type": "Custom::AWS", "Properties": {"Create": str(seed)}},
            f"Job{index}Policy": {"Type": "AWS::IAM::Policy", "Properties": {"Roles": [SEED_ROLE]}},
        }
    if variant == FLOOR:
        return {f"Job{index}": {"Type": JOB_TYPE, "Properties": properties}}
    token = {"Fn::GetAtt": ["ProviderFramework", "Arn"]}
    resources = {
        f"Job{index}": {
            "Type": JOB_TYPE,
            "Properties": {**properties, "ServiceToken": token},
            "UpdateReplacePolicy": "Retain",
            "DeletionPolicy": "Retain",
        }
    }
    if missed:  # a second resource per job
        resources[f"Job{index}Grant"] = {"Type": "AWS::IAM::Policy", "Properties": {}}
    return resources


def synth_run(variant: str, jobs: int, round_: int, missed: bool) -> SynthRun:
    base, each = SECONDS[variant]
    if variant == CONSTRUCT and missed:
        base, each = base + 1.0, each * 2
    seconds = (base + each * jobs) * (1 + 0.01 * round_)
    resources = {
        "SeedRole": {"Type": "AWS::IAM::Role"},
        "CDKMetadata": {"Type": "AWS::CDK::Metadata"},
    }
    extra = 5 if variant == CONSTRUCT and missed else 0
    for i in range(PROVIDER_RESOURCES[variant] + extra):
        resources[f"Provider{i}"] = {"Type": "AWS::Lambda::Function"}
    for i in range(jobs):
        resources |= job(variant, i, missed)
    per_job = {CONSTRUCT: 1200 if missed else 590, AWS_CR: 2356, FLOOR: 806}[variant]
    return SynthRun(
        seconds=seconds,
        cpu_seconds=1.4 * seconds,
        max_rss_mib=460 + 0.25 * jobs,
        phases={
            "import_cdk": 0.5,
            "import_variant": {CONSTRUCT: 0.32, AWS_CR: 0.002, FLOOR: 0.0}[variant],
            "build": 0.2 + each / 2 * jobs,
            "synth": 1.5 + each / 2 * jobs,
        },
        resources=resources,
        template_bytes=1519 + 1000 * PROVIDER_RESOURCES[variant] + per_job * jobs,
    )


PIPELINE_RESOURCES = {
    "AWS::IAM::Role": 4,
    "AWS::S3::Bucket": 2,
    "AWS::CleanRoomsML::TrainingDataset": 1,
    "Custom::CleanRoomsMLAudienceModel": 1,
}
"""What the made-up pipeline's stack holds beyond the one job's."""


def pipeline_synths(missed: bool) -> Synths:
    """Made-up rounds of the pipeline's stack and the stack of one job."""
    synths = Synths(context="{}")
    for round_ in range(3):
        one_job = synth_run(CONSTRUCT, SMALL, round_, missed)
        resources = dict(one_job.resources)
        for kind, count in PIPELINE_RESOURCES.items():
            resources |= {f"{kind.split('::')[-1]}{i}": {"Type": kind} for i in range(count)}
        pipeline = SynthRun(
            seconds=one_job.seconds * 1.25,
            cpu_seconds=one_job.cpu_seconds * 1.3,
            max_rss_mib=one_job.max_rss_mib + 20,
            phases=one_job.phases,
            resources=resources,
            template_bytes=2 * one_job.template_bytes,
        )
        synths.runs.setdefault((PIPELINE, SMALL), []).append(pipeline)
        synths.runs.setdefault((CONSTRUCT, SMALL), []).append(one_job)
    return synths


def profile(variant: str, jobs: int) -> Profile:
    site = "constructs/cdk_cleanrooms_ml/audience_generation_job.py:128 __init__ -> create Resource"
    round_trips = {
        CONSTRUCT: {
            site: jobs,
            "answer to callback 7 -> sync_complete": 2 * jobs,
            "(aws-cdk-lib)": 9,
        },
        AWS_CR: {"bench/synth_app.py:120 add_job -> create AwsCustomResource": 7 * jobs},
        FLOOR: {"bench/synth_app.py:150 add_job -> create CfnResource": jobs},
    }[variant]
    functions = {
        "constructs/cdk_cleanrooms_ml/audience_generation_job.py:92 __init__": (
            jobs,
            0.0065 * jobs,
        ),
        "constructs/cdk_cleanrooms_ml/validation.py:38 check_job": (jobs, 0.0026 * jobs),
        "constructs/cdk_cleanrooms_ml/provider.py:30 once_per_stack": (1, 0.5),
    }
    return Profile(
        seconds=5.0,
        by_kind={"create": 10 + jobs, "invoke": 2 * jobs},
        round_trips=round_trips,
        round_trip_seconds={name: count * 0.0004 for name, count in round_trips.items()},
        own_functions=functions if variant == CONSTRUCT else {},
    )


def results(missed: bool) -> Results:
    """Made-up results: every target met, or (``missed``) every target missed."""
    synths = Synths(context="{}")
    for n, rounds in zip(SIZES, (3, 3, 2), strict=True):
        for round_ in range(rounds):
            for variant in VARIANTS:
                synths.runs.setdefault((variant, n), []).append(
                    synth_run(variant, n, round_, missed)
                )
    slower = 1.2 if missed else 1.0
    return Results(
        run=Run(
            command="python bench/run.py",
            started_at=datetime(2026, 11, 28, 19, 46, tzinfo=timezone.utc),
            seconds=249.4,
            load_before=(1.55, 1.74, 1.85),
            load_after=(2.26, 2.19, 2.01),
            code=Code(commit="dcd0cae", changed=["README.md"] if missed else []),
            machine=Machine(
                uname="Linux vm 6.18.44 x86_64 GNU/Linux",
                cpu="Intel(R) Xeon(R) Processor",
                cpus=2,
                memory_gib=23.5,
                python="3.11.7",
                node="v24.19.0",
                packages={"aws-cdk-lib": "2.275.0", "jsii": "1.142.0", "boto3": "1.44.8"},
                cdk_cli="2.1148.1",
            ),
        ),
        synths=synths,
        app_only=synth_run(FLOOR, 0, 0, missed),
        cli={CONSTRUCT: 6.31, AWS_CR: 6.36, FLOOR: 4.11},
        pipeline=pipeline_synths(missed),
        profiles=Profiles({(v, n): profile(v, n) for v in VARIANTS for n in (SMALL, PROFILE_JOBS)}),
        asset=Asset(zipped_bytes=45_835, files=6, raw_bytes=79_328),
        imports=ImportTimes(
            handler=[0.258 * slower, 0.262 * slower, 0.179 * slower],
            compiled=[0.235, 0.240, 0.194],
            boto3=[0.238, 0.240, 0.156],
        ),
        handler_modules={"index": 9200, "job_properties": 5800, "boto3": 20_000, "botocore": 9},
        boto3_modules={"boto3": 20_000, "botocore": 9},
        lifecycle={
            "create and wait": Phase(
                {"StartAudienceGenerationJob": 1, "GetAudienceGenerationJob": 1}, 2, 1
            ),
            "tag update": Phase({"GetAudienceGenerationJob": 1, "TagResource": 1}, 2, 0),
            "delete": Phase(
                {"DeleteAudienceGenerationJob": 1, "GetAudienceGenerationJob": 2}, 3, 1
            ),
        },
        throughput=Throughput(
            jobs=30,
            quota=10,
            duration=2.0,
            interval=0.1,
            ideal=6.0,
            total=8.0 if missed else 6.53,
            on_event_seconds=0.21,
            started_by_on_event=10,
            rounds=35,
            polls=620,
            slowest_round=0.37,
            calls={"StartAudienceGenerationJob": 317, "GetAudienceGenerationJob": 353},
        ),
    )


def table_rows(text: str) -> dict[str, list[str]]:
    """The cells of the table in ``text`` (header and separator included), by the first cell."""
    lines = text[text.index("| Measure |") :].split("\n\n")[0].splitlines()
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def verdicts(rows: dict[str, list[str]]) -> list[str]:
    """The Result cell of every row with a target."""
    return [
        cells[-1] for name, cells in rows.items() if name not in ("Measure", "---") and cells[-2]
    ]


def test_table_rows() -> None:
    rows = table_rows(report.table(results(missed=False)))
    assert list(rows)[:2] == ["Measure", "---"]
    assert rows["Measure"] == [*report.TITLES.values(), "Target", "Result"]
    assert len(rows) == 2 + 19
    assert rows["Resources, N=1 / 100 / 400"] == [
        "18 / 117 / 417",
        "6 / 204 / 804",
        "3 / 102 / 402",
        "",
        "",
    ]
    assert rows["Resources per job"] == ["1", "2", "1", "exactly 1", "met"]
    assert rows["Template bytes per job (N=1 to 100)"] == ["590", "2356", "806", "≤ 600", "met"]
    assert (
        rows["Jobs in one stack: by 500 resources / by 1 MiB → both"][0] == "483 / 1,749 → **483**"
    )
    assert (
        rows["Synth wall time, N=1 / 100 / 400 (median of 3 / 3 / 2)"][2] == "2.93 / 3.33 / 4.52 s"
    )
    assert rows["Handler asset (zip as cdk-assets makes it)"][:3] == [
        "45,835 bytes (6 files)",
        "—",
        "—",
    ]
    assert rows["API calls: create and wait / tag update / delete"][0] == "2 / 2 / 3"
    throughput = "Throughput: 30 jobs at once, quota 10, 2 s each, polled every 0.1 s"
    assert rows[throughput] == ["6.53 s / ideal 6.00 s = 1.09x", "—", "—", "≤ 1.25x", "met"]
    assert verdicts(rows) == ["met"] * 8


def test_the_pipeline_against_one_job() -> None:
    text = report.document(results(missed=False))
    section = text.split("## The example pipeline against one job\n\n")[1].split("\n## ")[0]
    assert "3 rounds, alternating" in section
    rows = {
        cells[0]: cells[1:]
        for line in section.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert rows["Stack"] == ["One job (N=1)", "Pipeline (app.py)", "Pipeline / one job"]
    assert rows["Resources"] == ["18", "26", "+8"]
    assert rows["Template bytes"] == ["17,109", "34,218", "2.00x"]
    assert rows["Synth wall time (median of 3)"] == ["3.03 s", "3.79 s", "1.25x"]
    assert rows["Synth CPU time (median of 3)"][2] == "1.30x"
    assert rows["Peak RSS (median)"] == ["460 MiB", "480 MiB", "1.04x"]
    assert (
        "beyond the one job's, by type: `AWS::IAM::Role` +4, `AWS::S3::Bucket` +2, "
        "`AWS::CleanRoomsML::TrainingDataset` +1, `Custom::CleanRoomsMLAudienceModel` +1.\n"
    ) in section


def test_every_placeholder_is_filled() -> None:
    for missed in (False, True):
        text = report.document(results(missed))
        assert "$" not in text
        assert "\n\n\n" not in text
        assert text.endswith(").\n")
        assert report.table(results(missed)) in text


def test_round_trips_and_functions_per_job() -> None:
    text = report.document(results(missed=False))
    assert "AudienceGenerationJob 3.0 (13 at N=1), AwsCustomResource 7.0" in text
    site = "constructs/cdk_cleanrooms_ml/audience_generation_job.py:128 __init__ -> create Resource"
    assert "| `answer to callback 7 -> sync_complete` | 2.00 | — |\n" in text
    assert f"| `{site}` | 1.00 | 0.40 |\n" in text
    assert (
        "| `constructs/cdk_cleanrooms_ml/audience_generation_job.py:92 __init__` | 1.00 | 6.50 |"
        in text
    )
    assert "once_per_stack" not in text  # called once per stack, not per job


def test_targets_met_leave_no_missed_section() -> None:
    text = report.document(results(missed=False))
    assert "## Missed targets" not in text
    assert "|\n\n## How it was measured\n" in text
    assert "- Code: commit dcd0cae, clean\n" in text


def test_each_missed_target_has_its_note() -> None:
    text = report.document(results(missed=True))
    rows = table_rows(text)
    assert verdicts(rows) == ["**missed**"] * 8
    section = text.split("## Missed targets: what bounds them\n\n")[1].split("\n\n")[0]
    notes = section.splitlines()
    assert [note.split(":")[0] for note in notes] == [
        "- Synth / floor at N=100",
        "- Synth / AwsCustomResource at N=100",
        "- Template bytes per job",
        "- Resources per job",
        "- Per-stack resources",
        "- Jobs per stack",
        "- Handler import",
        "- Throughput",
    ]
    assert "- Code: commit dcd0cae, with uncommitted changes to README.md\n" in text


def test_sections_and_rows_match_the_recorded_run() -> None:
    """The shape of bench/RESULTS.md, as the last real run wrote it: headings and table rows."""
    recorded = (REPO / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    rendered = report.document(results(missed=True))

    def headings(text: str) -> list[str]:
        return re.findall(r"^#+ .*$", text, flags=re.MULTILINE)

    def measures(text: str) -> list[str]:
        return [re.sub(r"\d+", "#", name) for name in table_rows(text)]

    assert headings(rendered) == headings(recorded)
    assert measures(rendered) == measures(recorded)


def test_fill_wants_every_placeholder_and_every_value() -> None:
    assert report.fill(Template("${a} and $b"), a=1, b="two") == "1 and two"
    with pytest.raises(ValueError, match=r"without a value: \['b'\]"):
        report.fill(Template("${a} and $b"), a=1)
    with pytest.raises(ValueError, match=r"without a placeholder: \['c'\]"):
        report.fill(Template("${a} and $b"), a=1, b=2, c=3)
