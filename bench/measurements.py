"""What ``make bench`` measures: synths, template footprint, handler imports and API calls.

Every function here runs something or counts something and returns typed results; none of them
words a result. bench/report.py turns the results into the table and bench/RESULTS.md, and
bench/run.py runs the measurements in order.

Every synth runs ``bench/synth_app.py VARIANT N`` as a fresh process, the way ``cdk synth`` runs
an app: with CDK_OUTDIR set to a temporary folder and the context the CDK CLI passes
(CDK_CONTEXT_JSON, captured from a real ``cdk synth``). Runs alternate between the variants
(A, B, C, A, B, C, ...), and every comparison is the median of the ratios of the runs of one
round, so that a machine busy with other work slows both sides of a ratio alike.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"
STACK_NAME = "Audiences"  # synth_app.STACK_NAME (not imported: that would start jsii here)
JOB_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
JOB_MARKER = "segment-0050/"
"""Job 50's seed prefix (synth_app.seed_uri): finds that job's resources in any variant."""

CONSTRUCT, AWS_CR, FLOOR = "construct", "aws-custom-resource", "cfn-resource"
VARIANTS = (CONSTRUCT, AWS_CR, FLOOR)
PIPELINE = "pipeline"
"""synth_app.py's example pipeline (app.py's add_pipeline), set against CONSTRUCT at N=SMALL."""
SMALL, MEDIUM, LARGE = 1, 100, 400
SIZES = (SMALL, MEDIUM, LARGE)
PROFILE_JOBS = 51
"""Round trips per job come from the difference between N=51 and N=1 (2 of 50 jobs distinct)."""

MAX_RESOURCES = 500
MAX_TEMPLATE_BYTES = 1_048_576

FALLBACK_CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}
"""What CDK CLI 2.1148 passes to the app; used only if capturing it from the CLI fails."""


# ------------------------------------------------------------------------------ processes


@dataclass(frozen=True)
class Measured:
    """A finished child process: wall seconds, CPU seconds, peak RSS, output."""

    seconds: float
    cpu_seconds: float
    max_rss_mib: float
    stdout: str
    stderr: str


def child_env(**extra: str) -> dict[str, str]:
    """This environment with the venv's bin (Node 24 for jsii) and node_modules/.bin first."""
    path = os.pathsep.join(
        [str(REPO / ".venv" / "bin"), str(REPO / "node_modules" / ".bin"), os.environ["PATH"]]
    )
    env = {**os.environ, "PATH": path, "CDK_DISABLE_CLI_TELEMETRY": "true"}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def measure(command: Sequence[str], env: Mapping[str, str], cwd: Path = REPO) -> Measured:
    """Run ``command`` to its end; its wall time, and CPU time and peak RSS of its process tree.

    Both come from wait4's rusage of this child (what RUSAGE_CHILDREN holds once it is reaped),
    which covers the child and every descendant it waited for, e.g. the jsii kernel's Node
    process: CPU is user + system time of them all; the peak RSS is the largest resident set of
    any one of them, not a sum.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)  # noqa: S603
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} exited {process.returncode}:\n{stderr[-4000:]}{stdout[-2000:]}"
        )
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return Measured(seconds, cpu_seconds, usage.ru_maxrss / 1024, stdout, stderr)


class Progress:
    """Progress lines on stderr, with the seconds since the start."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def __call__(self, message: str) -> None:
        print(f"[{self.elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- synth


@dataclass(frozen=True)
class SynthRun:
    """One synth of ``synth_app.py``: time, memory, phases, and what it wrote."""

    seconds: float
    cpu_seconds: float
    max_rss_mib: float
    phases: dict[str, float]
    resources: dict[str, Any]
    template_bytes: int

    def value(self, what: str) -> float:
        """``seconds``, ``cpu_seconds``, ``max_rss_mib``, or a phase of synth_app.py."""
        if what == "seconds":
            return self.seconds
        if what == "cpu_seconds":
            return self.cpu_seconds
        if what == "max_rss_mib":
            return self.max_rss_mib
        return self.phases[what]


@dataclass
class Synths:
    """Every synth run, by (variant, N), in the order they ran."""

    context: str
    runs: dict[tuple[str, int], list[SynthRun]] = field(default_factory=dict)
    handler_asset: Path | None = None

    def __call__(self, variant: str, jobs: int) -> list[SynthRun]:
        return self.runs[(variant, jobs)]

    def median(self, variant: str, jobs: int, what: str = "seconds") -> float:
        return statistics.median(run.value(what) for run in self(variant, jobs))

    def ratio(self, variant: str, other: str, jobs: int, what: str = "seconds") -> float:
        """The median over rounds of variant's time over other's, in the same round."""
        pairs = zip(self(variant, jobs), self(other, jobs), strict=False)
        return statistics.median(mine.value(what) / theirs.value(what) for mine, theirs in pairs)

    def excess(self, variant: str, other: str, jobs: int, what: str = "seconds") -> float:
        """The median over rounds of variant's time minus other's, in the same round."""
        pairs = zip(self(variant, jobs), self(other, jobs), strict=False)
        return statistics.median(mine.value(what) - theirs.value(what) for mine, theirs in pairs)

    def excess_per_job(self, variant: str, other: str, what: str = "seconds") -> float:
        """How the excess grows with each further job, from N=SMALL to N=LARGE."""
        growth = self.excess(variant, other, LARGE, what) - self.excess(variant, other, SMALL, what)
        return growth / (LARGE - SMALL)

    def per_job(self, variant: str, what: str = "seconds") -> float:
        """Each further job's share of the median, from N=SMALL to N=LARGE."""
        small, large = self.median(variant, SMALL, what), self.median(variant, LARGE, what)
        return (large - small) / (LARGE - SMALL)

    def first(self, variant: str, jobs: int) -> SynthRun:
        return self(variant, jobs)[0]


def synth(synths: Synths, variant: str, jobs: int, keep_asset_in: Path | None = None) -> SynthRun:
    """Synthesize ``jobs`` jobs of ``variant`` into a temporary CDK_OUTDIR; record the run."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        phases_file = Path(outdir) / "bench-phases.json"
        env = child_env(
            CDK_OUTDIR=outdir, CDK_CONTEXT_JSON=synths.context, BENCH_PHASES=str(phases_file)
        )
        measured = measure([sys.executable, str(BENCH / "synth_app.py"), variant, str(jobs)], env)
        template = Path(outdir) / f"{STACK_NAME}.template.json"
        run = SynthRun(
            seconds=measured.seconds,
            cpu_seconds=measured.cpu_seconds,
            max_rss_mib=measured.max_rss_mib,
            phases=json.loads(phases_file.read_text()),
            resources=json.loads(template.read_text())["Resources"],
            template_bytes=template.stat().st_size,
        )
        if keep_asset_in is not None and synths.handler_asset is None:
            staged = next(Path(outdir).glob("asset.*/index.py")).parent
            synths.handler_asset = Path(shutil.copytree(staged, keep_asset_in / "handler"))
    synths.runs.setdefault((variant, jobs), []).append(run)
    return run


def synth_rounds(
    synths: Synths, wanted: Mapping[int, int], budget: float, progress: Progress
) -> None:
    """Rounds of one synth per variant (A, B, C, A, B, C, ...) at each N.

    A round at the largest N after its first is skipped when it would leave too little of the
    budget for what follows (three rounds' worth at the middle N: the CLI, profiles, handler).
    """
    largest = max(wanted)
    round_seconds: dict[int, float] = {}
    for jobs, count in wanted.items():
        for round_ in range(count):
            rest = round_seconds.get(largest, 0.0) + 3 * round_seconds.get(MEDIUM, 0.0)
            if jobs == largest and round_ > 0 and progress.elapsed + rest > budget:
                progress(f"N={jobs}: {round_} rounds, to stay within {budget:.0f} s")
                break
            started = progress.elapsed
            for variant in VARIANTS:
                run = synth(synths, variant, jobs)
                progress(
                    f"synth N={jobs} round {round_ + 1}/{count} {variant}: "
                    f"{run.seconds:.2f} s (CPU {run.cpu_seconds:.2f} s), {run.max_rss_mib:.0f} MiB"
                )
            round_seconds[jobs] = progress.elapsed - started


def pipeline_rounds(context: str, rounds: int, progress: Progress) -> Synths:
    """Rounds of the example pipeline's stack and a stack of one job (A, B, A, B, ...).

    Kept apart from the variants' runs, whose rounds pair the variants with each other.
    """
    synths = Synths(context=context)
    for round_ in range(rounds):
        for variant in (PIPELINE, CONSTRUCT):
            run = synth(synths, variant, SMALL)
            progress(
                f"synth {variant} N={SMALL} round {round_ + 1}/{rounds}: {run.seconds:.2f} s "
                f"(CPU {run.cpu_seconds:.2f} s), {len(run.resources)} resources, "
                f"{run.template_bytes:,} bytes"
            )
    return synths


def resources_by_type(run: SynthRun) -> dict[str, int]:
    """How many resources of each type the run's template holds."""
    counts: dict[str, int] = {}
    for resource in run.resources.values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    return counts


def capture_cli_context(workdir: Path) -> str:
    """The CDK_CONTEXT_JSON that ``cdk synth`` hands to an app: path metadata, version reporting."""
    probe = workdir / "cli-context-probe.py"
    captured = workdir / "cli-context.json"
    probe.write_text(
        "import json, os, pathlib\n"
        f"pathlib.Path({str(captured)!r}).write_text(os.environ.get('CDK_CONTEXT_JSON', ''))\n"
        "import aws_cdk\n"
        "aws_cdk.App().synth()\n"
    )
    command = [str(CDK_CLI), "synth", "--no-notices", "--quiet"]
    app = shlex.join([sys.executable, str(probe)])
    try:
        measure([*command, "--app", app, "--output", str(workdir / "probe.out")], child_env())
        context: dict[str, Any] = json.loads(captured.read_text())
    except (RuntimeError, OSError, ValueError):
        context = dict(FALLBACK_CLI_CONTEXT)
    return json.dumps(context)


def cli_synth(variant: str, jobs: int, workdir: Path) -> float:
    """Wall seconds of one real ``cdk synth`` of the app (the CLI's own start-up included)."""
    app = shlex.join([sys.executable, str(BENCH / "synth_app.py"), variant, str(jobs)])
    output = workdir / f"cli-{variant}-{jobs}.out"
    command = [str(CDK_CLI), "synth", "--no-notices", "--quiet", "--app", app]
    seconds = measure([*command, "--output", str(output)], child_env()).seconds
    shutil.rmtree(output, ignore_errors=True)
    return seconds


# ------------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """``profile_synth.py`` of one synth: jsii round trips by call site, our functions' cost."""

    seconds: float
    by_kind: dict[str, int]
    """Round trips by kind of request (create, invoke, get, ...)."""
    round_trips: dict[str, int]
    """Round trips by call site."""
    round_trip_seconds: dict[str, float]
    """Seconds waited on the round trips of each call site."""
    own_functions: dict[str, tuple[int, float]]
    """Calls and cumulative seconds (cProfile) of each of our own functions."""


@dataclass(frozen=True)
class FunctionCost:
    """One of our own functions, per further job (cProfile, so seconds only show proportions)."""

    name: str
    calls: float
    seconds: float


@dataclass
class Profiles:
    """The profiles by (variant, N), for N=SMALL and N=PROFILE_JOBS."""

    runs: dict[tuple[str, int], Profile] = field(default_factory=dict)

    def __call__(self, variant: str, jobs: int) -> Profile:
        return self.runs[(variant, jobs)]

    def round_trips_per_job(self, variant: str) -> dict[str, float]:
        """Round trips that each further job adds, by call site."""
        return per_job(self(variant, SMALL).round_trips, self(variant, PROFILE_JOBS).round_trips)

    def wait_per_job(self, variant: str) -> dict[str, float]:
        """Seconds waited on round trips that each further job adds, by call site."""
        small, large = self(variant, SMALL), self(variant, PROFILE_JOBS)
        return per_job(small.round_trip_seconds, large.round_trip_seconds)

    def functions_per_job(self, variant: str) -> list[FunctionCost]:
        """Our functions that run per job, costliest (at N=PROFILE_JOBS) first."""
        functions = self(variant, PROFILE_JOBS).own_functions
        small_functions = self(variant, SMALL).own_functions
        jobs = PROFILE_JOBS - SMALL
        costs = []
        for name, (calls, seconds) in sorted(functions.items(), key=lambda item: -item[1][1]):
            small_calls, small_seconds = small_functions.get(name, (0, 0.0))
            if calls > small_calls:
                each = max(0.0, (seconds - small_seconds) / jobs)
                costs.append(FunctionCost(name, (calls - small_calls) / jobs, each))
        return costs


def per_job(small: Mapping[str, float], large: Mapping[str, float]) -> dict[str, float]:
    """What each further job adds, key by key, from N=SMALL to N=PROFILE_JOBS."""
    return {
        name: (large.get(name, 0) - small.get(name, 0)) / (PROFILE_JOBS - SMALL)
        for name in set(small) | set(large)
    }


def profile(variant: str, jobs: int, context: str) -> Profile:
    """``profile_synth.py``: jsii round trips by call site, and our own functions' seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as outdir:
        env = child_env(CDK_OUTDIR=outdir, CDK_CONTEXT_JSON=context)
        script = str(BENCH / "profile_synth.py")
        result: dict[str, Any] = json.loads(
            measure([sys.executable, script, variant, str(jobs)], env).stdout
        )
    return Profile(
        seconds=result["seconds"],
        by_kind=result["by_kind"],
        round_trips=result["round_trips"],
        round_trip_seconds=result["round_trip_seconds"],
        own_functions={
            name: (calls, seconds) for name, (calls, seconds) in result["own_functions"].items()
        },
    )


# -------------------------------------------------------------------------------- handler


@dataclass(frozen=True)
class Asset:
    """The handler asset zipped as cdk-assets zips it."""

    zipped_bytes: int
    files: int
    raw_bytes: int


def zip_like_cdk(folder: Path, target: Path) -> Asset:
    """Zip ``folder`` as cdk-assets does (sorted, fixed dates, deflate 9): bytes, files, raw."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    with zipfile.ZipFile(target, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return Asset(target.stat().st_size, len(files), sum(path.stat().st_size for path in files))


def import_code(module: str, folder: Path) -> str:
    return (
        f"import sys, time; sys.path.insert(0, {str(folder)!r}); "
        f"started = time.perf_counter(); import {module}; "
        "print(time.perf_counter() - started)"
    )


def import_env() -> dict[str, str]:
    # No .pyc is written for the handler's modules: the asset excludes them, and /var/task is
    # read-only, so Lambda compiles them on every cold start. boto3's come from site-packages.
    return child_env(PYTHONDONTWRITEBYTECODE="1")


@dataclass(frozen=True)
class ImportTimes:
    """Seconds of cold imports, each in a fresh process, the three kinds alternating."""

    handler: list[float]
    """``import index`` from the asset as Lambda has it: source only, compiled on import."""
    compiled: list[float]
    """``import index`` from a copy with the handler's .pyc: what compiling costs."""
    boto3: list[float]
    """``import boto3``."""

    def compile_seconds(self) -> float:
        """What compiling the handler's source costs: median of the paired differences."""
        pairs = zip(self.handler, self.compiled, strict=True)
        return statistics.median(source - compiled for source, compiled in pairs)

    def ratio(self) -> float:
        """The handler's import over boto3's: median of the paired ratios."""
        pairs = zip(self.handler, self.boto3, strict=True)
        return statistics.median(mine / theirs for mine, theirs in pairs)

    def excess(self) -> float:
        """The handler's import minus boto3's: median of the paired differences."""
        pairs = zip(self.handler, self.boto3, strict=True)
        return statistics.median(handler - boto3 for handler, boto3 in pairs)


def import_times(folder: Path, workdir: Path, repeats: int) -> ImportTimes:
    compiled_folder = Path(shutil.copytree(folder, workdir / "handler-compiled"))
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "compileall", "-q", str(compiled_folder)], check=True
    )
    times = ImportTimes(handler=[], compiled=[], boto3=[])
    series = (
        ("index", folder, times.handler),
        ("index", compiled_folder, times.compiled),
        ("boto3", folder, times.boto3),
    )
    for _ in range(repeats):
        for module, where, results in series:
            command = [sys.executable, "-c", import_code(module, where)]
            results.append(float(measure(command, import_env(), cwd=where).stdout))
    return times


