"""Benchmark: what one shared plugin host per process saves library calls.

Run from the project root::

    .venv/bin/python benchmarks/plugins.py             # 200 calls of each kind
    .venv/bin/python benchmarks/plugins.py --calls 50  # a quick run

Measured in the same run:

(a) **building a host**: ``create_plugin_host()`` (every built-in registered, the ``iopcore``
    entry points scanned and loaded, pluggy's checks run), median of ``--calls`` builds after
    a first one that pays the imports;
(b) **per library call**: opening a ``memory://`` store and looking up an exporter, a rule
    set and an attendance model, each with a fresh host per call (what every library call did
    before) against the shared ``default_host()`` (what they do now); median per call and the
    ratio fresh / default.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from iopcore.plugins import PluginHost, create_plugin_host, default_host


def _median_ms(work: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _call(host: Callable[[], PluginHost]) -> Callable[[], object]:
    def one() -> object:
        h = host()
        with h.open_storage("memory://", actor="bench"):
            pass
        h.calendar_exporter("ics")
        h.accountability_rules()
        return h.attendance_model("logistic")

    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls of each kind")
    args = parser.parse_args()

    start = time.perf_counter()
    create_plugin_host()
    first = (time.perf_counter() - start) * 1000
    build = _median_ms(create_plugin_host, args.calls)
    default_host()  # built once, outside the timing, as in a running process
    fresh = _median_ms(_call(create_plugin_host), args.calls)
    shared = _median_ms(_call(default_host), args.calls)

    print(f"host build: first {first:.1f} ms (imports included), then median {build:.2f} ms")
    print(f"per library call (open store, exporter, rules, model), median of {args.calls}:")
    print(f"  fresh host per call  {fresh:8.3f} ms")
    print(f"  default host         {shared:8.3f} ms")
    print(f"  ratio fresh/default  {fresh / shared:8.1f}x  (saved {fresh - shared:.2f} ms a call)")


if __name__ == "__main__":
    main()
