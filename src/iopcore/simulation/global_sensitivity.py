"""Global sensitivity analysis with SALib: which uncertain parameters move a result.

:func:`sensitivity` samples the declared parameters (by default every one
:func:`~iopcore.simulation.uncertainty.uncertain_parameters` gives, with its documented
range) with SALib's Morris (elementary effects: ``mu_star`` ranks influence, ``sigma`` flags
interactions and non-linearity) or Sobol/Saltelli design (first-order ``S1`` and
total-order ``ST`` variance shares), runs every sampled scenario through the normal sweep
(serial, process pool or Dask; bit-identical whichever, common random numbers across
samples), and analyses one metric (mean over replications) with SALib, confidence
intervals included.

SALib (Herman and Usher 2017, *JOSS* 2(9):97) is the reference implementation of these
methods in Python; writing them again would be worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd
from attrs import frozen

from .errors import SimulationError
from .results import METRICS, replicate_metrics
from .scenario import Scenario, with_overrides
from .uncertainty import Parameter, uncertain_parameters

METHODS = ("morris", "sobol")
#: Default sample sizes: Morris trajectories, Sobol base samples (a power of two).
DEFAULT_SAMPLES = {"morris": 10, "sobol": 64}
#: Below these sample sizes the indices are noise (Sobol intervals wider than the indices,
#: S1 above ST): the result carries a warning that every output repeats.
ADEQUATE_SAMPLES = {"morris": 10, "sobol": 256}
#: The most samples of one analysis.
MAX_SAMPLES = 65_536


@frozen(kw_only=True, eq=False)
class SensitivityResult:
    """Indices per parameter (``indices``) and every sampled run with its metric (``runs``)."""

    method: str
    metric: str
    indices: pd.DataFrame
    runs: pd.DataFrame
    #: Why the indices should not be trusted (too few samples, S1 above ST...), or "".
    warning: str = ""


def _problem(scenario: Scenario, parameters: Sequence[Parameter]) -> dict[str, Any]:
    bounds = [list(p.bounds(scenario)) for p in parameters]
    for item, (low, high) in zip(parameters, bounds, strict=True):
        if not low < high:
            raise SimulationError(
                f"{item.path}: the range [{low}, {high}] is empty for scenario "
                f"{scenario.name!r} (a relative range of a parameter that is 0 there); leave "
                "the parameter out with --parameter, or give it an absolute range"
            )
    return {"num_vars": len(parameters), "names": [p.path for p in parameters], "bounds": bounds}


def sensitivity(
    scenario: Scenario,
    *,
    method: str = "morris",
    samples: int | None = None,
    parameters: Sequence[Parameter] | None = None,
    metric: str = "completed",
    replications: int | None = None,
    seed: int | None = None,
    backend: str = "process",
    workers: int | None = None,
    progress: bool | None = None,
    backend_options: dict[str, Any] | None = None,
    kept: Sequence[str] = (),
) -> SensitivityResult:
    """Sensitivity of ``metric`` to ``parameters`` around ``scenario`` (see the module
    docstring). ``samples``: Morris trajectories (runs = samples x (parameters + 1)) or Sobol
    base samples, a power of two (runs = samples x (parameters + 2)). ``kept``: paths the
    scenario sets on purpose (an arm's or grid point's own values, see
    :func:`~iopcore.simulation.provenance.varied_parameters`); varying one is refused."""
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    from .sweep import run

    if method not in METHODS:
        raise SimulationError(f"no sensitivity method {method!r}; one of: {', '.join(METHODS)}")
    if metric not in METRICS:
        raise SimulationError(f"no metric {metric!r}; one of: {', '.join(METRICS)}")
    if parameters is None:
        parameters = uncertain_parameters(scenario)
    if not parameters:
        raise SimulationError("no parameters to vary: declare at least one")
    fixed = [p.path for p in parameters if p.path in kept]
    if fixed:
        raise SimulationError(
            f"{', '.join(fixed)}: set by the arm {scenario.name!r} itself (it is what the arms "
            "compare), so it is not varied; leave it out of --parameter"
        )
    n = DEFAULT_SAMPLES[method] if samples is None else samples
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_SAMPLES:
        raise SimulationError(
            f"samples must be a whole number from 2 to {MAX_SAMPLES:,}, got {n!r}"
        )
    if method == "sobol" and n & (n - 1):
        raise SimulationError(f"Sobol samples must be a power of two (e.g. 64), got {n}")
    root = scenario.seed if seed is None else seed
    problem = _problem(scenario, parameters)
    if method == "morris":
        x = morris_sample.sample(problem, N=n, num_levels=4, seed=root)
    else:
        x = sobol_sample.sample(problem, N=n, calc_second_order=False, seed=root)
    runs = [
        attrs.evolve(
            with_overrides(
                scenario, {p.path: float(v) for p, v in zip(parameters, row, strict=True)}
            ),
            name=f"{scenario.name} #{i}",
        )
        for i, row in enumerate(x)
    ]
    result = run(
        runs,
        replications=replications,
        seed=root,
        backend=backend,
        workers=workers,
        progress=progress,
        backend_options=backend_options,
    )
    per = replicate_metrics(result.participants)
    means = per.groupby("scenario", observed=True, sort=False)[metric].mean()
    y = np.array([means[s.name] for s in runs], dtype=float)
    if method == "morris":
        found = morris_analyze.analyze(problem, x, y, conf_level=0.95, num_levels=4, seed=root)
        indices = pd.DataFrame(
            {
                "parameter": problem["names"],
                "mu_star": found["mu_star"],
                "mu_star_conf": found["mu_star_conf"],
                "sigma": found["sigma"],
                "mu": found["mu"],
            }
        )
        order = "mu_star"
    else:
        with np.errstate(divide="ignore", invalid="ignore"):  # a metric that never varied
            found = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=root)
        indices = pd.DataFrame(
            {
                "parameter": problem["names"],
                "S1": found["S1"],
                "S1_conf": found["S1_conf"],
                "ST": found["ST"],
                "ST_conf": found["ST_conf"],
            }
        )
        order = "ST"
    warning = _warning(method, n, indices)
    table = pd.DataFrame(x, columns=problem["names"])
    table.insert(0, "scenario", [s.name for s in runs])
    table[metric] = y
    return SensitivityResult(
        method=method,
        metric=metric,
        indices=indices.sort_values(order, ascending=False, ignore_index=True),
        runs=table,
        warning=warning,
    )


def _warning(method: str, n: int, indices: pd.DataFrame) -> str:
    """Why these indices cannot be read as a ranking, or ""."""
    problems = []
    if n < ADEQUATE_SAMPLES[method]:
        problems.append(f"{n} samples (use {ADEQUATE_SAMPLES[method]} or more)")
    if method == "sobol":
        if bool(indices[["S1", "ST"]].isna().to_numpy().any()):
            problems.append("undefined indices (the metric did not vary between samples)")
        if bool((indices["S1"] > indices["ST"] + indices["ST_conf"]).any()):
            problems.append("S1 above ST for some parameters")
        if bool((indices["ST_conf"] > 0.5).any()):
            problems.append("95% intervals wider than 0.5")
    if not problems:
        return ""
    return (
        "WARNING: too few samples for these indices to mean anything ("
        + "; ".join(problems)
        + "); raise --samples"
    )


def format_sensitivity(found: SensitivityResult) -> str:
    """Plain text: the indices, most influential first, with 95% confidence half-widths."""
    lines = [f"{found.method} sensitivity of {found.metric} ({len(found.runs)} runs)"]
    if found.method == "morris":
        lines.append(f"  {'parameter':<32} {'mu*':>10} {'+-95%':>8} {'sigma':>10}")
        for row in found.indices.to_dict("records"):
            lines.append(
                f"  {row['parameter']!s:<32} {float(row['mu_star']):>10.4f} "
                f"{float(row['mu_star_conf']):>8.4f} {float(row['sigma']):>10.4f}"
            )
        lines.append("mu*: mean absolute elementary effect (influence); sigma: interactions")
    else:
        lines.append(f"  {'parameter':<32} {'S1':>8} {'+-95%':>8} {'ST':>8} {'+-95%':>8}")
        for row in found.indices.to_dict("records"):
            s1, s1_conf, st, st_conf = (float(row[k]) for k in ("S1", "S1_conf", "ST", "ST_conf"))
            lines.append(
                f"  {row['parameter']!s:<32} {s1:>8.3f} {s1_conf:>8.3f} {st:>8.3f} {st_conf:>8.3f}"
            )
        lines.append("S1: first-order share of variance; ST: total-order (with interactions)")
    if found.warning:
        lines.append(found.warning)
    return "\n".join(lines)


__all__ = [
    "ADEQUATE_SAMPLES",
    "MAX_SAMPLES",
    "METHODS",
    "SensitivityResult",
    "format_sensitivity",
    "sensitivity",
]
