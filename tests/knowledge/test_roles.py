"""The role catalog and recommendations from constructed competency profiles."""

from __future__ import annotations

import pytest

from bot.settings import ROOT
from knowledge.roles import Catalog, load_catalog, recommend


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    loaded, problems = load_catalog(ROOT / "dialogues" / "roles.yml")
    assert problems == [] and loaded is not None
    return loaded


def test_catalog_has_six_open_roles_with_both_languages(catalog: Catalog) -> None:
    assert len([r for r in catalog.roles if r.open]) >= 6
    assert all(set(r.title) == {"en", "zh"} and set(r.description) == {"en", "zh"} for r in catalog.roles)


def test_customer_minded_seller_is_pointed_to_customer_success(catalog: Catalog) -> None:
    scores = {
        "customer_focus": 4.8,
        "integrity_resilience": 4.2,
        "pipeline_management": 2.6,
        "negotiation": 3.0,
        "team_leadership": 3.4,
    }
    (top, *_) = recommend(catalog, scores, exclude=["sales_manager"])
    assert top.role == "customer_success_lead"
    assert top.competency == "customer_focus" and top.role_top and top.score == 4.8


def test_strong_closer_is_pointed_to_account_executive(catalog: Catalog) -> None:
    scores = {"customer_focus": 3.6, "pipeline_management": 4.6, "negotiation": 4.5, "team_leadership": 2.2}
    found = recommend(catalog, scores, exclude=["sales_manager"])
    assert found[0].role == "account_executive" and found[0].competency == "pipeline_management"


def test_reliability_minded_engineer_is_pointed_to_sre(catalog: Catalog) -> None:
    scores = {
        "technical_depth": 4.0,
        "problem_solving": 4.7,
        "engineering_quality": 4.8,
        "collaboration": 2.5,
        "learning_agility": 3.5,
    }
    found = recommend(catalog, scores, exclude=["rd_engineer"])
    assert found[0].role == "site_reliability_engineer"
    assert "engineering_team_lead" not in [f.role for f in found]  # leadership was never assessed


def test_thin_or_weak_evidence_recommends_nothing(catalog: Catalog) -> None:
    assert recommend(catalog, {}) == []
    assert recommend(catalog, {"customer_focus": 5.0}) == []  # one competency is not enough
    weak = dict.fromkeys(("customer_focus", "pipeline_management", "negotiation", "team_leadership"), 1.5)
    assert recommend(catalog, weak) == []


def test_at_most_three_and_never_the_current_role(catalog: Catalog) -> None:
    everything = dict.fromkeys(catalog.competencies, 5.0)
    found = recommend(catalog, everything, exclude=["sales_manager"])
    assert len(found) == 3 and "sales_manager" not in [f.role for f in found]
