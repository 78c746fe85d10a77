"""Where one synth of ``synth_app.py`` spends its time: jsii round trips by call site, and cProfile.

    python bench/profile_synth.py VARIANT N > profile.json

Every request that Python sends to the jsii kernel (Node) and waits for is one round trip: create,
invoke, get, set, their static forms, and the answer to a callback from Node (``sync_complete``).
They are counted on the kernel's process provider, one level below ``jsii._kernel.Kernel``: jsii
binds the Kernel's methods when it is imported (``jsii.invoke = kernel.invoke``), so patching the
Kernel class afterwards would miss every call made through those names.
Each is attributed to the innermost frame of our own code (the construct library, the handler
modules it imports, the bench app) that led to it. The answer to a callback is attributed to the
Python member Node called; its wait includes whatever Node does next, up to its next request.

The profile (cProfile) keeps the calls and cumulative seconds of our own functions. Both slow the
synth down; their counts are exact, their seconds only show proportions.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import runpy
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsii._kernel
from jsii._kernel.providers.process import ProcessProvider

REPO = Path(__file__).resolve().parents[1]
SYNTH_APP = Path(__file__).resolve().parent / "synth_app.py"
OWN_CODE = tuple(str(REPO / folder) for folder in ("constructs", "lambda", "bench"))
THIS_FILE = str(Path(__file__).resolve())
ROUND_TRIPS = (
    "load",
    "create",
    "delete",
    "get",
    "set",
    "sget",
    "sset",
    "invoke",
    "sinvoke",
    "begin",
    "sbegin",
    "end",
    "callbacks",
    "complete",
    "sync_complete",
)


class RoundTrips:
    """Round trips by kind and by call site, and the seconds spent waiting on them."""

    def __init__(self) -> None:
        self.by_kind: Counter[str] = Counter()
        self.count: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.last_callback = ""

    def site(self, kind: str, request: Any) -> str:
        what = _request_name(kind, request)
        if kind in ("sync_complete", "complete"):
            return f"answer to callback {self.last_callback} -> {what}"
        frame = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(OWN_CODE) and filename != THIS_FILE:
                where = Path(filename).relative_to(REPO)
                return f"{where}:{frame.f_lineno} {frame.f_code.co_name} -> {what}"
            frame = frame.f_back  # type: ignore[assignment]
        return f"(aws-cdk-lib) -> {what}"

    def counted(self, kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def round_trip(provider: ProcessProvider, request: Any, *args: Any, **kwargs: Any) -> Any:
            site = self.site(kind, request)
            started = time.perf_counter()
            try:
                return method(provider, request, *args, **kwargs)
            finally:
                self.by_kind[kind] += 1
                self.count[site] += 1
                self.seconds[site] += time.perf_counter() - started

        return round_trip

    def traced(self, handle: Callable[..., Any]) -> Callable[..., Any]:
        def callback(kernel: Any, request: Any) -> Any:
            self.last_callback = str(request.cookie)
            return handle(kernel, request)

        return callback

    def install(self) -> None:
        """Count every request of the kernel process provider, and name the callbacks."""
        for kind in ROUND_TRIPS:
            setattr(ProcessProvider, kind, self.counted(kind, getattr(ProcessProvider, kind)))
        kernel_module: Any = jsii._kernel
        kernel_module._handle_callback = self.traced(kernel_module._handle_callback)


def _request_name(kind: str, request: Any) -> str:
    for attribute in ("fqn", "method", "property"):
        name = getattr(request, attribute, None)
        if isinstance(name, str):
            return f"{kind} {name}"
    return kind


def own_functions(profile: cProfile.Profile) -> dict[str, tuple[int, float]]:
    """Calls and cumulative seconds of each of our own functions (construct, handler modules)."""
    stats: Any = pstats.Stats(profile)
    result: dict[str, tuple[int, float]] = {}
    for (filename, line, name), (_, calls, _, cumulative, _) in stats.stats.items():
        if filename.startswith(OWN_CODE) and "bench" not in Path(filename).parts:
            where = Path(filename).relative_to(REPO)
            result[f"{where}:{line} {name}"] = (int(calls), float(cumulative))
    return result


def main(argv: list[str]) -> None:
    round_trips = RoundTrips()
    round_trips.install()
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    sys.argv = [str(SYNTH_APP), *argv[1:]]
    runpy.run_path(str(SYNTH_APP), run_name="__main__")
    profile.disable()
    json.dump(
        {
            "seconds": time.perf_counter() - started,
            "by_kind": dict(round_trips.by_kind),
            "round_trips": dict(round_trips.count),
            "round_trip_seconds": dict(round_trips.seconds),
            "own_functions": own_functions(profile),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv)