def imported_modules(module: str, folder: Path) -> dict[str, int]:
    """``-X importtime``: self microseconds of each module imported by ``import module``."""
    command = [sys.executable, "-X", "importtime", "-c", import_code(module, folder)]
    stderr = measure(command, import_env(), cwd=folder).stderr
    modules: dict[str, int] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", line)
        if match:
            modules[match.group(3)] = int(match.group(1))
    return modules


@dataclass(frozen=True)
class Phase:
    """API calls of one lifecycle phase (handler_bench.py lifecycle)."""

    calls: dict[str, int]
    total: int
    polls: int


@dataclass(frozen=True)
class Throughput:
    """handler_bench.py throughput: creates at once under a quota, against the ideal."""

    jobs: int
    quota: int
    duration: float
    interval: float
    ideal: float
    total: float
    on_event_seconds: float
    started_by_on_event: int
    rounds: int
    polls: int
    slowest_round: float
    calls: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.total / self.ideal


def handler_bench(*args: str) -> Any:
    command = [sys.executable, str(BENCH / "handler_bench.py"), *args]
    return json.loads(measure(command, child_env()).stdout)


def lifecycle() -> dict[str, Phase]:
    """API calls of one job's create and wait, tag-only update, and delete, in that order."""
    phases: dict[str, dict[str, Any]] = handler_bench("lifecycle")
    return {name: Phase(**phase) for name, phase in phases.items()}


