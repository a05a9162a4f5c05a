"""Fit the simulation's default parameters to published figures (sources: docs/researchers.md).

Run from the project root (about six minutes on 2 cores; ``--check`` under a minute)::

    .venv/bin/python benchmarks/calibrate_simulation.py          # fit, then check and report
    .venv/bin/python benchmarks/calibrate_simulation.py --check  # check the committed defaults

**Setting.** The default population on the ``evening`` track of
``examples/programs/adult-evening.toml`` from 2027-01-04 (a closed cohort, 12 weeks), 20,000
participants per seed. Fit and check differ only in their seeds.

**Fit.** ``scipy.optimize.least_squares`` (trust region, scipy >= 1.16 for its callback) on
the residuals ``(simulated - target) / (the figure's standard error at the check)``, each
simulated figure the mean over 50 fitting seeds (1,000,000 participants per arm). The same
seeds serve every evaluation (common random numbers), so the objective is a deterministic,
nearly smooth function of the parameters. The Jacobian is a forward difference with a fixed
step of 0.02 in every coordinate (log-odds, log hazard ratios, and the logarithm of the four
rates): large against the granularity of a million participants, small against the
curvature. The fit stops when every residual is under 0.05 check standard errors (three
Gauss-Newton steps from the previous defaults).

Why so many participants: a fit chases the Monte Carlo noise of its own seeds, and the check
at other seeds can only confirm it if that noise is small against the check's. The fit here
has under half the check's standard error. The previous fit (three seeds of 10,000, against a
check at five seeds of 10,000) had about the same error as its check: it put the dropout
share at 23.2% on its seeds where the same parameters give 23.5% over 40 other seeds, so the
check found 23.7% [23.4, 24.0].

=================================  ==============================================  ========
parameter                          target (full references in docs/researchers.md)  figure
=================================  ==============================================  ========
``LogisticModel.intercept``        Gullo 2018 control arm, per-session attendance   0.84
``Dropout.daily_hazard``           TEDS-D 2004 IOP discharges: dropped out          23.2%
``Exits.transferred``              TEDS-D 2004 IOP discharges: transferred          17.9%
``Exits.terminated``               TEDS-D 2004 IOP discharges: terminated           14.0%
``Exits.other``                    TEDS-D 2004 IOP discharges: other                7.2%
``Hazards.employed``               TEDS-D outpatient completion, employed - not     47.1-29.4
``Effects.reminders``              Gullo 2018 attendance 0.90 vs 0.84 (odds ratio)  1.714
``Effects.incentives``             Pfund 2021 incentives, d on attendance rate      0.47
``Hazards.cooccurring``            Krawczyk 2017 attrition hazard ratio (Cox)       1.14
=================================  ==============================================  ========

``Hazards.incentives`` follows ``Effects.incentives``: incentives are taken to raise latent
engagement, which lowers the hazard of disengaging as engagement does
(``Dropout.engagement / LogisticModel.engagement_sd`` per unit). Acting on attendance alone
they would leave dropout unchanged, which no trial of contingency management reports.

``Hazards.cooccurring`` is fitted so that a Cox model (lifelines) of weeks to dropout, other
exits censored, adjusted for employment, estimates the source's 1.14: the source is such an
estimate, and the Cox model, which cannot see latent engagement, estimates a little less than
the model's own hazard ratio (the previous default, log 1.14, gave 1.12 at a million
participants).

Reported, not fitted: Petry 2011's d = 0.25 on days attended (as d on sessions attended) and
d = 0.40 on continuous weeks (as d on weeks retained; see ``Hazards.incentives``: it cannot
be matched here without an implausible dropout change). Completion (37.7%) is what is left
once the four exit shares hold. Then the latent-class model's ``dropping`` share and the
Markov model's ``struggling_to_dropout`` are fitted to the TEDS-D dropout share by
``scipy.optimize.brentq`` over 200 seeds (the dropout share alone is cheap).

**Check.** Every figure at ten held-out seeds (never used for fitting): the mean over them,
its 95% Monte Carlo interval (t over seeds), and a family-wise interval at 1 - 0.05 / 11
(Bonferroni over the 11 fitted figures, the two other models' dropout included): each 95%
interval misses its target one time in twenty by chance, so with 11 figures at least one
misses about four checks in ten even for a perfect fit, while the family-wise intervals hold
every target together in at least 95% of checks. Then, without refitting, the other two
example programs (``adult-day``, ``adolescent-afterschool``), where the targets are not
expected to hold exactly: they show how far the defaults travel.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
from scipy import optimize, stats

from iopcore import load_program
from iopcore.simulation import (
    Exits,
    LatentClassModel,
    LogisticModel,
    MarkovModel,
    Scenario,
    simulate,
    with_overrides,
)

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "examples" / "programs"
#: Fit and check share the setting and the size; only the seeds differ. The fit pools 50
#: seeds (1,000,000 participants), five times the check's 10, so its own Monte Carlo error
#: is under half the check's standard error.
FIT_SEEDS = tuple(range(20_040_101, 20_040_151))
#: The other two models' fits need the dropout share alone, which is cheap: 200 seeds.
DROPOUT_FIT_SEEDS = tuple(range(20_040_101, 20_040_301))
CHECK_SEEDS = tuple(range(7, 17))
PARTICIPANTS = 20_000

TEDS = {
    "completed": 0.377,
    "dropped_out": 0.232,
    "transferred": 0.179,
    "terminated": 0.140,
    "other": 0.072,
}
EMPLOYED_COMPLETION, UNEMPLOYED_COMPLETION = 0.471, 0.294
CONTROL_ATTENDANCE = 0.84
REMINDER_OR = (0.90 / 0.10) / (0.84 / 0.16)
INCENTIVE_D = 0.47
INCENTIVE_RETENTION_D = 0.40
PETRY_DAYS_D = 0.25
COOCCURRING_HR = 1.14

#: Fitted figures: name, target.
TARGETS = (
    ("attendance_rate", CONTROL_ATTENDANCE),
    ("dropped_out", TEDS["dropped_out"]),
    ("transferred", TEDS["transferred"]),
    ("terminated", TEDS["terminated"]),
    ("other", TEDS["other"]),
    ("completion_gap", EMPLOYED_COMPLETION - UNEMPLOYED_COMPLETION),
    ("reminder_or", REMINDER_OR),
    ("incentive_d", INCENTIVE_D),
    ("cooccurring_cox_hr", COOCCURRING_HR),
)
REPORTED = (
    ("incentive_sessions_d", PETRY_DAYS_D),
    ("incentive_retention_d", INCENTIVE_RETENTION_D),
)


def odds(p: float) -> float:
    return p / (1 - p)


def cohens_d(treated: pd.Series, control: pd.Series) -> float:
    pooled = math.sqrt((float(treated.var()) + float(control.var())) / 2)
    return (float(treated.mean()) - float(control.mean())) / pooled


def rate(people: pd.DataFrame) -> float:
    return float(people["sessions_attended"].sum() / people["sessions_scheduled"].sum())


def own_rate(people: pd.DataFrame) -> pd.Series:
    """Each participant's sessions attended over sessions scheduled while enrolled."""
    return people["sessions_attended"] / people["sessions_scheduled"].clip(lower=1)


