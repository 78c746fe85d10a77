"""The integration test (tests/integ) checked by integ-runner in snapshot mode, without deploying.

integ-runner's newest release reads cloud assemblies up to schema 53, so it runs the test app on
aws-cdk-lib 2.257.0 (installed apart in .venv/cdk257), the oldest release the library supports.
`make integ-snapshot` refreshes the snapshot after an intended template change.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTEG_RUNNER = ROOT / "node_modules" / ".bin" / "integ-runner"
CDK_257 = ROOT / ".venv" / "cdk257"


def test_integ_runner_finds_the_snapshot_unchanged() -> None:
    assert INTEG_RUNNER.exists(), "integ-runner is missing: run `make install` (npm ci)"
    assert (CDK_257 / "aws_cdk").is_dir(), "aws-cdk-lib 2.257.0 is missing: run `make install`"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": str(CDK_257),
    }

    result = subprocess.run(  # noqa: S603 - integ-runner pinned in package-lock.json
        [
            str(INTEG_RUNNER),
            "--directory",
            "tests/integ",
            "--language",
            "python",
            "--app",
            "python {filePath}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "UNCHANGED  integ_audience_generation_job" in output, output
    assert "Tests:    1 passed, 1 total" in output, output