def throughput(
    jobs: int = 30, quota: int = 10, duration: float = 2.0, interval: float = 0.1
) -> Throughput:
    """``jobs`` creates at once under the quota, jobs of ``duration``, polled every ``interval``."""
    return Throughput(
        **handler_bench("throughput", *(str(x) for x in (jobs, quota, duration, interval)))
    )


# ------------------------------------------------------------------------------ footprint


@dataclass(frozen=True)
class Footprint:
    """Resources and template bytes of one variant: per job, per stack, and what fits."""

    resources: dict[int, int]
    template_bytes: dict[int, int]
    app_resources: int
    app_bytes: int

    @property
    def resources_per_job(self) -> float:
        return (self.resources[MEDIUM] - self.resources[SMALL]) / (MEDIUM - SMALL)

    @property
    def bytes_per_job(self) -> float:
        return (self.template_bytes[MEDIUM] - self.template_bytes[SMALL]) / (MEDIUM - SMALL)

    @property
    def constant_resources(self) -> float:
        return self.resources[SMALL] - self.resources_per_job

    @property
    def constant_bytes(self) -> float:
        return self.template_bytes[SMALL] - self.bytes_per_job

    @property
    def own_constant_resources(self) -> float:
        """The per-stack resources of the variant itself, beyond the app's own."""
        return self.constant_resources - self.app_resources

    @property
    def own_constant_bytes(self) -> float:
        return self.constant_bytes - self.app_bytes

    @property
    def fit_by_resources(self) -> int:
        return math.floor((MAX_RESOURCES - self.constant_resources) / self.resources_per_job)

    @property
    def fit_by_bytes(self) -> int:
        return math.floor((MAX_TEMPLATE_BYTES - self.constant_bytes) / self.bytes_per_job)

    @property
    def fit(self) -> int:
        return min(self.fit_by_resources, self.fit_by_bytes)

    def predicted_resources(self, jobs: int) -> float:
        return self.constant_resources + jobs * self.resources_per_job

    def predicted_bytes(self, jobs: int) -> float:
        return self.constant_bytes + jobs * self.bytes_per_job