def figures(base: Scenario) -> dict[str, float]:
    """Every calibrated figure for one scenario (one seed), plus reports."""
    people = simulate(base).participants
    reminded = simulate(with_overrides(base, {"options.reminders": True})).participants
    incented = simulate(with_overrides(base, {"options.incentives": True})).participants
    shares = people["outcome"].astype(str).value_counts(normalize=True)
    done = people["outcome"] == "completed"
    employed = people["employed"]
    out = {name: float(shares.get(name, 0.0)) for name in TEDS}
    out["attendance_rate"] = rate(people)
    out["employed_completion"] = float(done[employed].mean())
    out["unemployed_completion"] = float(done[~employed].mean())
    out["completion_gap"] = out["employed_completion"] - out["unemployed_completion"]
    out["reminder_or"] = odds(rate(reminded)) / odds(rate(people))
    out["incentive_d"] = cohens_d(own_rate(incented), own_rate(people))
    out["incentive_sessions_d"] = cohens_d(
        incented["sessions_attended"], people["sessions_attended"]
    )
    out["incentive_retention_d"] = cohens_d(incented["weeks_retained"], people["weeks_retained"])
    out["cooccurring_cox_hr"] = cox_hazard_ratio(people)
    # side by side: what each option does to attendance and to dropout
    for label, arm in (("reminders", reminded), ("incentives", incented)):
        out[f"{label}_attendance"] = rate(arm)
        out[f"{label}_dropped_out"] = float((arm["outcome"] == "dropped_out").mean())
    return out


