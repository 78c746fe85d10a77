"""``make bench``: AudienceGenerationJob against AwsCustomResource and a bare CfnResource.

    python bench/run.py [--repeats 5] [--repeats-large 3] [--imports 15] [--budget 540]
    python bench/run.py --pipeline-only [--repeats 5]

Run from the repository root with the venv's Python (.venv/bin first on PATH). Prints one table
and writes bench/RESULTS.md. ``--pipeline-only`` measures only the example pipeline against one
job (about a minute) and prints its table, writing nothing. Nothing here fails on a slow
machine: targets are reported as met or missed, and where one is missed the notes say what
bounds it.

This file runs the measurements in order (bench/measurements.py: how each is taken) and hands
their results to bench/report.py, which words them (bench/RESULTS.template.md: the prose).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: bench/ is on the path, the repository is not

from bench import report  # noqa: E402
from bench.measurements import (  # noqa: E402
    CDK_CLI,
    CONSTRUCT,
    FLOOR,
    LARGE,
    MEDIUM,
    PIPELINE,
    PROFILE_JOBS,
    SMALL,
    VARIANTS,
    Profiles,
    Progress,
    Results,
    Run,
    Synths,
    capture_cli_context,
    cli_synth,
    git_state,
    import_times,
    imported_modules,
    lifecycle,
    machine,
    pipeline_rounds,
    profile,
    synth,
    synth_rounds,
    throughput,
    zip_like_cdk,
)

RESULTS = REPO / "bench" / "RESULTS.md"


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
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help=f"only the example {PIPELINE} against one job: print its table, write nothing",
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

        if args.pipeline_only:
            pipeline = pipeline_rounds(synths.context, args.repeats, progress)
            print(report.pipeline_table(pipeline))
            print(f"\nBeyond the one job's stack: {report.pipeline_added(pipeline)}")
            return

        wanted = {SMALL: args.repeats, MEDIUM: args.repeats, LARGE: args.repeats_large}
        synth_rounds(synths, wanted, args.budget, progress)
        app_only = synth(synths, FLOOR, 0)  # the app's own resources: the seed role, metadata
        progress("synth N=0 (the app without jobs)")
        pipeline = pipeline_rounds(synths.context, args.repeats, progress)

        cli = {}
        for variant in VARIANTS:
            cli[variant] = cli_synth(variant, MEDIUM, workdir)
            progress(f"cdk synth N={MEDIUM} {variant}: {cli[variant]:.2f} s")

        profiles = Profiles()
        for jobs in (SMALL, PROFILE_JOBS):
            for variant in VARIANTS:
                profiles.runs[(variant, jobs)] = profile(variant, jobs, synths.context)
                progress(f"profiled N={jobs} {variant}")

        assert synths.handler_asset is not None
        asset = zip_like_cdk(synths.handler_asset, workdir / "handler.zip")
        imports = import_times(synths.handler_asset, workdir, args.imports)
        handler_modules = imported_modules("index", synths.handler_asset)
        boto3_modules = imported_modules("boto3", synths.handler_asset)
        progress(f"imports: handler {statistics.median(imports.handler) * 1000:.0f} ms")

        phases = lifecycle()
        flow = throughput()
        progress(f"throughput: {flow.total:.2f} s for an ideal of {flow.ideal:.2f} s")

    total_seconds = progress.elapsed
    results = Results(
        run=Run(
            command=command,
            started_at=started_at,
            seconds=total_seconds,
            load_before=load_before,
            load_after=os.getloadavg(),
            code=git_state(),
            machine=machine(),
        ),
        synths=synths,
        app_only=app_only,
        cli=cli,
        pipeline=pipeline,
        profiles=profiles,
        asset=asset,
        imports=imports,
        handler_modules=handler_modules,
        boto3_modules=boto3_modules,
        lifecycle=phases,
        throughput=flow,
    )
    table = report.table(results)
    RESULTS.write_text(report.document(results))
    print(table)
    print(f"\nTotal: {total_seconds:.0f} s. Details and notes: {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
