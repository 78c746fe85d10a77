"""``make bench``: AudienceGenerationJob against AwsCustomResource and a bare CfnResource.

    python bench/run.py [--repeats 5] [--repeats-large 3] [--imports 15] [--budget 540]

Run from the repository root with the venv's Python (.venv/bin first on PATH). Prints one table
and writes bench/RESULTS.md. Nothing here fails on a slow machine: targets are reported as met
or missed, and where one is missed the notes say what bounds it.

Every synth runs ``bench/synth_app.py VARIANT N`` as a fresh process, the way ``cdk synth`` runs
an app: with CDK_OUTDIR set to a temporary folder and the context the CDK CLI passes
(CDK_CONTEXT_JSON, captured from a real ``cdk synth``). Runs alternate between the variants
(A, B, C, A, B, C, ...), and every comparison is the median of the ratios of the runs of one
round, so that a machine busy with other work slows both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "RESULTS.md"
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"
STACK_NAME = "Audiences"  # synth_app.STACK_NAME (not imported: that would start jsii here)
JOB_TYPE = "Custom::CleanRoomsMLAudienceGenerationJob"
JOB_MARKER = "segment-0050/"
"""Job 50's seed prefix (synth_app.seed_uri): finds that job's resources in any variant."""

CONSTRUCT, AWS_CR, FLOOR = "construct", "aws-custom-resource", "cfn-resource"
VARIANTS = (CONSTRUCT, AWS_CR, FLOOR)
TITLES = {
    CONSTRUCT: "AudienceGenerationJob",
    AWS_CR: "AwsCustomResource",
    FLOOR: "CfnResource (floor)",
}
SMALL, MEDIUM, LARGE = 1, 100, 400
PROFILE_JOBS = 51
"""Round trips per job come from the difference between N=51 and N=1 (2 of 50 jobs distinct)."""

MAX_RESOURCES = 500
MAX_TEMPLATE_BYTES = 1_048_576
THROUGHPUT = {"jobs": 30, "quota": 10, "duration": 2.0, "interval": 0.1}

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


def profile(variant: str, jobs: int, context: str) -> dict[str, Any]:
    """``profile_synth.py``: jsii round trips by call site, and our own functions' seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as outdir:
        env = child_env(CDK_OUTDIR=outdir, CDK_CONTEXT_JSON=context)
        script = str(BENCH / "profile_synth.py")
        result: dict[str, Any] = json.loads(
            measure([sys.executable, script, variant, str(jobs)], env).stdout
        )
        return result


# -------------------------------------------------------------------------------- handler


