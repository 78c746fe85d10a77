"""The example app, synthesized by the real CDK CLI as a new user would, with no credentials."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
VENV_BIN = ROOT / ".venv" / "bin"


def test_example_app_synthesizes_offline_with_the_cdk_cli(tmp_path: Path) -> None:
    assert CDK.exists(), "the pinned CDK CLI is missing: run `make install` (npm ci)"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        PATH=os.pathsep.join([str(VENV_BIN), str(CDK.parent), env.get("PATH", "")]),
        CDK_DISABLE_CLI_TELEMETRY="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )

    result = subprocess.run(  # noqa: S603 - a fixed command from this repository
        [str(CDK), "synth", "--no-notices", "--quiet", "--output", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr, "jsii or the CLI ran on an unsupported Node"
    template = json.loads((tmp_path / "CleanRoomsMLExample.template.json").read_text())
    resources = template["Resources"].values()
    (job,) = [r for r in resources if r["Type"] == "Custom::CleanRoomsMLAudienceGenerationJob"]
    assert {tag["Key"] for tag in job["Properties"]["Tags"]} == {"cost-center", "owner", "project"}
    handlers = [
        r
        for r in resources
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Runtime"].startswith("python")
    ]
    assert len(handlers) == 2
    asset = handlers[0]["Metadata"]["aws:asset:path"]
    asset_files = {
        path.relative_to(tmp_path / asset).as_posix() for path in (tmp_path / asset).rglob("*")
    }
    assert {
        "index.py",
        "cleanrooms/engine/lifecycle.py",
        "cleanrooms/kinds/audience_generation_job.py",
    } <= asset_files
    assert not any("__pycache__" in path for path in asset_files)
