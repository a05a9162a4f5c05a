from __future__ import annotations

import pytest

from iopcore import LevelOfCare, Population, RuleSet, intensity_rules
from iopcore.core.care import H0015_RULE, MEDICARE_IOP_RULE, asam_rule


@pytest.mark.parametrize(
    ("level", "population", "minimum", "below"),
    [
        (LevelOfCare.OUTPATIENT, Population.ADULT, None, 9.0),
        (LevelOfCare.OUTPATIENT, Population.ADOLESCENT, None, 6.0),
        (LevelOfCare.IOP, Population.ADULT, 9.0, 20.0),
        (LevelOfCare.IOP, Population.ADOLESCENT, 6.0, 20.0),
        (LevelOfCare.PARTIAL_HOSPITALIZATION, Population.ADULT, 20.0, None),
        (LevelOfCare.PARTIAL_HOSPITALIZATION, Population.ADOLESCENT, 20.0, None),
    ],
)
def test_asam_weekly_hours_match_domain_md(
    level: LevelOfCare, population: Population, minimum: float | None, below: float | None
) -> None:
    rule = asam_rule(level, population)
    assert (rule.min_hours_week, rule.below_hours_week) == (minimum, below)
    assert rule.name == f"ASAM {level.value} {population.value}"


def test_billing_rule_sets() -> None:
    assert (H0015_RULE.min_hours_day, H0015_RULE.min_days_week) == (3.0, 3)
    assert MEDICARE_IOP_RULE.min_hours_week == 9.0
    assert H0015_RULE.describe() == ">= 3 h/day on >= 3 days/week"


def test_rules_follow_the_selected_rule_sets_in_order() -> None:
    rules = intensity_rules(
        LevelOfCare.IOP, Population.ADULT, [RuleSet.MEDICARE_IOP, RuleSet.ASAM, RuleSet.H0015]
    )
    assert [r.rule_set for r in rules] == [RuleSet.MEDICARE_IOP, RuleSet.ASAM, RuleSet.H0015]
    assert intensity_rules(LevelOfCare.IOP, Population.ADULT, []) == ()


def test_level_labels() -> None:
    assert LevelOfCare("2.1").label == "intensive outpatient"
    assert LevelOfCare("2.5").label == "partial hospitalization"
