"""Deriving competency weights from employee records, the report, and writing weights into a flow."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from flows.schema import FlowError, load_flow_file, parse_flow
from knowledge.competency_model import (
    CompetencyModel,
    apply_weights_to_flow_text,
    derive_weights,
    round_weights,
)
from knowledge.ehr import EmployeeRecord, read_export, role_schemas

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "dialogues" / "flows"
KEY = b"test-key-0123456789abcdef"
HR = {"a": 0.3, "b": 0.2, "c": 0.2, "d": 0.15, "e": 0.15}


def synthetic(n: int, *, seed: int = 7, noise: float = 0.3, blank: float = 0.0) -> list[EmployeeRecord]:
    """Performance = 0.6 a + 0.4 b + noise; c, d and e are unrelated to performance."""
    rng = random.Random(seed)
    employees = []
    for i in range(n):
        ratings = {c: float(rng.randint(1, 5)) for c in HR}
        performance = 0.6 * ratings["a"] + 0.4 * ratings["b"] + rng.gauss(0, noise)
        kept = {c: r for c, r in ratings.items() if rng.random() >= blank}
        employees.append(EmployeeRecord(f"k{i}", "role", kept, performance, rng.random() < 0.2))
    return employees


def assert_sums_to_one(model: CompetencyModel) -> None:
    assert abs(math.fsum(model.weights.values()) - 1) < 1e-9
    assert list(model.weights) == list(model.hr_weights)
    assert all(w > 0 for w in model.weights.values())


def test_with_many_employees_the_drivers_get_nearly_all_the_weight() -> None:
    model = derive_weights(synthetic(2000), HR)
    assert_sums_to_one(model)
    assert model.weights["a"] + model.weights["b"] > 0.95
    assert model.weights["a"] > model.weights["b"] > 0.3
    assert model.correlations["a"].counts and model.correlations["b"].counts
    a = model.correlations["a"]
    assert a.ci_low is not None and a.r is not None and a.ci_high is not None
    assert 0 < a.ci_low < a.r < a.ci_high < 1
    assert a.p_value is not None and a.p_value < 1e-6
    assert model.n == dict.fromkeys(HR, 2000)
    assert math.fsum(model.data_weights.values()) == pytest.approx(1)


def test_with_few_employees_the_weights_stay_close_to_hr() -> None:
    n, k = 8, 30.0
    model = derive_weights(synthetic(n, noise=0.05), HR, prior_strength=k)
    assert_sums_to_one(model)
    assert model.data_weights  # the data did say something ...
    for competency, hr in HR.items():  # ... but each weight moves only n / (n + k) of the way to it
        moved = model.weights[competency] - hr
        assert moved == pytest.approx(n / (n + k) * (model.data_weights[competency] - hr))
        assert abs(moved) <= n / (n + k)
    assert "fewer than 30 employees" in " ".join(model.notes)


def test_shrinkage_follows_the_documented_rule() -> None:
    model = derive_weights(synthetic(200), HR, prior_strength=50)
    n, k = 200, 50
    expected = {c: (n * model.data_weights[c] + k * HR[c]) / (n + k) for c in HR}
    assert model.weights == pytest.approx(expected)  # all n equal: no rescaling needed


def test_prior_strength_zero_gives_the_data_weights() -> None:
    model = derive_weights(synthetic(500), HR, prior_strength=0)
    assert model.weights == pytest.approx(model.data_weights)


def test_no_data_keeps_hr_weights_with_a_note() -> None:
    model = derive_weights([], HR)
    assert model.weights == HR
    assert model.data_weights == {}
    assert model.notes == ["no employee records: HR's weights are kept unchanged"]
    assert "the data give no usable relation" in model.report()


def test_no_significant_relation_keeps_hr_weights() -> None:
    rng = random.Random(3)
    employees = [
        EmployeeRecord(f"k{i}", "role", {c: float(rng.randint(1, 5)) for c in HR}, float(rng.randint(1, 5)))
        for i in range(40)
    ]
    model = derive_weights(employees, HR, alpha=1e-6)
    assert model.weights == pytest.approx(HR)
    assert "no competency relates positively and significantly" in model.notes[0]


def test_negative_relations_count_as_zero() -> None:
    employees = [
        EmployeeRecord(f"k{i}", "role", {"a": float(1 + i % 5), "b": float(5 - i % 5)}, float(1 + i % 5))
        for i in range(100)
    ]
    model = derive_weights(employees, {"a": 0.5, "b": 0.5})
    assert model.correlations["b"].basis == "negative"
    assert model.data_weights == {"a": 1.0, "b": 0.0}
    assert model.weights["b"] == pytest.approx((100 * 0 + 30 * 0.5) / (100 + 30))


def test_missing_ratings_use_per_competency_counts() -> None:
    employees = [
        EmployeeRecord(e.key, e.role, {c: r for c, r in e.ratings.items() if c != "e"}, e.performance)
        for e in synthetic(300)
    ]
    model = derive_weights(employees, HR)
    assert model.n["e"] == 0
    assert model.correlations["e"].basis == "too few (n < 3)"
    assert "no employee has a rating for e" in " ".join(model.notes)
    assert_sums_to_one(model)
    # e keeps HR's weight before rescaling: raw_e / sum(raw) with raw_e = HR["e"]
    raw = {c: (300 * model.data_weights[c] + 30 * HR[c]) / 330 for c in HR if c != "e"} | {"e": HR["e"]}
    assert model.weights["e"] == pytest.approx(HR["e"] / math.fsum(raw.values()))


def test_constant_ratings_do_not_count_and_do_not_warn() -> None:
    employees = [
        EmployeeRecord(f"k{i}", "role", {"a": 3.0, "b": float(1 + i % 5)}, float(1 + i % 5))
        for i in range(30)
    ]
    model = derive_weights(employees, {"a": 0.5, "b": 0.5})
    assert model.correlations["a"].basis == "no variation"
    assert model.data_weights == {"a": 0.0, "b": 1.0}


def test_promotion_can_be_blended_in() -> None:
    employees = synthetic(400)
    plain = derive_weights(employees, HR)
    blended = derive_weights(employees, HR, promotion_share=0.5)
    assert_sums_to_one(blended)
    assert plain.promotion == blended.promotion
    assert "context only" in plain.report()
    assert "blended in at 50%" in blended.report()


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        derive_weights([], {"a": 0.5, "b": 0.4})
    with pytest.raises(ValueError, match="positive"):
        derive_weights([], {"a": 1.2, "b": -0.2})
    with pytest.raises(ValueError, match="one role at a time"):
        derive_weights([EmployeeRecord("x", "r1", {}, 3.0), EmployeeRecord("y", "r2", {}, 3.0)], HR)
    with pytest.raises(ValueError, match="prior_strength"):
        derive_weights([], HR, prior_strength=-1)


def test_ratings_outside_the_flow_are_noted() -> None:
    employees = [EmployeeRecord("x", "r", {"a": 3.0, "charisma": 4.0}, 3.0)]
    model = derive_weights(employees, HR)
    assert "ratings ignored for competencies not in the flow: charisma" in model.notes


def test_report_has_a_row_per_competency_and_explains_the_shrinkage() -> None:
    model = derive_weights(synthetic(80, blank=0.1), HR)
    report = model.report()
    lines = report.splitlines()
    assert lines[0] == "Competency model for role: 80 employees"
    header = next(line for line in lines if line.startswith("competency"))
    for column in ("n", "r perf", "95% CI", "p", "basis", "r promo", "data w", "HR w", "derived"):
        assert column in header
    flow = model.as_flow_weights()
    for competency in HR:
        row = next(line for line in lines if line.startswith(competency + " "))
        assert str(model.n[competency]) in row
        assert f"{model.hr_weights[competency]:.3f}" in row
        assert row.endswith(f"{flow[competency]:.3f}")
    assert "Derived = (n x data + 30 x HR) / (n + 30) per competency" in report


def test_flow_weights_are_rounded_and_sum_exactly_to_one() -> None:
    model = derive_weights(synthetic(300), HR)
    flow = model.as_flow_weights()
    assert sum(round(w * 1000) for w in flow.values()) == 1000
    assert all(round(w, 3) == w for w in flow.values())
    assert abs(sum(flow.values()) - 1) < 1e-9
    assert round_weights({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": 0.334, "b": 0.333, "c": 0.333}
    assert round_weights({"a": 0.9996, "b": 0.0004}) == {"a": 0.999, "b": 0.001}


def test_apply_weights_round_trips_a_flow() -> None:
    text = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")
    original = parse_flow(text).flow.weights
    assert apply_weights_to_flow_text(text, original) == text

    new = {
        "customer_focus": 0.245,
        "pipeline_management": 0.407,
        "negotiation": 0.233,
        "team_leadership": 0.072,
        "integrity_resilience": 0.043,
    }
    updated = apply_weights_to_flow_text(text, new)
    assert parse_flow(updated).flow.weights == new
    before, after = text.splitlines(), updated.splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 5
    assert all(b.strip().startswith("weight:") and a.strip().startswith("weight:") for b, a in changed)
    assert apply_weights_to_flow_text(updated, original) == text


def test_apply_weights_keeps_comments_and_replaces_quoted_values() -> None:
    text = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")
    text = text.replace("weight: 0.2\n", "weight: '0.2'  # agreed with the sales director\n", 1)
    weights = dict.fromkeys(parse_flow(text).flow.weights, 0.2)
    updated = apply_weights_to_flow_text(text, weights)
    assert "weight: 0.2  # agreed with the sales director\n" in updated
    assert updated.startswith("# Structured behavioural interview for the Sales Manager role.")


def test_apply_weights_refuses_weights_that_do_not_fit() -> None:
    text = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="missing: integrity_resilience; unexpected: charisma"):
        apply_weights_to_flow_text(
            text,
            {"customer_focus": 0.2, "pipeline_management": 0.2, "negotiation": 0.2, "team_leadership": 0.2,
             "charisma": 0.2},
        )  # fmt: skip
    with pytest.raises(ValueError, match="sum to"):
        apply_weights_to_flow_text(text, dict.fromkeys(parse_flow(text).flow.weights, 0.3))
    with pytest.raises(FlowError):
        apply_weights_to_flow_text("role: x\n", {"a": 1.0})


@pytest.mark.parametrize("role", ["sales_manager", "rd_engineer"])
def test_sample_employees_give_sensible_weights_that_fit_the_flow(role: str) -> None:
    flow_path = FLOWS / f"{role}.yml"
    flow = load_flow_file(flow_path).flow
    result = read_export(
        ROOT / "dialogues" / "ehr" / f"{role}_employees.csv", id_key=KEY, known=role_schemas([flow])
    )
    model = derive_weights(result.employees, flow.weights)
    assert_sums_to_one(model)
    drivers = {"sales_manager": "pipeline_management", "rd_engineer": "problem_solving"}
    weakest = {"sales_manager": "integrity_resilience", "rd_engineer": "learning_agility"}
    assert max(model.weights, key=lambda c: model.weights[c]) == drivers[role]
    assert model.weights[drivers[role]] > flow.weights[drivers[role]]
    assert model.weights[weakest[role]] < flow.weights[weakest[role]]
    updated = apply_weights_to_flow_text(flow_path.read_text(encoding="utf-8"), model.as_flow_weights())
    assert parse_flow(updated).flow.weights == model.as_flow_weights()
