"""Random screening: reproducible for auditors, unpredictable and fair for participants."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore import Program, ValidationError, expand, load_program
from iopcore.core.policies import Period
from iopcore.core.screening import (
    FORTNIGHT_EPOCH,
    ScreeningDraw,
    Secret,
    draw,
    draw_per_day,
    orders_for,
    periods,
    screening_draws,
    verify_draw,
)

SECRET = Secret(b"synthetic-test-secret-0123456789")
EVENING = load_program("examples/programs/adult-evening.toml")  # 2/week, attendance days
DAY = load_program("examples/programs/adult-day.toml")  # 2/week then 1/week, any day
START = date(2027, 8, 2)  # no closures in the first 12 weeks after this Monday but Labor Day


def _an_id(text: str) -> bool:
    """Ids never start with a character a spreadsheet reads as a formula."""
    return not text.startswith("-")


def _draws(program_name: str, n: int, secret: Secret = SECRET) -> list[ScreeningDraw]:
    program = EVENING if program_name == "evening" else DAY
    sessions = expand(program, program_name, start=START, weeks=12)
    out: list[ScreeningDraw] = []
    for i in range(n):
        out += screening_draws(secret, f"P-{i:05d}", program, sessions, through=date(2028, 1, 1))
    return out


def test_secret_is_checked_and_never_shown() -> None:
    with pytest.raises(ValidationError, match="at least 16 random bytes"):
        Secret(b"short")
    assert "synthetic" not in repr(SECRET)


EVENING_SESSIONS = expand(EVENING, "evening", start=START, weeks=12)


def _verify(secret: Secret, d: ScreeningDraw) -> bool:
    return verify_draw(secret, d, program=EVENING, occurrences=EVENING_SESSIONS)


def test_draws_are_reproducible_and_verifiable() -> None:
    first = _draws("evening", 20)
    assert first == _draws("evening", 20)
    assert all(_verify(SECRET, d) for d in first)
    stranger = Secret(b"another-secret-entirely-0000000")
    other = _draws("evening", 20, stranger)
    assert [d.selected for d in first] != [d.selected for d in other]
    contested = [d for d in first if len(d.eligible) > d.count]
    assert sum(not _verify(stranger, d) for d in contested) > len(contested) / 2


def test_a_tampered_draw_fails_verification() -> None:
    recorded = next(d for d in _draws("evening", 5) if len(d.eligible) > d.count)
    unpicked = next(day for day in recorded.eligible if day not in recorded.selected)
    forged = ScreeningDraw(
        participant_id=recorded.participant_id,
        period_start=recorded.period_start,
        period_end=recorded.period_end,
        count=recorded.count,
        eligible=recorded.eligible,
        selected=tuple(sorted((*recorded.selected[1:], unpicked))),
    )
    assert not _verify(SECRET, forged)
    # the count and the eligible days are re-derived too, never trusted from the record
    assert not _verify(SECRET, attrs.evolve(recorded, count=0, selected=()))
    fewer = tuple(d for d in recorded.eligible if d not in recorded.selected[:1])
    assert not _verify(
        SECRET, attrs.evolve(recorded, eligible=fewer, selected=recorded.selected[1:])
    )
    assert _verify(SECRET, recorded)


def test_the_configured_rate_holds_every_full_week_and_on_average_in_short_ones() -> None:
    draws = _draws("evening", 600)
    short: list[tuple[float, int]] = []
    for d in draws:
        assert len(d.selected) == d.count <= len(d.eligible)
        assert set(d.selected) <= set(d.eligible)
        assert all(day.weekday() in (0, 1, 2, 3) for day in d.eligible)  # Mon/Tue/(Wed)/Thu
        if len(d.eligible) == 3:
            assert d.count == d.policy_count == 2  # a full week: exactly the configured rate
        else:  # a short week (a closure): the rate scaled to its share, rounded either way
            expected = 2 * len(d.eligible) / 3
            assert d.count in (int(expected), int(expected) + 1)
            short.append((expected, d.count))
    mean_expected = sum(e for e, _ in short) / len(short)
    mean_drawn = sum(c for _, c in short) / len(short)
    assert abs(mean_drawn - mean_expected) < 4 * (0.25 / len(short)) ** 0.5
    # and a short week is not predictable: some pick every eligible day, some do not
    assert {c == len(d.eligible) for d in draws if len(d.eligible) == 2 for c in [d.count]} == {
        True,
        False,
    }


def test_phase_policies_change_the_rate() -> None:
    sessions = expand(DAY, "day", start=START, weeks=12)
    draws = screening_draws(SECRET, "P-1", DAY, sessions, through=date(2028, 1, 1))
    intensive_end = START + timedelta(weeks=4)
    assert {d.policy_count for d in draws if d.period_start < intensive_end} == {2}
    assert {d.policy_count for d in draws if d.period_start >= intensive_end} == {1}


def _chi_square(counts: Counter[int], expected: dict[int, float]) -> float:
    return sum((counts[k] - e) ** 2 / e for k, e in expected.items())


def test_attendance_days_are_equally_likely() -> None:
    """Mon, Tue and Thu each carry 2/3 of selections in full weeks (chi-square, p = 0.001)."""
    full = [d for d in _draws("evening", 1500) if len(d.eligible) == 3]
    counts = Counter(day.weekday() for d in full for day in d.selected)
    total = sum(counts.values())
    expected = dict.fromkeys((0, 1, 3), total / 3)
    assert _chi_square(counts, expected) < 13.82  # df = 2


def test_any_day_policy_spreads_over_all_weekdays_including_weekends() -> None:
    full = [d for d in _draws("day", 600) if len(d.eligible) == 7]
    counts = Counter(day.weekday() for d in full for day in d.selected)
    total = sum(counts.values())
    assert counts[5] > 0
    assert counts[6] > 0
    assert _chi_square(counts, dict.fromkeys(range(7), total / 7)) < 22.46  # df = 6


def test_past_selections_do_not_predict_the_next() -> None:
    """P(selected next week on weekday w | selected on w this week) = P(selected on w)."""
    by_participant: dict[str, list[ScreeningDraw]] = {}
    for d in _draws("evening", 1500):
        if len(d.eligible) == 3:
            by_participant.setdefault(d.participant_id, []).append(d)
    pairs = same = 0
    base_hits = base_total = 0
    for draws in by_participant.values():
        for this, following in itertools.pairwise(draws):
            if (following.period_start - this.period_start).days != 7:
                continue
            picked = {day.weekday() for day in this.selected}
            for day in following.eligible:
                chosen = day in following.selected
                base_total += 1
                base_hits += chosen
                if day.weekday() in picked:
                    pairs += 1
                    same += chosen
    conditional, base = same / pairs, base_hits / base_total
    standard_error = (base * (1 - base) / pairs) ** 0.5
    assert abs(conditional - base) < 4 * standard_error


@given(
    st.sets(st.dates(date(2027, 1, 4), date(2027, 1, 10)), max_size=7),
    st.integers(1, 7),
    st.text(alphabet="ABCDEF0123456789-", min_size=1, max_size=12).filter(_an_id),
)
def test_draw_selects_min_k_of_the_eligible_days(
    eligible: set[date], count: int, participant: str
) -> None:
    result = draw(SECRET, participant, (date(2027, 1, 4), date(2027, 1, 10)), eligible, count)
    assert result.selected == tuple(sorted(result.selected))
    assert set(result.selected) <= eligible
    assert len(result.selected) == min(count, len(eligible))
    # a day's chance depends only on its own keyed score: removing an unpicked day changes nothing
    for day in eligible - set(result.selected):
        again = draw(
            SECRET, participant, (date(2027, 1, 4), date(2027, 1, 10)), eligible - {day}, count
        )
        assert again.selected == result.selected


@pytest.mark.parametrize(
    ("period", "first", "last", "expected"),
    [
        (
            Period.WEEK,
            date(2027, 1, 6),
            date(2027, 1, 12),
            [(date(2027, 1, 4), date(2027, 1, 10)), (date(2027, 1, 11), date(2027, 1, 17))],
        ),
        (
            Period.MONTH,
            date(2027, 1, 30),
            date(2027, 2, 2),
            [(date(2027, 1, 1), date(2027, 1, 31)), (date(2027, 2, 1), date(2027, 2, 28))],
        ),
    ],
)
def test_periods_are_calendar_periods(
    period: Period, first: date, last: date, expected: list[tuple[date, date]]
) -> None:
    assert list(periods(first, last, period)) == expected


def test_fortnights_are_counted_from_a_fixed_monday() -> None:
    spans = list(periods(date(2027, 1, 1), date(2027, 3, 1), Period.FORTNIGHT))
    assert all((end - start).days == 13 for start, end in spans)
    assert all((start - FORTNIGHT_EPOCH).days % 14 == 0 for start, _ in spans)
    assert spans[0][0] <= date(2027, 1, 1) <= spans[0][1]


def test_orders_follow_the_draws() -> None:
    draws = _draws("evening", 2)
    orders = orders_for(draws)
    assert [o.ordered_for for o in orders] == [day for d in draws for day in d.selected]
    assert len({o.id for o in orders}) == len(orders)


# -- random screening unpredictable to the end of the period ----------------------------------

PER_DAY = attrs.evolve(
    EVENING, screening=[attrs.evolve(p, design="per-day") for p in EVENING.screening]
)


def _after_the_quota(program: Program, n: int) -> tuple[float, float, float]:
    """Over weeks of 3+ eligible days: the share of eligible days that come after the week's
    quota (the policy's count) of screens has happened, how often such a day is still
    selected, and the share of all eligible days selected."""
    sessions = expand(program, "evening", start=START, weeks=12)
    after = after_picked = days = picked = 0
    for i in range(n):
        for d in screening_draws(SECRET, f"P-{i:05d}", program, sessions, through=date(2028, 1, 1)):
            if len(d.eligible) < 3:
                continue
            days += len(d.eligible)
            picked += len(d.selected)
            for day in d.eligible:
                if sum(1 for s in d.selected if s < day) >= d.policy_count:
                    after += 1
                    after_picked += day in d.selected
    return after / days, after_picked / max(after, 1), picked / days


def test_per_day_draws_leave_no_day_known_screen_free_and_keep_the_rate() -> None:
    fixed_after, fixed_then, fixed_rate = _after_the_quota(EVENING, 200)
    per_day_after, per_day_then, per_day_rate = _after_the_quota(PER_DAY, 200)
    # fixed count: once the quota is reached the rest of the week is known screen-free
    # (2 of 3 attendance days: 1 eligible day in 9)
    assert fixed_after > 0.08
    assert fixed_then == 0.0
    # per day: a day after the quota is still drawn at the usual chance (2 in 3)
    assert per_day_after > 0.08
    assert abs(per_day_then - 2 / 3) < 0.08
    assert abs(per_day_rate - fixed_rate) < 0.05  # the same expected rate


@given(
    st.text(alphabet="ABCDEF0123456789-", min_size=1, max_size=12).filter(_an_id),
    st.integers(0, 11),
)
def test_a_per_day_draw_is_independent_per_day_and_verifies(participant: str, week: int) -> None:
    draws = screening_draws(
        SECRET, participant, PER_DAY, EVENING_SESSIONS, through=date(2028, 1, 1)
    )
    d = draws[min(week, len(draws) - 1)]
    assert d.count == len(d.selected)
    assert set(d.selected) <= set(d.eligible)
    # a day is selected on its own keyed number: removing other days changes nothing for it
    for day in d.eligible:
        alone = draw_per_day(SECRET, participant, (day, day), [day], 2 / 3)
        assert (day in d.selected) == bool(alone.selected)
    assert verify_draw(SECRET, d, program=PER_DAY, occurrences=EVENING_SESSIONS)
    assert (
        not verify_draw(
            SECRET,
            attrs.evolve(d, count=0, selected=()),
            program=PER_DAY,
            occurrences=EVENING_SESSIONS,
        )
        or not d.selected
    )
