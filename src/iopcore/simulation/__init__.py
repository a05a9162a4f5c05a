"""Simulate how program structure changes attendance, on real program definitions.

Needs the ``sim`` extra (numpy, pandas, pyarrow, tqdm); ``plot`` adds matplotlib and ``dask``
adds Dask distributed. Names are imported on first use, so ``iopcore.simulation.cli`` (and
``import iopcore``) work without the extra.

>>> from iopcore import load_program
>>> from iopcore.simulation import Scenario, simulate, summarize
>>> program = load_program("examples/programs/adult-evening.toml")
>>> result = simulate(Scenario(program=program, participants=500, seed=1))
>>> len(result.participants), sorted(summarize(result)["metric"])[:2]
(500, ['attendance_rate', 'completed'])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iopcore.simulation.calendar import Calendar, build_calendar
    from iopcore.simulation.comparison import contrasts, format_contrasts
    from iopcore.simulation.effects import (
        AttendanceModelImpl,
        Design,
        Dropout,
        DropoutRule,
        Effects,
        Hazards,
    )
    from iopcore.simulation.engine import OUTCOMES, ChunkTask, generator, simulate_chunk
    from iopcore.simulation.errors import SimulationError
    from iopcore.simulation.files import load_design, load_scenarios, loads_scenarios
    from iopcore.simulation.global_sensitivity import (
        SensitivityResult,
        format_sensitivity,
        sensitivity,
    )
    from iopcore.simulation.models import LatentClassModel, LogisticModel, MarkovModel
    from iopcore.simulation.options import Admission, Exits, Options
    from iopcore.simulation.plot import (
        plot_contrasts,
        plot_cumulative_incidence,
        plot_retention,
        plot_sensitivity,
        plot_weekly_attendance,
    )
    from iopcore.simulation.population import People, PopulationSpec, Shift, draw_people
    from iopcore.simulation.progress import ProgressModelImpl, TrendProgress
    from iopcore.simulation.provenance import replay
    from iopcore.simulation.results import (
        SimulationResult,
        aalen_johansen,
        cumulative_incidence,
        format_summary,
        kaplan_meier,
        restricted_mean,
        retention,
        summarize,
        write_table,
    )
    from iopcore.simulation.scenario import Scenario, grid, sample, with_overrides
    from iopcore.simulation.sweep import (
        DaskExecutor,
        ProcessExecutor,
        SerialExecutor,
        SweepExecutor,
        run,
        simulate,
    )
    from iopcore.simulation.uncertainty import (
        PARAMETERS,
        Parameter,
        format_uncertainty,
        simulate_with_uncertainty,
        summarize_uncertainty,
        uncertainty_contrasts,
    )

_EXPORTS = {
    "Calendar": "calendar",
    "build_calendar": "calendar",
    "AttendanceModelImpl": "effects",
    "Design": "effects",
    "Effects": "effects",
    "Dropout": "effects",
    "DropoutRule": "effects",
    "Hazards": "effects",
    "OUTCOMES": "engine",
    "ChunkTask": "engine",
    "generator": "engine",
    "simulate_chunk": "engine",
    "SimulationError": "errors",
    "load_scenarios": "files",
    "load_design": "files",
    "loads_scenarios": "files",
    "LatentClassModel": "models",
    "LogisticModel": "models",
    "MarkovModel": "models",
    "Admission": "options",
    "Exits": "options",
    "Options": "options",
    "plot_retention": "plot",
    "plot_cumulative_incidence": "plot",
    "plot_weekly_attendance": "plot",
    "ProgressModelImpl": "progress",
    "TrendProgress": "progress",
    "People": "population",
    "PopulationSpec": "population",
    "Shift": "population",
    "draw_people": "population",
    "SimulationResult": "results",
    "format_summary": "results",
    "aalen_johansen": "results",
    "cumulative_incidence": "results",
    "kaplan_meier": "results",
    "retention": "results",
    "summarize": "results",
    "write_table": "results",
    "Scenario": "scenario",
    "grid": "scenario",
    "sample": "scenario",
    "with_overrides": "scenario",
    "DaskExecutor": "sweep",
    "ProcessExecutor": "sweep",
    "SerialExecutor": "sweep",
    "SweepExecutor": "sweep",
    "run": "sweep",
    "simulate": "sweep",
    "contrasts": "comparison",
    "format_contrasts": "comparison",
    "restricted_mean": "results",
    "PARAMETERS": "uncertainty",
    "Parameter": "uncertainty",
    "simulate_with_uncertainty": "uncertainty",
    "summarize_uncertainty": "uncertainty",
    "uncertainty_contrasts": "uncertainty",
    "format_uncertainty": "uncertainty",
    "SensitivityResult": "global_sensitivity",
    "sensitivity": "global_sensitivity",
    "format_sensitivity": "global_sensitivity",
    "plot_contrasts": "plot",
    "plot_sensitivity": "plot",
    "replay": "provenance",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'iopcore.simulation' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"iopcore.simulation.{module}"), name)
    except ImportError as exc:
        from iopcore.simulation.errors import SimulationError

        raise SimulationError(
            f"iopcore.simulation needs the sim extra ({exc.name} is missing): "
            "pip install 'iopcore[sim]'"
        ) from exc
    globals()[name] = value
    return value


__all__ = [
    "OUTCOMES",
    "PARAMETERS",
    "Admission",
    "AttendanceModelImpl",
    "Calendar",
    "ChunkTask",
    "DaskExecutor",
    "Design",
    "Dropout",
    "DropoutRule",
    "Effects",
    "Exits",
    "Hazards",
    "LatentClassModel",
    "LogisticModel",
    "MarkovModel",
    "Options",
    "Parameter",
    "People",
    "PopulationSpec",
    "ProcessExecutor",
    "ProgressModelImpl",
    "Scenario",
    "SensitivityResult",
    "SerialExecutor",
    "Shift",
    "SimulationError",
    "SimulationResult",
    "SweepExecutor",
    "TrendProgress",
    "aalen_johansen",
    "build_calendar",
    "contrasts",
    "cumulative_incidence",
    "draw_people",
    "format_contrasts",
    "format_sensitivity",
    "format_summary",
    "format_uncertainty",
    "generator",
    "grid",
    "kaplan_meier",
    "load_design",
    "load_scenarios",
    "loads_scenarios",
    "plot_contrasts",
    "plot_cumulative_incidence",
    "plot_retention",
    "plot_sensitivity",
    "plot_weekly_attendance",
    "replay",
    "restricted_mean",
    "retention",
    "run",
    "sample",
    "sensitivity",
    "simulate",
    "simulate_chunk",
    "simulate_with_uncertainty",
    "summarize",
    "summarize_uncertainty",
    "uncertainty_contrasts",
    "with_overrides",
    "write_table",
]
