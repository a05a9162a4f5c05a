"""Hypothesis strategies for programs, shared by the property tests."""

from __future__ import annotations

from datetime import date, time

from hypothesis import strategies as st

from iopcore import Closure, Phase, Program, SessionKind, SessionType, Slot, Track
from iopcore.core.policies import MeasureSchedule, ScreeningPolicy

#: Zones in both hemispheres, with and without DST, with transitions at 00:00, 01:00, 02:00.
ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Santiago",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Africa/Johannesburg",
    "UTC",
]

SESSION_TYPES = (
    SessionType(name="group", kind=SessionKind.GROUP, minutes=60),
    SessionType(name="individual", kind=SessionKind.INDIVIDUAL, minutes=45),
    SessionType(name="check-in", kind=SessionKind.CHECK_IN, minutes=15),
)


@st.composite
def slots(draw: st.DrawFn) -> tuple[Slot, ...]:
    """Non-overlapping slots: at most one per (weekday, hour), each at most 59 minutes."""
    cells = draw(st.sets(st.tuples(st.integers(0, 6), st.integers(0, 23)), min_size=1, max_size=10))
    out = []
    for day, hour in sorted(cells):
        minute = draw(st.sampled_from([0, 15, 30]))
        length = draw(st.integers(1, 60 - minute - 1 if minute else 59))
        out.append(
            Slot(
                day=day,
                start=time(hour, minute),
                session_type=draw(st.sampled_from([t.name for t in SESSION_TYPES])),
                minutes=length,
            )
        )
    return tuple(out)


@st.composite
def programs(draw: st.DrawFn, *, phases: int = 1) -> Program:
    """A one-track program in a random zone with random closures (2019-2031)."""
    track_phases = tuple(
        Phase(name=f"p{i}", slots=draw(slots()), min_weeks=draw(st.integers(1, 6)))
        for i in range(phases)
    )
    closures = draw(st.sets(st.dates(date(2019, 1, 1), date(2031, 12, 31)), max_size=20))
    measures = draw(
        st.lists(
            st.builds(
                MeasureSchedule,
                kind=st.sampled_from(["check-in", "assessment"]),
                instrument=st.sampled_from(["PHQ-9", "BAM", "check-in"]),
                every_weeks=st.none() | st.integers(1, 8),
                alert_at=st.none() | st.integers(0, 27).map(float),
            ),
            max_size=2,
        )
    )
    screening = draw(
        st.lists(
            st.builds(
                ScreeningPolicy,
                count=st.integers(1, 3),
                period=st.just("week"),
                days=st.sampled_from(["attendance", "any"]),
                phases=st.lists(st.sampled_from([p.name for p in track_phases]), max_size=1),
            ),
            max_size=2,
        )
    )
    return Program(
        measures=tuple(measures),
        screening=tuple(screening),
        name="prop",
        session_types=SESSION_TYPES,
        closures=tuple(Closure(date=d, reason="holiday") for d in sorted(closures)),
        tracks=(Track(name="t", time_zone=draw(st.sampled_from(ZONES)), phases=track_phases),),
    )


start_dates = st.dates(date(2020, 1, 1), date(2030, 12, 31))
