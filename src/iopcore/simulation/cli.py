"""``iopcore simulate SCENARIO.toml``: run a scenario file, write the per-participant table,
print the summary.

Wired into :mod:`iopcore.app.cli` with :func:`add_parser` and :func:`run`. Importing this module
needs no numpy; running the command without the ``sim`` extra is a one-line error.
User errors raise :class:`~iopcore.core.errors.IopcoreError` subclasses (the CLI exits 2).

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="iopcore")
>>> _ = add_parser(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["simulate", "s.toml", "--replications", "3", "--workers", "1"])
>>> args.replications, args.workers, args.backend
(3, 1, 'process')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from iopcore.simulation.errors import SimulationError

EXIT_OK = 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (a whole number >= 0)")
    return int(text)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``simulate`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="simulate attendance and retention for a scenario file",
        description="Run every scenario of SCENARIO.toml (its arms and grid) for the given "
        "replications, print a summary with 95% intervals across replications, and write "
        "the per-participant table with -o (.parquet or .csv). Same seed, same tables, "
        "whatever the backend or number of workers.",
    )
    parser.add_argument("scenario", type=Path, metavar="SCENARIO.toml")
    parser.add_argument(
        "--replications", type=_positive, help="replications (default: the file's, else 1)"
    )
    parser.add_argument("--seed", type=_seed, help="root seed (default: the file's, else 0)")
    parser.add_argument(
        "--participants", type=_positive, help="participants per scenario (overrides the file)"
    )
    parser.add_argument(
        "--workers", type=_positive, help="worker processes (default: one per core)"
    )
    parser.add_argument(
        "--backend",
        default="process",
        help="sweep backend: process (default), serial, dask, or a plugin's",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="write the per-participant table (.parquet or .csv)"
    )
    parser.add_argument(
        "--weekly", type=Path, help="write the per-scenario-replicate-week table too"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``iopcore simulate`` with parsed ``args``; returns the exit code."""
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
    except ImportError as exc:
        raise SimulationError(
            f"iopcore simulate needs the sim extra ({exc.name} is missing): "
            "pip install 'iopcore[sim]'"
        ) from None
    import attrs

    from iopcore.simulation.files import load_scenarios
    from iopcore.simulation.results import check_table_path, format_summary, summarize, write_table
    from iopcore.simulation.sweep import run as run_sweep

    # Outputs are checked before simulating: a typo should not cost a whole run.
    for option, path in (("-o", args.output), ("--weekly", args.weekly)):
        if path is not None:
            check_table_path(path, label=f"{option} {path}")
    if (
        args.output is not None
        and args.weekly is not None
        and args.output.resolve() == args.weekly.resolve()
    ):
        raise SimulationError(
            f"-o and --weekly both name {args.output}; give the two tables different names"
        )
    scenarios = load_scenarios(args.scenario)
    if args.participants is not None:
        scenarios = tuple(attrs.evolve(s, participants=args.participants) for s in scenarios)
    result = run_sweep(
        scenarios,
        replications=args.replications,
        seed=args.seed,
        backend=args.backend,
        workers=args.workers,
        progress=args.progress,
    )
    print(
        f"{args.scenario.name}: {len(scenarios)} scenario(s) x {result.replications} "
        f"replication(s), {len(result.participants):,} participants, seed {result.seed}"
    )
    print(format_summary(summarize(result)))
    if args.output is not None:
        write_table(result.participants, args.output)
        print(f"wrote {len(result.participants):,} rows to {args.output}", file=sys.stderr)
    if args.weekly is not None:
        write_table(result.weekly, args.weekly)
        print(f"wrote {len(result.weekly):,} rows to {args.weekly}", file=sys.stderr)
    return EXIT_OK


__all__ = ["add_parser", "run"]