def cox_hazard_ratio(people: pd.DataFrame) -> float:
    """The co-occurring disorder's hazard ratio of dropout, from a Cox model (lifelines) of
    weeks retained, other exits censored, adjusted for employment: what a study of these
    records would estimate, the kind of estimate the source (Krawczyk 2017) reports."""
    from lifelines import CoxPHFitter

    frame = pd.DataFrame(
        {
            "T": np.maximum(people["weeks_retained"].to_numpy(), 1),
            "E": (people["outcome"] == "dropped_out").to_numpy(),
            "cooccurring": people["cooccurring"].astype(float),
            "employed": people["employed"].astype(float),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = CoxPHFitter().fit(frame, duration_col="T", event_col="E")
    return float(math.exp(cox.params_["cooccurring"]))


def over_seeds(base: Scenario, seeds: Sequence[int]) -> dict[str, list[float]]:
    runs = [figures(attrs.evolve(base, seed=s)) for s in seeds]
    return {k: [r[k] for r in runs] for k in runs[0]}


# -- parameters <-> scenario -------------------------------------------------------------

NAMES = (
    "intercept",
    "daily_hazard",
    "transferred",
    "terminated",
    "other",
    "hazard_employed",
    "reminders",
    "incentives",
    "hazard_cooccurring",
)


def vector(sc: Scenario) -> np.ndarray:
    m = sc.model
    assert isinstance(m, LogisticModel)
    return np.array(
        [
            m.intercept,
            m.dropout.daily_hazard,
            sc.exits.transferred,
            sc.exits.terminated,
            sc.exits.other,
            m.hazards.employed,
            m.effects.reminders,
            m.effects.incentives,
            m.hazards.cooccurring,
        ]
    )


def scenario(base: Scenario, x: Sequence[float] | np.ndarray) -> Scenario:
    m = base.model
    assert isinstance(m, LogisticModel)
    intercept, daily, transferred, terminated, other, h_emp, rem, inc, h_co = map(float, x)
    model = attrs.evolve(
        m,
        intercept=intercept,
        dropout=attrs.evolve(m.dropout, daily_hazard=daily),
        effects=attrs.evolve(m.effects, reminders=rem, incentives=inc),
        # incentives raise engagement: the same shift in SDs of latent engagement on attendance
        # and on the hazard of disengaging (see Hazards.incentives)
        hazards=attrs.evolve(
            m.hazards,
            employed=h_emp,
            cooccurring=h_co,
            incentives=inc * m.dropout.engagement / m.engagement_sd,
        ),
    )
    exits = Exits(transferred=transferred, terminated=terminated, other=other)
    return attrs.evolve(base, model=model, exits=exits)


#: The four rates (daily hazard, three weekly exit hazards) are fitted on the log scale, so
#: one forward-difference step (``STEP``) is a 2% change of each and they stay positive.
RATES = np.array([False, True, True, True, True, False, False, False, False])
STEP = 0.02
#: The fit stops once every residual is below this, in check standard errors.
TOLERANCE = 0.05


def to_search(x: np.ndarray) -> np.ndarray:
    return np.where(RATES, np.log(np.where(RATES, x, 1.0)), x)


def from_search(u: np.ndarray) -> np.ndarray:
    return np.where(RATES, np.exp(u), u)


def fit_logistic(base: Scenario) -> Scenario:
    """Least squares over the fitting seeds, each residual in check standard errors."""
    seen: dict[bytes, np.ndarray] = {}
    scale = np.ones(len(TARGETS))

    def residuals(u: np.ndarray) -> np.ndarray:
        key = u.tobytes()
        if key not in seen:
            got = over_seeds(scenario(base, from_search(u)), FIT_SEEDS)
            if not seen:
                # each residual's scale: the figure's standard error at the check, from the
                # spread over the fitting seeds at the starting point
                scale[:] = [
                    np.std(got[k], ddof=1) / math.sqrt(len(CHECK_SEEDS)) for k, _ in TARGETS
                ]
            seen[key] = np.array([np.mean(got[k]) - t for k, t in TARGETS]) / scale
            largest = float(np.abs(seen[key]).max())
            print(f"  evaluation {len(seen):3d}: largest |residual| {largest:.3f}", file=sys.stderr)
        return seen[key]

    def jacobian(u: np.ndarray) -> np.ndarray:
        r = residuals(u)
        columns = [(residuals(u + STEP * e) - r) / STEP for e in np.eye(len(u))]
        return np.column_stack(columns)

    def close_enough(intermediate_result: optimize.OptimizeResult) -> None:
        if np.abs(intermediate_result.fun).max() < TOLERANCE:
            raise StopIteration

    lower = to_search(np.array([-5, 1e-5, 1e-6, 1e-6, 1e-6, -3, -3, -3, -1]))
    upper = to_search(np.array([8, 0.2, 0.2, 0.2, 0.2, 3, 5, 5, 1]))
    fit = optimize.least_squares(
        residuals,
        np.clip(to_search(vector(base)), lower, upper),
        jac=jacobian,
        bounds=(lower, upper),
        callback=close_enough,
        max_nfev=10,
    )
    if np.abs(fit.fun).max() >= TOLERANCE:
        sys.exit(f"least_squares did not converge: {fit.message}")
    print(f"least_squares: converged ({len(seen)} evaluations, {fit.njev} Jacobians)")
    print(
        "  residuals at the fit, in check standard errors: "
        + " ".join(f"{k}={r:+.3f}" for (k, _), r in zip(TARGETS, fit.fun, strict=True))
    )
    # the values as committed (five significant digits), so the reports check those
    return scenario(base, [float(f"{v:.5g}") for v in from_search(fit.x)])


def describe(sc: Scenario) -> str:
    return " ".join(f"{k}={v:.5g}" for k, v in zip(NAMES, vector(sc), strict=True))


def interval(values: Sequence[float], coverage: float = 0.95) -> tuple[float, float, float]:
    """The mean over seeds and its t interval."""
    a = np.asarray(values, dtype=float)
    mean = float(a.mean())
    t = float(stats.t.ppf((1 + coverage) / 2, len(a) - 1))
    half = t * float(a.std(ddof=1)) / math.sqrt(len(a))
    return mean, mean - half, mean + half


#: Fitted figures checked together: the logistic model's and the other two models' dropout.
FITTED = len(TARGETS) + 2
#: Each 95% interval misses its target one time in twenty by chance, so with FITTED figures
#: some miss about half the time even for a perfect fit; intervals at 1 - 0.05 / FITTED
#: (Bonferroni) hold every target together in at least 95% of checks.
FAMILY_COVERAGE = 1 - 0.05 / FITTED


def seeds_label(seeds: Sequence[int]) -> str:
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{len(seeds)} seeds, {seeds[0]}-{seeds[-1]}"
    return f"seeds {', '.join(map(str, seeds))}"


def row(name: str, target: float, values: Sequence[float], note: str = "") -> tuple[bool, bool]:
    """Print one figure against its target; whether its 95% and its family-wise interval
    hold the target."""
    mean, low, high = interval(values)
    _, wide_low, wide_high = interval(values, FAMILY_COVERAGE)
    inside, family = low <= target <= high, wide_low <= target <= wide_high
    mark = note or ("ok" if inside else "family-wise ok" if family else "MISS")
    print(
        f"  {name:<24} {target:8.3f} {mean:10.4f}  [{low:.4f}, {high:.4f}]  "
        f"[{wide_low:.4f}, {wide_high:.4f}]  {mark}"
    )
    return inside, family


def report(
    base: Scenario,
    seeds: Sequence[int],
    label: str,
    others: Sequence[LatentClassModel | MarkovModel] = (),
) -> None:
    print(f"\n{label} ({seeds_label(seeds)}, {base.participants:,} participants each)")
    print(
        f"  {'figure':<24} {'target':>8} {'simulated':>10}  {'95% MC interval':<18}  "
        f"family-wise ({FAMILY_COVERAGE:.2%})"
    )
    got = over_seeds(base, seeds)
    held = [row(name, target, got[name]) for name, target in TARGETS]
    held += [
        row(f"{type(m).__name__} dropout", TEDS["dropped_out"], dropped_out(base, seeds, m))
        for m in others
    ]
    for name, target in REPORTED:
        row(name, target, got[name], note="(reported, not fitted)")
    for name, target in (
        ("completed", TEDS["completed"]),
        ("employed_completion", EMPLOYED_COMPLETION),
        ("unemployed_completion", UNEMPLOYED_COMPLETION),
    ):
        row(name, target, got[name], note="(implied)")
    print(
        f"  targets inside their 95% interval: {sum(h[0] for h in held)} of {len(held)}; "
        f"inside their family-wise interval: {sum(h[1] for h in held)} of {len(held)}"
    )
    print("  options side by side (attendance rate, dropped out):")
    base_rate, base_drop = interval(got["attendance_rate"])[0], interval(got["dropped_out"])[0]
    print(f"    {'none':<12} {base_rate:.3f}  {base_drop:.3f}")
    for option in ("reminders", "incentives"):
        print(
            f"    {option:<12} {interval(got[option + '_attendance'])[0]:.3f}  "
            f"{interval(got[option + '_dropped_out'])[0]:.3f}"
        )


def dropped_out(
    sc: Scenario, seeds: Sequence[int], model: LatentClassModel | MarkovModel | None = None
) -> list[float]:
    if model is not None:
        sc = attrs.evolve(sc, model=model)
    return [
        float((simulate(attrs.evolve(sc, seed=s)).participants["outcome"] == "dropped_out").mean())
        for s in seeds
    ]


def fit_others(fitted: Scenario) -> tuple[LatentClassModel, MarkovModel]:
    """The other two models' dropout parameter, fitted to the TEDS-D dropout share."""
    assert isinstance(fitted.model, LogisticModel)
    m = fitted.model
    classes = LatentClassModel(dropout=m.dropout, effects=m.effects, hazards=m.hazards)

    def with_dropping(dropping: float) -> LatentClassModel:
        shares = dict(classes.shares)
        shares["steady"] += shares["dropping"] - dropping
        shares["dropping"] = dropping
        return attrs.evolve(classes, shares=shares)

    def with_struggling(p: float) -> MarkovModel:
        return MarkovModel(struggling_to_dropout=p, effects=m.effects)

    def gap(model: LatentClassModel | MarkovModel) -> float:
        got = dropped_out(fitted, DROPOUT_FIT_SEEDS, model)
        return float(np.mean(got)) - TEDS["dropped_out"]

    dropping = optimize.brentq(lambda x: gap(with_dropping(x)), 0.05, 0.3, xtol=2e-5)
    to_dropout = optimize.brentq(lambda x: gap(with_struggling(x)), 0.02, 0.2, xtol=2e-5)
    print(f"LatentClassModel shares: dropping={dropping:.4f} (steady takes the difference)")
    print(f"MarkovModel struggling_to_dropout={to_dropout:.4f}")
    return with_dropping(round(dropping, 4)), with_struggling(round(to_dropout, 4))


def elsewhere(base: Scenario) -> None:
    for name in ("adult-day", "adolescent-afterschool"):
        program = load_program(PROGRAMS / f"{name}.toml")
        report(
            attrs.evolve(base, program=program, track=None, name=name),
            CHECK_SEEDS,
            f"{name}.toml, not refitted",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the committed defaults")
    args = parser.parse_args()
    began = time.perf_counter()
    base = Scenario(
        name="calibration",
        program=load_program(PROGRAMS / "adult-evening.toml"),
        participants=PARTICIPANTS,
    )
    others: tuple[LatentClassModel | MarkovModel, ...] = (LatentClassModel(), MarkovModel())
    if not args.check:
        base = fit_logistic(base)
        print("fitted:", describe(base))
        others = fit_others(base)
    else:
        print("committed defaults:", describe(base))
    report(base, FIT_SEEDS, "fitting seeds")
    report(base, CHECK_SEEDS, "held-out seeds", others)
    elsewhere(base)
    print(f"\n{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