def footprint(synths: Synths, variant: str, app: SynthRun) -> Footprint:
    return Footprint(
        resources={n: len(synths.first(variant, n).resources) for n in SIZES},
        template_bytes={n: synths.first(variant, n).template_bytes for n in SIZES},
        app_resources=len(app.resources),
        app_bytes=app.template_bytes,
    )


def bytes_in_template(logical_id: str, resource: Any) -> int:
    """About the bytes a resource takes in the template file (CDK indents by 1, at depth 2)."""
    text = json.dumps(resource, indent=1)
    return len(text) + 2 * (text.count("\n") + 1) + len(logical_id) + 8


def bytes_by_type(resources: Mapping[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        totals[kind] = totals.get(kind, 0) + bytes_in_template(logical_id, resource)
    return totals


def bytes_per_job_by_type(synths: Synths, variant: str) -> dict[str, float]:
    """Template bytes each further job adds, by resource type (N=SMALL to N=MEDIUM)."""
    small = bytes_by_type(synths.first(variant, SMALL).resources)
    medium = bytes_by_type(synths.first(variant, MEDIUM).resources)
    return {
        kind: (medium.get(kind, 0) - small.get(kind, 0)) / (MEDIUM - SMALL)
        for kind in set(small) | set(medium)
    }


def job_resources(resources: Mapping[str, Any], marker: str = JOB_MARKER) -> dict[str, Any]:
    """The resources of job 50: those whose logical id or content names it."""
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if marker in json.dumps(resource) or logical_id.startswith("Job50")
    }


def key_bytes(resource: Mapping[str, Any]) -> dict[str, int]:
    """Bytes of each top-level key and property of one resource, as indented in the file."""
    parts: dict[str, int] = {}
    for key, value in resource.items():
        if key == "Properties":
            for name, prop in value.items():
                parts[name] = bytes_in_template(name, prop) + 2
        else:
            parts[key] = bytes_in_template(key, value) - 2
    return parts


def job_key_bytes(synths: Synths, variant: str) -> list[tuple[str, dict[str, int]]]:
    """Job 50's resources at N=MEDIUM: the type of each, and its bytes by key."""
    job = job_resources(synths.first(variant, MEDIUM).resources)
    return [(resource["Type"], key_bytes(resource)) for resource in job.values()]


def job_vs_floor(synths: Synths) -> dict[str, int]:
    """Bytes by key of the construct's job resource minus the floor's, where they differ."""
    ours, floor = (
        next(sizes for kind, sizes in job_key_bytes(synths, v) if kind == JOB_TYPE)
        for v in (CONSTRUCT, FLOOR)
    )
    keys = sorted(set(ours) | set(floor), key=lambda k: floor.get(k, 0) - ours.get(k, 0))
    return {
        key: ours.get(key, 0) - floor.get(key, 0)
        for key in keys
        if ours.get(key, 0) != floor.get(key, 0)
    }


# -------------------------------------------------------------------------- the whole run


@dataclass(frozen=True)
class Machine:
    uname: str
    cpu: str
    cpus: int | None
    memory_gib: float | None
    python: str
    node: str
    packages: dict[str, str]
    """Versions of aws-cdk-lib, jsii and boto3."""
    cdk_cli: str


def machine() -> Machine:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = None
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = int(line.split()[1]) / 1024 / 1024
    node = subprocess.run(
        ["node", "--version"],  # noqa: S607
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    cli = json.loads((REPO / "node_modules" / "aws-cdk" / "package.json").read_text())["version"]
    uname = subprocess.run(
        ["uname", "-a"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return Machine(
        uname=uname,
        cpu=cpu,
        cpus=os.cpu_count(),
        memory_gib=memory,
        python=platform.python_version(),
        node=node,
        packages={name: metadata.version(name) for name in ("aws-cdk-lib", "jsii", "boto3")},
        cdk_cli=cli,
    )


@dataclass(frozen=True)
class Code:
    commit: str
    changed: list[str]
    """Uncommitted changes outside bench/, sorted."""


def git_state() -> Code:
    def git(*args: str) -> str:
        result = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.rstrip("\n")  # not strip(): porcelain lines start with a space

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    changed = [path for path in changed if not path.startswith("bench/")]
    return Code(commit=git("rev-parse", "--short", "HEAD") or "unknown", changed=sorted(changed))


@dataclass(frozen=True)
class Run:
    """The run itself: how it was started, when, how long it took, on what."""

    command: str
    started_at: datetime
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    code: Code
    machine: Machine


@dataclass(frozen=True)
class Results:
    """Everything one ``make bench`` measured."""

    run: Run
    synths: Synths
    app_only: SynthRun
    """The app without jobs (N=0, floor variant): the seed role and CDK's metadata."""
    cli: dict[str, float]
    """Wall seconds of one ``cdk synth`` at N=MEDIUM, by variant."""
    pipeline: Synths
    """The example pipeline (PIPELINE) and one job (CONSTRUCT), both at N=SMALL, in rounds."""
    profiles: Profiles
    asset: Asset
    imports: ImportTimes
    handler_modules: dict[str, int]
    """``-X importtime`` self microseconds of each module ``import index`` imports."""
    boto3_modules: dict[str, int]
    """The same for ``import boto3``."""
    lifecycle: dict[str, Phase]
    throughput: Throughput

    def footprints(self) -> dict[str, Footprint]:
        return {v: footprint(self.synths, v, self.app_only) for v in VARIANTS}

    def modules_beyond_boto3(self) -> dict[str, int]:
        """The handler's modules that ``import boto3`` does not import, with their microseconds."""
        return {
            name: micros
            for name, micros in self.handler_modules.items()
            if name not in self.boto3_modules
        }
