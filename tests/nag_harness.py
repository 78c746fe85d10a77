"""cdk-nag's AwsSolutions pack over a test's stacks: 3.x in this process, 2.x in one of its own;
and cfn-lint over their templates.

The dev dependencies hold cdk-nag 3.x; ``make install`` puts 2.x in ``.venv/nag2``, which can only
run in a process of its own (one jsii kernel loads one cdk-nag). A test module that offers
``nag_stacks(app) -> list[cdk.Stack]`` gets both checks with :func:`nag3_violations` and
:func:`nag2_findings`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag

ROOT = Path(__file__).resolve().parents[1]
NAG2 = ROOT / ".venv" / "nag2"


def nag3_violations(app: cdk.App, outdir: Path) -> list[Any]:
    """cdk-nag 3.x's violations on ``app`` (made with ``outdir=str(outdir)``), from its report."""
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    try:
        app.synth()
    except RuntimeError as error:  # ValidationFailed, once the report is written
        if "ValidationFailed" not in str(error):
            raise
    report = json.loads((outdir / "validation-report.json").read_text())
    return [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]


_NAG2_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import aws_cdk as cdk, cdk_nag, importlib, importlib.metadata as meta
    from aws_cdk.assertions import Annotations, Match
    assert meta.version("cdk-nag").startswith("2."), meta.version("cdk-nag")
    app = cdk.App()
    stacks = importlib.import_module(sys.argv[1]).nag_stacks(app)
    cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks())
    app.synth()
    pattern = Match.string_like_regexp("AwsSolutions-.*")
    findings = []
    for stack in stacks:
        found = Annotations.from_stack(stack)
        findings += [
            f"{stack.stack_name} {finding.id} {finding.entry.data}"
            for finding in [*found.find_error("*", pattern), *found.find_warning("*", pattern)]
        ]
    print(json.dumps(findings))
    """
)


def nag2_findings(module: str) -> list[str]:
    """cdk-nag 2.x's findings on the stacks ``module``'s ``nag_stacks(app)`` makes."""
    assert (NAG2 / "cdk_nag").is_dir(), "cdk-nag 2.x is missing: run `make install`"
    pythonpath = os.pathsep.join([str(NAG2), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(  # noqa: S603 - this venv's Python
        [sys.executable, "-c", _NAG2_SCRIPT, module],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return findings


def cfn_lint_findings(app: cdk.App, outdir: Path) -> str:
    """What cfn-lint (this venv's) finds in the templates of ``app`` (made with
    ``outdir=str(outdir)``): its errors and warnings, "" when there are none."""
    app.synth()
    templates = sorted(str(path) for path in outdir.glob("*.template.json"))
    assert templates, f"no template in {outdir}"
    lint = subprocess.run(  # noqa: S603 - cfn-lint from this venv
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    return "" if lint.returncode in (0, 8) else lint.stdout + lint.stderr
