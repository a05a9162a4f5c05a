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
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iopcore.io.output import check_output, starts_with, write_output
from iopcore.simulation.errors import SimulationError

EXIT_OK = 0


#: Upper bounds of the count options (the scenario's own bounds where it has them).
MAXIMA = {
    "replications": 10_000,
    "participants": 10_000_000,
    "workers": 1_024,
    "draws": 10_000,
    "samples": 65_536,
}


def _count(name: str) -> Any:
    """An argparse type: a whole number from 1 to ``MAXIMA[name]``."""
    top = MAXIMA[name]

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
        if len(text) > 12 or int(text) > top:
            raise argparse.ArgumentTypeError(f"{text!r} is above the limit of {top:,}")
        return int(text)

    parse.__name__ = name
    return parse


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (a whole number >= 0)")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    """Options every simulation command shares: replications, seed, size, where it runs."""
    parser.add_argument(
        "--replications",
        type=_count("replications"),
        help="replications (default: the file's, else 1)",
    )
    parser.add_argument("--seed", type=_seed, help="root seed (default: the file's, else 0)")
    parser.add_argument(
        "--participants",
        type=_count("participants"),
        help="participants per scenario (overrides the file)",
    )
    parser.add_argument(
        "--workers", type=_count("workers"), help="worker processes (default: one per core)"
    )
    parser.add_argument(
        "--backend",
        default="process",
        help="sweep backend: process (default), serial, dask, or a plugin's",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (implies --backend dask)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )


_FORCE = "overwrite an output file even if it exists and is not of its kind (never an input file)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``simulate`` and ``sensitivity`` subcommands to ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="simulate attendance and retention for a scenario file",
        description="Run every scenario of SCENARIO.toml (its arms and grid) for the given "
        "replications, print a summary with 95% intervals across replications and each arm's "
        "paired difference from the reference arm, and write the per-participant table with "
        "-o (.parquet or .csv, with the run's provenance). Same seed, same tables, whatever "
        "the backend or number of workers.",
    )
    parser.add_argument("scenario", type=Path, metavar="SCENARIO.toml", nargs="?")
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="RESULTS",
        help="re-run the simulation a results table (.parquet, or .csv with its .json) records",
    )
    _common(parser)
    parser.add_argument(
        "--reference", metavar="ARM", help="arm the others are compared with (default: first)"
    )
    parser.add_argument(
        "--uncertainty",
        action="store_true",
        help="draw parameter sets from their documented ranges (probabilistic sensitivity "
        "analysis) and report intervals with parameter uncertainty",
    )
    parser.add_argument(
        "--draws", type=_count("draws"), default=50, help="parameter sets with --uncertainty (50)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="write the per-participant table (.parquet or .csv)"
    )
    parser.add_argument(
        "--weekly", type=Path, help="write the per-scenario-replicate-week table too"
    )
    parser.add_argument(
        "--figure",
        type=Path,
        metavar="PNG",
        help="save a figure: the arms' differences (forest plot), or retention for one arm",
    )
    parser.add_argument("--force", action="store_true", help=_FORCE)
    sens: argparse.ArgumentParser = subparsers.add_parser(
        "sensitivity",
        help="global sensitivity analysis (Morris or Sobol, with SALib) of a scenario",
        description="Sample the uncertain parameters over their documented ranges around one "
        "arm of SCENARIO.toml, run every sample through the sweep, and print each "
        "parameter's Morris (mu*, sigma) or Sobol (S1, ST) index with its 95% interval.",
    )
    sens.add_argument("scenario", type=Path, metavar="SCENARIO.toml")
    sens.add_argument("--method", choices=("morris", "sobol"), default="morris")
    sens.add_argument(
        "--samples",
        type=_count("samples"),
        help="Morris trajectories (default 10) or Sobol base samples, a power of two (64)",
    )
    sens.add_argument("--metric", default="completed", help="metric to explain (completed)")
    sens.add_argument("--arm", help="the arm to analyse (default: the file's first)")
    sens.add_argument(
        "--parameter",
        action="append",
        metavar="PATH",
        help="vary only these parameters (repeat; default: every documented one)",
    )
    _common(sens)
    sens.add_argument("-o", "--output", type=Path, help="write the indices (.csv or .parquet)")
    sens.add_argument("--figure", type=Path, metavar="PNG", help="save the indices as a figure")
    sens.add_argument("--force", action="store_true", help=_FORCE)
    return parser


def _needs_sim(command: str) -> None:
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
    except ImportError as exc:
        raise SimulationError(
            f"iopcore {command} needs the sim extra ({exc.name} is missing): "
            "pip install 'iopcore[sim]'"
        ) from None


def _where(args: argparse.Namespace) -> dict[str, Any]:
    """Backend keyword arguments for run(): an existing cluster, or the named backend."""
    if args.scheduler is not None:
        if args.backend not in ("process", "dask"):
            raise SimulationError(
                f"--scheduler runs on Dask; drop --backend {args.backend} or --scheduler"
            )
        return {"backend": "dask", "backend_options": {"address": args.scheduler}}
    return {"backend": args.backend, "workers": args.workers}


#: Figure formats: suffix -> (kind, how a file of that kind starts).
_FIGURES = {
    ".png": ("PNG image", b"\x89PNG\r\n\x1a\n"),
    ".svg": ("SVG image", b"<?xml"),
    ".pdf": ("PDF document", b"%PDF-"),
}


def _check_figure(path: Path | None, *, reads: Sequence[Path], force: bool) -> None:
    if path is None:
        return
    if path.suffix.lower() not in _FIGURES:
        raise SimulationError(f"--figure {path}: end the name in .png, .svg or .pdf")
    if not path.parent.is_dir():
        raise SimulationError(f"--figure {path}: folder '{path.parent}' does not exist")
    kind, magic = _FIGURES[path.suffix.lower()]
    check_output(path, kind=kind, recognize=starts_with(magic), reads=reads, force=force)


def _write_figure(figure: Any, path: Path, *, reads: Sequence[Path], force: bool) -> None:
    """Save a matplotlib figure through :func:`write_output` (atomic, 0600, never onto input)."""
    suffix = path.suffix.lower()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=suffix[1:], dpi=150)
    kind, magic = _FIGURES[suffix]
    write_output(
        path, buffer.getvalue(), kind=kind, recognize=starts_with(magic), reads=reads, force=force
    )
    print(f"wrote {path}", file=sys.stderr)


def _scenario_reads(path: Path) -> list[Path]:
    """The files a scenario file makes the command read: itself and every program file it
    names (``program`` at the top, in an arm, or as a grid axis), relative to its folder.
    A file that does not parse names only itself; loading it reports the error."""
    import tomllib

    reads = [path]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return reads
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "program":
                    names.extend(item if isinstance(item, list) else [item])
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    folder = path.resolve().parent
    return reads + [folder / name for name in dict.fromkeys(names) if isinstance(name, str)]


def run(args: argparse.Namespace) -> int:
    """Run ``iopcore simulate`` or ``iopcore sensitivity`` with parsed ``args``."""
    if args.command == "sensitivity":
        return _sensitivity(args)
    _needs_sim("simulate")
    from iopcore.simulation import provenance
    from iopcore.simulation.results import write_table

    if (args.scenario is None) == (args.replay is None):
        raise SimulationError("give either SCENARIO.toml or --replay RESULTS, not both or none")
    if args.replay is not None:
        reads = [args.replay, provenance.sidecar_path(args.replay)]
    else:
        reads = _scenario_reads(args.scenario)
    _check_outputs(args, reads)
    _where(args)  # a wrong --scheduler fails before the run
    if args.replay is not None:
        scenarios, groups, result = _replayed(args)
        source = f"{args.replay.name} (replay)"
    else:
        scenarios, groups, result = _simulated(args)
        source = args.scenario.name
    print(
        f"{source}: {len(scenarios)} scenario(s) x {result.replications} "
        f"replication(s), {len(result.participants):,} participants, seed {result.seed}"
    )
    table = _report(args, result, len(scenarios), groups)
    record = provenance.of(result, groups=groups)
    if args.output is not None:
        write_table(result.participants, args.output, record=record, reads=reads, force=args.force)
        print(f"wrote {len(result.participants):,} rows to {args.output}", file=sys.stderr)
    if args.weekly is not None:
        write_table(result.weekly, args.weekly, record=record, reads=reads, force=args.force)
        print(f"wrote {len(result.weekly):,} rows to {args.weekly}", file=sys.stderr)
    if args.figure is not None:
        _save_figure(result, table, args, reads=reads)
    return EXIT_OK


def _check_outputs(args: argparse.Namespace, reads: Sequence[Path]) -> None:
    """Outputs are checked before simulating: a typo should not cost a whole run."""
    from iopcore.simulation.results import check_table_path

    for option, path in (("-o", args.output), ("--weekly", args.weekly)):
        if path is not None:
            check_table_path(
                path, label=f"{option} {path}", reads=reads, force=args.force, record=True
            )
    _check_figure(args.figure, reads=reads, force=args.force)
    if (
        args.output is not None
        and args.weekly is not None
        and args.output.resolve() == args.weekly.resolve()
    ):
        raise SimulationError(
            f"-o and --weekly both name {args.output}; give the two tables different names"
        )


def _replayed(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The scenarios, groups and result of re-running the run a results file records."""
    from iopcore.simulation import provenance
    from iopcore.simulation.sweep import run as run_sweep

    data = provenance.read_record(args.replay)
    scenarios = provenance.scenarios_from_record(data)
    groups = provenance.groups_of(data)
    psa = data.get("uncertainty")
    if args.uncertainty and psa is None:
        raise SimulationError("--replay re-runs a recorded run as it was; drop --uncertainty")
    args.uncertainty = psa is not None
    _check_reference(args.reference, scenarios, groups)
    if psa is not None:
        return (
            scenarios,
            groups,
            provenance.replay_uncertainty(data, progress=args.progress, **_where(args)),
        )
    result = run_sweep(
        scenarios,
        replications=data["replications"],
        seed=data["seed"],
        common_random_numbers=data["common_random_numbers"],
        progress=args.progress,
        **_where(args),
    )
    return scenarios, groups, result