def zip_like_cdk(folder: Path, target: Path) -> tuple[int, int, int]:
    """Zip ``folder`` as cdk-assets does (sorted, fixed dates, deflate 9): bytes, files, raw."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    with zipfile.ZipFile(target, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return target.stat().st_size, len(files), sum(path.stat().st_size for path in files)


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


def handler_bench(*args: str) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / "handler_bench.py"), *args]
    result: dict[str, Any] = json.loads(measure(command, child_env()).stdout)
    return result


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
    def fit_by_resources(self) -> int:
        return math.floor((MAX_RESOURCES - self.constant_resources) / self.resources_per_job)

    @property
    def fit_by_bytes(self) -> int:
        return math.floor((MAX_TEMPLATE_BYTES - self.constant_bytes) / self.bytes_per_job)

    @property
    def fit(self) -> int:
        return min(self.fit_by_resources, self.fit_by_bytes)

    def predicted_bytes(self, jobs: int) -> float:
        return self.constant_bytes + jobs * self.bytes_per_job


def footprint(synths: Synths, variant: str, app: SynthRun) -> Footprint:
    return Footprint(
        resources={n: len(synths.first(variant, n).resources) for n in (SMALL, MEDIUM, LARGE)},
        template_bytes={n: synths.first(variant, n).template_bytes for n in (SMALL, MEDIUM, LARGE)},
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


# --------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    measure: str
    cells: tuple[str, str, str]
    target: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "**missed**")


def table(rows: Iterable[Row]) -> str:
    header = ["Measure", *(TITLES[v] for v in VARIANTS), "Target", "Result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join([row.measure, *row.cells, row.target, row.verdict]) + " |")
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def per_variant(value: Callable[[str], str]) -> tuple[str, str, str]:
    return (value(CONSTRUCT), value(AWS_CR), value(FLOOR))


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    node = subprocess.run(
        ["node", "--version"],  # noqa: S607
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    cli = json.loads((REPO / "node_modules" / "aws-cdk" / "package.json").read_text())["version"]
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("aws-cdk-lib", "jsii", "boto3")
    )
    uname = subprocess.run(
        ["uname", "-a"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"- Machine: `{uname}`",
        f"- CPU: {cpu}; {os.cpu_count()} CPUs (nproc); memory {memory}",
        f"- Python {platform.python_version()}, Node {node}, {versions}, CDK CLI {cli}",
    ]


def git_state() -> str:
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
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if changed:
        return f"commit {commit}, with uncommitted changes to {', '.join(sorted(changed))}"
    return f"commit {commit}, clean"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def per_job(profiles: Mapping[tuple[str, int], dict[str, Any]], variant: str, key: str) -> Any:
    small, large = profiles[(variant, SMALL)][key], profiles[(variant, PROFILE_JOBS)][key]
    return {
        name: (large.get(name, 0) - small.get(name, 0)) / (PROFILE_JOBS - SMALL)
        for name in set(small) | set(large)
    }


# ----------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="synth rounds at N=1 and N=100")
    parser.add_argument("--repeats-large", type=int, default=3, help="synth rounds at N=400")
    parser.add_argument("--imports", type=int, default=15, help="cold imports of each module")
    parser.add_argument(
        "--budget",
        type=float,
        default=540.0,
        help="seconds for the whole run: rounds at N=400 after the first stop to stay within it",
    )
    args = parser.parse_args(argv)
    command = shlex.join(["python", "bench/run.py", *(argv or sys.argv[1:])])
    venv_python = REPO / ".venv" / "bin" / "python"
    if not venv_python.exists() or not CDK_CLI.exists():
        raise SystemExit("run `make install` first: the venv and node_modules are needed")
    if Path(sys.prefix).resolve() != venv_python.parent.parent.resolve():
        # Another interpreter: the children (sys.executable) need the venv's packages.
        os.execv(venv_python, [str(venv_python), __file__, *(argv or sys.argv[1:])])  # noqa: S606
    progress = Progress()
    started_at = datetime.now(timezone.utc)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        workdir = Path(work)
        progress("capturing the context `cdk synth` passes to an app")
        synths = Synths(context=capture_cli_context(workdir))

        # Warm-up (page cache, Node's compile cache): one untimed synth, dropped.
        synth(synths, CONSTRUCT, SMALL, keep_asset_in=workdir)
        synths.runs.clear()
        progress("warm-up synth done")

        wanted = {SMALL: args.repeats, MEDIUM: args.repeats, LARGE: args.repeats_large}
        synth_rounds(synths, wanted, args.budget, progress)
        app_only = synth(synths, FLOOR, 0)  # the app's own resources: the seed role, metadata
        progress("synth N=0 (the app without jobs)")

        cli = {}
        for variant in VARIANTS:
            cli[variant] = cli_synth(variant, MEDIUM, workdir)
            progress(f"cdk synth N={MEDIUM} {variant}: {cli[variant]:.2f} s")

        profiles: dict[tuple[str, int], dict[str, Any]] = {}
        for jobs in (SMALL, PROFILE_JOBS):
            for variant in VARIANTS:
                profiles[(variant, jobs)] = profile(variant, jobs, synths.context)
                progress(f"profiled N={jobs} {variant}")

        assert synths.handler_asset is not None
        asset_zip, asset_files, asset_raw = zip_like_cdk(
            synths.handler_asset, workdir / "handler.zip"
        )
        imports = import_times(synths.handler_asset, workdir, args.imports)
        handler_modules = imported_modules("index", synths.handler_asset)
        boto3_modules = imported_modules("boto3", synths.handler_asset)
        progress(f"imports: handler {statistics.median(imports.handler) * 1000:.0f} ms")

        lifecycle = handler_bench("lifecycle")
        flow = handler_bench(
            "throughput",
            *(str(THROUGHPUT[key]) for key in ("jobs", "quota", "duration", "interval")),
        )
        progress(f"throughput: {flow['total']:.2f} s for an ideal of {flow['ideal']:.2f} s")

    total_seconds = progress.elapsed
    report = Report(
        synths=synths,
        app_only=app_only,
        cli=cli,
        profiles=profiles,
        asset=(asset_zip, asset_files, asset_raw),
        imports=imports,
        handler_modules=handler_modules,
        boto3_modules=boto3_modules,
        lifecycle=lifecycle,
        throughput=flow,
    )
    rows = report.rows()
    header = [
        "# `make bench` results",
        "",
        f"- Command: `{command}` (from the repository root, .venv/bin first on PATH)",
        f"- Date: {started_at.strftime('%Y-%m-%d %H:%M UTC')}; the run took {total_seconds:.0f} s",
        f"- Code: {git_state()}",
        *machine(),
        f"- Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
    ]
    RESULTS.write_text("\n".join([*header, table(rows), "", *report.notes()]) + "\n")
    print(table(rows))
    print(f"\nTotal: {total_seconds:.0f} s. Details and notes: {RESULTS.relative_to(REPO)}")


@dataclass
class Report:
    """Turns the measurements into the table's rows and the notes."""

    synths: Synths
    app_only: SynthRun
    cli: dict[str, float]
    profiles: dict[tuple[str, int], dict[str, Any]]
    asset: tuple[int, int, int]
    imports: ImportTimes
    handler_modules: dict[str, int]
    boto3_modules: dict[str, int]
    lifecycle: dict[str, Any]
    throughput: dict[str, Any]

    def footprints(self) -> dict[str, Footprint]:
        return {v: footprint(self.synths, v, self.app_only) for v in VARIANTS}

    def import_ratio(self) -> float:
        pairs = zip(self.imports.handler, self.imports.boto3, strict=True)
        return statistics.median(mine / theirs for mine, theirs in pairs)

    def rows(self) -> list[Row]:
        s, fp = self.synths, self.footprints()
        vs_floor = s.ratio(CONSTRUCT, FLOOR, MEDIUM)
        vs_aws_cr = s.ratio(CONSTRUCT, AWS_CR, MEDIUM)
        sizes = (SMALL, MEDIUM, LARGE)

        counts = " / ".join(str(len(s(FLOOR, n))) for n in sizes)

        def times(what: str) -> Callable[[str], str]:
            return lambda v: " / ".join(f"{s.median(v, n, what):.2f}" for n in sizes) + " s"

        def ratios(other: str, what: str) -> Callable[[str], str]:
            def cell(v: str) -> str:
                values = [ratio(s.ratio(v, other, n, what)) for n in sizes]
                if what == "seconds" and v == CONSTRUCT:
                    values[1] = f"**{values[1]}**"
                return " / ".join(values)

            return cell

        def rss(v: str) -> str:
            return " / ".join(f"{s.median(v, n, 'max_rss_mib'):.0f}" for n in sizes)

        def resources(v: str) -> str:
            return " / ".join(str(fp[v].resources[n]) for n in sizes)

        def template_bytes(v: str) -> str:
            return " / ".join(f"{fp[v].template_bytes[n]:,}" for n in sizes)

        def constant_resources(v: str) -> str:
            own = fp[v].constant_resources - fp[v].app_resources
            return f"{fp[v].constant_resources:g} ({fp[v].app_resources} / {own:g})"

        def constant_bytes(v: str) -> str:
            own = fp[v].constant_bytes - fp[v].app_bytes
            return f"{fp[v].constant_bytes:,.0f} ({fp[v].app_bytes:,} / {own:,.0f})"

        def fit(v: str) -> str:
            return f"{fp[v].fit_by_resources:,} / {fp[v].fit_by_bytes:,} → **{fp[v].fit:,}**"

        n_label = f"N={SMALL} / {MEDIUM} / {LARGE}"
        rows = [
            Row(f"Synth wall time, {n_label} (median of {counts})", per_variant(times("seconds"))),
            Row(
                f"Synth CPU time (user+sys, Python and Node), {n_label}",
                per_variant(times("cpu_seconds")),
            ),
            Row(
                f"Synth wall / floor, {n_label} (median of paired ratios)",
                per_variant(ratios(FLOOR, "seconds")),
                f"≤ 1.15x at N={MEDIUM}",
                vs_floor <= 1.15,
            ),
            Row(f"Synth CPU / floor, {n_label}", per_variant(ratios(FLOOR, "cpu_seconds"))),
            Row(
                f"Synth wall / AwsCustomResource, {n_label}",
                per_variant(ratios(AWS_CR, "seconds")),
                f"< 1.00x at N={MEDIUM}",
                vs_aws_cr < 1.0,
            ),
            Row(
                f"Synth CPU / AwsCustomResource, {n_label}",
                per_variant(ratios(AWS_CR, "cpu_seconds")),
            ),
            Row(
                f"`cdk synth` (CLI) wall time, N={MEDIUM} (1 run, reference)",
                per_variant(lambda v: sec(self.cli[v])),
            ),
            Row(f"Peak RSS, N={SMALL} / {MEDIUM} / {LARGE} (MiB, median)", per_variant(rss)),
            Row(f"Resources, N={SMALL} / {MEDIUM} / {LARGE}", per_variant(resources)),
            Row(
                "Resources per job",
                per_variant(lambda v: f"{fp[v].resources_per_job:g}"),
                "exactly 1",
                fp[CONSTRUCT].resources_per_job == 1,
            ),
            Row(f"Template bytes, N={SMALL} / {MEDIUM} / {LARGE}", per_variant(template_bytes)),
            Row(
                f"Template bytes per job (N={SMALL} to {MEDIUM})",
                per_variant(lambda v: f"{fp[v].bytes_per_job:.0f}"),
                "≤ 600",
                fp[CONSTRUCT].bytes_per_job <= 600,
            ),
            Row(
                "Per-stack constant, resources: N=1 minus one job (app's own / variant's own)",
                per_variant(constant_resources),
                "≤ 15 of its own",
                fp[CONSTRUCT].constant_resources - fp[CONSTRUCT].app_resources <= 15,
            ),
            Row(
                "Per-stack constant, bytes: N=1 minus one job (app's own / variant's own)",
                per_variant(constant_bytes),
            ),
            Row(
                "Jobs in one stack: by 500 resources / by 1 MiB → both",
                per_variant(fit),
                "≥ 480",
                fp[CONSTRUCT].fit >= 480,
            ),
        ]
        handler_ms = statistics.median(self.imports.handler)
        boto3_ms = statistics.median(self.imports.boto3)
        phases = " / ".join(str(self.lifecycle[p]["total"]) for p in self.lifecycle)
        flow = self.throughput
        flow_ratio = flow["total"] / flow["ideal"]
        rows += [
            Row(
                f"Handler cold import (median of {len(self.imports.handler)}) / `import boto3`",
                (
                    f"{ms(handler_ms)} / {ms(boto3_ms)} = {ratio(self.import_ratio())}",
                    "—",
                    "—",
                ),
                "≤ 1.10x",
                self.import_ratio() <= 1.10,
            ),
            Row(
                f"API calls: {' / '.join(self.lifecycle)}",
                (phases, "—", "—"),
            ),
            Row(
                "Handler asset (zip as cdk-assets makes it)",
                (f"{self.asset[0]:,} bytes ({self.asset[1]} files)", "—", "—"),
            ),
            Row(
                f"Throughput: {flow['jobs']} jobs at once, quota {flow['quota']}, "
                f"{flow['duration']:g} s each, polled every {flow['interval']:g} s",
                (
                    f"{sec(flow['total'])} / ideal {sec(flow['ideal'])} = {ratio(flow_ratio)}",
                    "—",
                    "—",
                ),
                "≤ 1.25x",
                flow_ratio <= 1.25,
            ),
        ]
        return rows

    # ------------------------------------------------------------------------------ notes

    def notes(self) -> list[str]:
        return [
            *self.missed_notes(),
            *self.method_notes(),
            *self.time_notes(),
            *self.round_trip_notes(),
            *self.byte_notes(),
            *self.handler_notes(),
        ]

    def method_notes(self) -> list[str]:
        flow = self.throughput
        return [
            "## How it was measured",
            "",
            "- One app (`bench/synth_app.py`), the same work for each variant: a tagged stack, one "
            "seed role in the stack and one configured audience model shared by most jobs, every "
            "25th job with a model and a role of its own, each job seeded from its own S3 prefix. "
            "AwsCustomResource: StartAudienceGenerationJob on create, "
            "DeleteAudienceGenerationJob on delete, physical id from `audienceGenerationJobArn`, "
            "a policy of just those calls and PassRole. CfnResource: the construct's properties "
            "and a fixed ServiceToken string.",
            "- Each synth is a fresh `python bench/synth_app.py VARIANT N` with CDK_OUTDIR set to "
            "a temporary folder and the context the CDK CLI passes (captured from `cdk synth`: "
            "path and asset metadata, version reporting), so the templates are the ones "
            "`cdk deploy` uploads. One untimed warm-up synth runs first. Wall time includes the "
            "interpreter and the jsii kernel (Node) starting; `cdk synth` adds the CLI's own "
            "start-up on top.",
            "- Rounds alternate the variants (A, B, C, A, B, C, ...); a ratio is the median over "
            "rounds of the ratio within a round. Peak RSS is the largest single process (Python or "
            "its jsii Node process), from wait4's rusage.",
            f"- Footprint: per job = (N={MEDIUM} minus N={SMALL}) / {MEDIUM - SMALL}; the "
            f"per-stack constant = N={SMALL} minus one job, of which the app's own is an N=0 "
            "stack (the seed role and CDK's metadata); jobs that fit = (limit minus constant) / "
            "per job.",
            "- Handler import: the staged handler asset (from cdk.out, so exactly what is zipped) "
            "imported by a fresh `python -c` (`import index` against `import boto3`, alternating, "
            "in-process perf_counter around the import, no .pyc for the handler, as on Lambda).",
            "- API calls: tests/cloudformation.py's Provider framework stand-in against "
            "tests/cleanrooms_ml_endpoint.py, jobs that take no time (one poll per wait; a real "
            "wait adds one GetAudienceGenerationJob per further poll, every 30 s).",
            f"- Throughput: {flow['jobs']} Creates at once against the endpoint with quota "
            f"{flow['quota']} and jobs of {flow['duration']:g} s: every on_event first, then "
            f"is_complete for every unfinished job at once and every {flow['interval']:g} s, the "
            "event merged with on_event's result as the Provider framework merges it. A freed "
            f"slot is noticed at most one interval ({flow['interval']:g} s here; 30 s in the real "
            "framework, against jobs of minutes) plus one polling round later.",
            "",
        ]

    def time_notes(self) -> list[str]:
        s = self.synths
        jobs = LARGE - SMALL
        rows = []
        for variant in VARIANTS:
            cells: list[object] = [TITLES[variant]]
            cells += [
                ms(s.median(variant, SMALL, phase)) for phase in ("import_cdk", "import_variant")
            ]
            for phase in ("build", "synth", "seconds", "cpu_seconds"):
                small, large = s.median(variant, SMALL, phase), s.median(variant, LARGE, phase)
                cells.append(f"{ms(small)} + {(large - small) / jobs * 1000:.1f} ms")
            rows.append(cells)
        lines = [
            "## Where the synth time goes",
            "",
            f"Medians by phase of `synth_app.py`: importing aws-cdk-lib (starts Node, loads the "
            "jsii assembly) and the variant's modules, building the construct tree, `app.synth()`; "
            "the rest of the wall time is the interpreter starting and stopping. Build, synth, "
            f"wall and CPU are given as N={SMALL} + each further job (N={SMALL} to {LARGE}).",
            "",
            markdown_table(
                ["Variant", "import aws_cdk", "import variant", "build", "synth", "wall", "CPU"],
                rows,
            ),
            "",
        ]
        for what, name in (("seconds", "wall"), ("cpu_seconds", "CPU")):
            excess = {n: s.excess(CONSTRUCT, FLOOR, n, what) for n in (SMALL, MEDIUM, LARGE)}
            each = (excess[LARGE] - excess[SMALL]) / jobs
            floor = s.median(FLOOR, MEDIUM, what)
            predicted = excess[SMALL] + (MEDIUM - SMALL) * each
            lines.append(
                f"- {name}: the construct's excess over the floor (median of paired differences) "
                f"is {sec(excess[SMALL])} at N={SMALL}, {sec(excess[MEDIUM])} at N={MEDIUM}, "
                f"{sec(excess[LARGE])} at N={LARGE}: about {sec(excess[SMALL])} per stack (the "
                "provider's functions, roles, state machine and two assets, and the library's "
                f"imports) and {each * 1000:.1f} ms per job, so {sec(excess[SMALL])} + "
                f"{MEDIUM - SMALL} x {each * 1000:.1f} ms = {sec(predicted)} at N={MEDIUM}, "
                f"where 1.15x the floor allows {sec(0.15 * floor)}."
            )
        return [*lines, ""]

    def round_trip_notes(self) -> list[str]:
        counts = {v: per_job(self.profiles, v, "round_trips") for v in VARIANTS}
        waits = per_job(self.profiles, CONSTRUCT, "round_trip_seconds")
        summary = ", ".join(
            f"{TITLES[v]} {sum(counts[v].values()):.1f} "
            f"({sum(self.profiles[(v, SMALL)]['by_kind'].values())} at N={SMALL})"
            for v in VARIANTS
        )
        sites = sorted(counts[CONSTRUCT].items(), key=lambda item: (-item[1], item[0]))
        site_rows = [
            (
                f"`{site}`",
                f"{count:.2f}",
                "—" if site.startswith("answer to") else f"{waits.get(site, 0.0) * 1000:.2f}",
            )
            for site, count in sites
            if count >= 0.01
        ]
        functions = self.profiles[(CONSTRUCT, PROFILE_JOBS)]["own_functions"]
        small_functions = self.profiles[(CONSTRUCT, SMALL)]["own_functions"]
        function_rows: list[tuple[str, str, str]] = []
        for name, (calls, seconds) in sorted(functions.items(), key=lambda item: -item[1][1]):
            small_calls, small_seconds = small_functions.get(name, (0, 0.0))
            if calls > small_calls and len(function_rows) < 12:
                jobs = PROFILE_JOBS - SMALL
                each = max(0.0, (seconds - small_seconds) / jobs * 1000)
                function_rows.append(
                    (f"`{name}`", f"{(calls - small_calls) / jobs:.2f}", f"{each:.2f}")
                )
        return [
            "## jsii round trips per job",
            "",
            "Every call from Python into aws-cdk-lib, and every answer to a callback from Node, is "
            f"a round trip to the jsii kernel process. Per job (N={SMALL} to {PROFILE_JOBS}, "
            f"`bench/profile_synth.py`): {summary}.",
            "",
            "The construct's round trips per job by call site (the innermost frame of our code "
            "that made it) and the wait on each per job. The answer to a callback waits for "
            "whatever Node does next, up to its next callback or the end of the synth, so its "
            "wait holds Node's synthesis work, not the round trip's cost.",
            "",
            markdown_table(["Call site -> request", "per job", "wait, ms per job"], site_rows),
            "",
            "Our own Python functions that run per job (cProfile, cumulative, round trips "
            "included; cProfile slows everything, so only the proportions count):",
            "",
            markdown_table(["Function", "calls per job", "ms per job"], function_rows),
            "",
        ]

    def byte_notes(self) -> list[str]:
        lines = ["## Template bytes per job", ""]
        for variant in VARIANTS:
            small = bytes_by_type(self.synths.first(variant, SMALL).resources)
            medium = bytes_by_type(self.synths.first(variant, MEDIUM).resources)
            growth = {
                kind: (medium.get(kind, 0) - small.get(kind, 0)) / (MEDIUM - SMALL)
                for kind in set(small) | set(medium)
            }
            by_type = ", ".join(
                f"{kind} {value:.0f}"
                for kind, value in sorted(growth.items(), key=lambda item: -item[1])
                if abs(value) >= 0.5
            )
            job = job_resources(self.synths.first(variant, MEDIUM).resources)
            parts = "; ".join(
                f"{resource['Type']}: "
                + ", ".join(f"{key} {size}" for key, size in key_bytes(resource).items())
                for resource in job.values()
            )
            lines.append(
                f"- {TITLES[variant]}: ≈ bytes per job by resource type: {by_type}. "
                f"One job's resources by key: {parts}."
            )
        fp = self.footprints()[CONSTRUCT]
        lines += [
            "",
            f"The construct's job resource against the floor's, in bytes: {self.job_vs_floor()}.",
            "",
            f"Check of the linear model for the construct: N={LARGE} predicted "
            f"{fp.predicted_bytes(LARGE):,.0f} bytes, measured {fp.template_bytes[LARGE]:,}; "
            f"N={LARGE} predicted {fp.constant_resources + LARGE * fp.resources_per_job:g} "
            f"resources, measured {fp.resources[LARGE]}.",
            "",
        ]
        return lines

    def job_vs_floor(self) -> str:
        """How the construct's job resource differs from the floor's, key by key, in bytes."""
        ours, floor = (
            next(
                key_bytes(resource)
                for resource in job_resources(self.synths.first(v, MEDIUM).resources).values()
                if resource["Type"] == JOB_TYPE
            )
            for v in (CONSTRUCT, FLOOR)
        )
        keys = sorted(set(ours) | set(floor), key=lambda k: floor.get(k, 0) - ours.get(k, 0))
        return ", ".join(
            f"{key} {ours.get(key, 0) - floor.get(key, 0):+d}"
            for key in keys
            if ours.get(key, 0) != floor.get(key, 0)
        )

    def missed_notes(self) -> list[str]:
        """What bounds each missed target, from this run's figures."""
        s, fp = self.synths, self.footprints()
        lines = []
        if s.ratio(CONSTRUCT, FLOOR, MEDIUM) > 1.15:
            constant = s.excess(CONSTRUCT, FLOOR, SMALL)
            each = (s.excess(CONSTRUCT, FLOOR, LARGE) - constant) / (LARGE - SMALL)
            allowed = 0.15 * s.median(FLOOR, MEDIUM)
            ours = sum(per_job(self.profiles, CONSTRUCT, "round_trips").values())
            floors = sum(per_job(self.profiles, FLOOR, "round_trips").values())
            lines.append(
                f"- Synth / floor at N={MEDIUM}: 1.15x allows {sec(allowed)} over the floor. The "
                f"construct's excess is {sec(constant)} at N={SMALL} already (per stack) and grows "
                f"{each * 1000:.1f} ms per job ({ours:.0f} jsii round trips per job against the "
                f"floor's {floors:.0f}); see below."
            )
        if s.ratio(CONSTRUCT, AWS_CR, MEDIUM) >= 1.0:
            lines.append(
                f"- Synth / AwsCustomResource at N={MEDIUM}: the construct's per-stack constant "
                "is not yet paid back by its cheaper jobs; see the excess per job below."
            )
        if fp[CONSTRUCT].bytes_per_job > 600:
            extra = fp[CONSTRUCT].bytes_per_job - fp[FLOOR].bytes_per_job
            lines.append(
                f"- Template bytes per job: the floor itself takes {fp[FLOOR].bytes_per_job:.0f} "
                "bytes per job for the same properties (this workload's model ARN, seed and "
                f"tags); the construct adds {extra:.0f}: {self.job_vs_floor()}, and its shared "
                "handler policy grows with each distinct model and role."
            )
        if fp[CONSTRUCT].resources_per_job != 1:
            lines.append(f"- Resources per job: {fp[CONSTRUCT].resources_per_job:g}.")
        if fp[CONSTRUCT].constant_resources - fp[CONSTRUCT].app_resources > 15:
            lines.append("- Per-stack resources: see the template's provider resources.")
        if fp[CONSTRUCT].fit < 480:
            lines.append(
                f"- Jobs per stack: {fp[CONSTRUCT].fit_by_resources} by resources, "
                f"{fp[CONSTRUCT].fit_by_bytes} by bytes."
            )
        if self.import_ratio() > 1.10:
            pairs = zip(self.imports.handler, self.imports.boto3, strict=True)
            extra = statistics.median(handler - boto3 for handler, boto3 in pairs)
            lines.append(
                f"- Handler import: {ms(extra)} over `import boto3`, of which about "
                f"{ms(self.imports.compile_seconds())} is compiling the handler's source (no .pyc "
                "in the asset); the rest is running its modules (see Handler below)."
            )
        if self.throughput["total"] / self.throughput["ideal"] > 1.25:
            lines.append("- Throughput: see Handler below (slowest polling round, API calls).")
        if not lines:
            return []
        return ["## Missed targets: what bounds them", "", *lines, ""]

    def handler_notes(self) -> list[str]:
        extra = {
            name: micros
            for name, micros in self.handler_modules.items()
            if name not in self.boto3_modules
        }
        largest = sorted(extra.items(), key=lambda item: -item[1])[:8]
        lifecycle = "; ".join(
            f"{phase}: "
            + ", ".join(f"{name} {count}" for name, count in sorted(result["calls"].items()))
            for phase, result in self.lifecycle.items()
        )
        deployed, compiled, boto3 = (
            (statistics.median(times), min(times))
            for times in (self.imports.handler, self.imports.compiled, self.imports.boto3)
        )
        flow = self.throughput
        calls = ", ".join(f"{name} {count}" for name, count in sorted(flow["calls"].items()))
        total_calls = sum(flow["calls"].values())
        return [
            "## Handler",
            "",
            f"- Cold import, median (min): `import index` as deployed {ms(deployed[0])} "
            f"({ms(deployed[1])}), with the handler's .pyc {ms(compiled[0])} ({ms(compiled[1])}); "
            f"`import boto3` {ms(boto3[0])} ({ms(boto3[1])}). Compiling the handler's source on "
            "each cold start (the asset has no .pyc) costs about "
            f"{ms(self.imports.compile_seconds())} (median of paired differences). "
            f"Modules the handler imports beyond boto3's: {len(extra)}, "
            f"{sum(extra.values()) / 1000:.1f} ms of self time under `-X importtime` (one run); "
            "largest: " + ", ".join(f"`{name}` {micros / 1000:.1f} ms" for name, micros in largest),
            f"- API calls by phase: {lifecycle}.",
            f"- Asset: {self.asset[0]:,} bytes zipped, {self.asset[2]:,} bytes in "
            f"{self.asset[1]} files.",
            f"- Throughput: on_event for all {flow['jobs']} took "
            f"{sec(flow['on_event_seconds'])} and started {flow['started_by_on_event']} jobs; "
            "is_complete started the rest. "
            f"{flow['rounds']} polling rounds, {flow['polls']} is_complete calls; the slowest "
            f"round took {sec(flow['slowest_round'])} (the interval is {flow['interval']:g} s). "
            f"API calls: {calls} ({total_calls / flow['jobs']:.1f} per job).",
            "",
        ]


if __name__ == "__main__":
    main()