def _simulated(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The scenarios, groups and result of running a scenario file."""
    import attrs

    from iopcore.simulation.files import load_design
    from iopcore.simulation.sweep import run as run_sweep
    from iopcore.simulation.uncertainty import MIN_DRAWS, simulate_with_uncertainty

    scenarios, groups = load_design(args.scenario)
    if args.participants is not None:
        scenarios = tuple(attrs.evolve(s, participants=args.participants) for s in scenarios)
    _check_reference(args.reference, scenarios, groups)
    if not args.uncertainty:
        result = run_sweep(
            scenarios,
            replications=args.replications,
            seed=args.seed,
            progress=args.progress,
            **_where(args),
        )
        return scenarios, groups, result
    if args.draws < MIN_DRAWS:
        raise SimulationError(
            f"--draws {args.draws}: at least {MIN_DRAWS} parameter sets are needed "
            "for a percentile interval to mean anything (100 or more for a paper)"
        )
    result = simulate_with_uncertainty(
        scenarios,
        draws=args.draws,
        replications=args.replications,
        seed=args.seed,
        progress=args.progress,
        **_where(args),
    )
    return scenarios, groups, result


def _report(args: argparse.Namespace, result: Any, arms: int, groups: Any) -> Any:
    """Print the summary (and the arms' contrasts); return the contrasts table, if any."""
    from iopcore.simulation.comparison import contrasts, format_contrasts
    from iopcore.simulation.results import format_summary, summarize
    from iopcore.simulation.uncertainty import (
        format_uncertainty,
        summarize_uncertainty,
        uncertainty_contrasts,
    )

    if not args.uncertainty:
        print(format_summary(summarize(result)))
        if arms < 2:
            return None
        table = contrasts(result, reference=args.reference, groups=groups)
        print()
        print(format_contrasts(table))
        return table
    psa = result.uncertainty or {}
    print(format_uncertainty(summarize_uncertainty(result)))
    if psa.get("kept"):
        print(
            "kept at each arm's own value (set by the arms or grid, not drawn): "
            + ", ".join(psa["kept"])
        )
    if arms < 2:
        return None
    table = uncertainty_contrasts(result, reference=args.reference, groups=groups)
    print()
    print(
        format_contrasts(
            table,
            footer=f"differences paired by parameter set and replication; interval: "
            f"2.5th-97.5th percentile over {psa.get('draws')} parameter sets "
            "(parameter and Monte Carlo uncertainty)",
        )
    )
    return table


def _check_reference(
    reference: str | None, scenarios: Any, groups: dict[str, tuple[str, str]] | None
) -> None:
    """A --reference that names no arm fails before the run, not after it."""
    if reference is None:
        return
    from iopcore.simulation.comparison import reference_pairs

    reference_pairs([s.name for s in scenarios], reference, groups)


def _save_figure(
    result: Any, table: Any, args: argparse.Namespace, *, reads: Sequence[Path]
) -> None:
    """The arms' differences as a forest plot (with parameter uncertainty under
    --uncertainty), or retention when there is one arm (by arm, never by parameter set)."""
    from iopcore.simulation.plot import plot_contrasts, plot_retention
    from iopcore.simulation.results import retention

    if table is not None and not table.empty:
        figure = plot_contrasts(table)
    else:
        participants = result.participants
        if "arm" in participants:  # one curve per arm, pooled over parameter sets
            participants = participants.drop(columns="scenario").rename(columns={"arm": "scenario"})
        figure = plot_retention(retention(participants))
    _write_figure(figure, args.figure, reads=reads, force=args.force)


def _sensitivity(args: argparse.Namespace) -> int:
    _needs_sim("sensitivity")
    import importlib.util

    import attrs

    from iopcore.simulation.files import load_design
    from iopcore.simulation.global_sensitivity import format_sensitivity, sensitivity
    from iopcore.simulation.provenance import varied_parameters
    from iopcore.simulation.results import check_table_path, write_table
    from iopcore.simulation.uncertainty import parameter, uncertain_parameters

    if importlib.util.find_spec("SALib") is None:
        raise SimulationError(
            "iopcore sensitivity needs SALib (in the sensitivity extra): "
            "pip install 'iopcore[sensitivity]'"
        )
    reads = _scenario_reads(args.scenario)
    if args.output is not None:
        check_table_path(args.output, label=f"-o {args.output}", reads=reads, force=args.force)
    _check_figure(args.figure, reads=reads, force=args.force)
    scenarios, groups = load_design(args.scenario)
    if args.arm is None:
        scenario = scenarios[0]
    else:
        named = {s.name: s for s in scenarios}
        points = [s.name for s in scenarios if groups[s.name][0] == args.arm]
        if args.arm in named:
            scenario = named[args.arm]
        elif len(points) == 1:
            scenario = named[points[0]]
        elif points:
            raise SimulationError(
                f"{args.scenario}: arm {args.arm!r} has {len(points)} grid points; name one "
                f"with --arm: {', '.join(repr(p) for p in points)}"
            )
        else:
            arms = list(dict.fromkeys(a for a, _ in groups.values()))
            raise SimulationError(
                f"{args.scenario}: no arm {args.arm!r}; arms: {', '.join(arms)} (or a grid "
                f"point: {', '.join(named)})"
            )
    if args.participants is not None:
        scenario = attrs.evolve(scenario, participants=args.participants)
    kept = list(varied_parameters(scenarios))
    if args.parameter:
        chosen = tuple(parameter(p) for p in args.parameter)
    else:
        default = uncertain_parameters(scenario)
        chosen = tuple(p for p in default if p.path not in kept)
        left_out = [p.path for p in default if p.path in kept]
        if left_out:
            print(f"not varied (set by the arms or grid): {', '.join(left_out)}", file=sys.stderr)
    found = sensitivity(
        scenario,
        method=args.method,
        samples=args.samples,
        parameters=chosen,
        metric=args.metric,
        replications=args.replications,
        seed=args.seed,
        progress=args.progress,
        kept=kept,
        **_where(args),
    )
    print(format_sensitivity(found))
    if args.output is not None:
        write_table(found.indices, args.output, reads=reads, force=args.force)
        print(f"wrote {len(found.indices)} rows to {args.output}", file=sys.stderr)
    if args.figure is not None:
        from iopcore.simulation.plot import plot_sensitivity

        _write_figure(plot_sensitivity(found), args.figure, reads=reads, force=args.force)
    return EXIT_OK


__all__ = ["add_parser", "run"]
