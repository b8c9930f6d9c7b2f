"""Shared scoring fixtures: the real MiniLM model and a small hand-made teamwork question."""

from __future__ import annotations

from pathlib import Path

import pytest

from language.embeddings import Embedder, load_embedder
from scoring.records import Exemplar, RubricQuestion
from scoring.scorer import Scorer

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "scoring"

CONFLICT = RubricQuestion(
    id="conflict",
    competency="teamwork",
    text="Tell me about a time you resolved a conflict within your team.",
    anchors={
        1: "Blames others, gives no concrete example and no resolution.",
        2: "A vague example with little ownership of the outcome.",
        3: "A concrete example with some actions the candidate took.",
        4: "A clear situation, the candidate's own actions and a positive result.",
        5: "A clear situation, specific actions, listening to both sides, a measurable result and "
        "lessons learned.",
    },
    talking_points=["listened to both sides", "agreed a compromise", "the result for the project"],
    reference_answers=[
        "Two engineers disagreed about a design. I met each of them, listened to both sides, we agreed a "
        "compromise and shipped on time; since then we review designs together."
    ],
)
DEADLINE = RubricQuestion(
    id="deadline",
    competency="teamwork",
    text="Describe how you handled a tight deadline together with your team.",
    anchors={1: "No plan, works alone.", 5: "Prioritised, delegated, communicated early and delivered."},
)
PYTHON = RubricQuestion(
    id="python",
    competency="skills",
    text="How do you make sure your Python code is correct?",
    anchors={1: "Does not test.", 5: "Writes unit tests, uses type checking and code review."},
)

STRONG = [
    "I set up a meeting where both colleagues explained their views, I listened to both sides, "
    "and we agreed a compromise that let us ship on time.",
    "When two teammates argued over priorities I talked with each of them, wrote down their concerns "
    "and proposed a plan that combined both; the release went out a week early.",
    "Our designer and developer disagreed, so I organised a session, we listed the trade-offs, chose a "
    "compromise and I followed up weekly. Conflicts dropped afterwards.",
    "I mediated between two analysts by hearing both sides, finding common goals and agreeing clear "
    "responsibilities; the project finished on schedule.",
    "Two testers blamed each other for a missed bug. I listened to both, we agreed a shared checklist "
    "and the escaped bugs halved the next quarter.",
    "I noticed tension between the backend and frontend leads, talked to each, and we agreed an API "
    "contract together, which ended the arguments and sped up delivery.",
]
WEAK = [
    "I don't really have conflicts, people just do what I tell them.",
    "It was their fault, I told the manager and he dealt with it.",
    "I avoid conflict, I just keep working on my own tasks.",
    "Not sure, I never had that kind of situation at work.",
    "I got angry and left the meeting, they sorted it out later somehow.",
    "Conflicts are a waste of time, I ignore them and hope they go away.",
]
DEADLINES = [
    ("We prioritised the must-haves, split the tasks and delivered on time.", 5),
    ("I just worked overnight alone and hoped for the best.", 2),
    ("We missed it because nobody planned anything.", 1),
    ("I made a plan with the team, we cut scope and informed the client early.", 5),
    ("I told everyone to work harder and it was late anyway.", 1),
    ("We split the work into daily goals and I checked progress every morning.", 4),
]


def teamwork_exemplars() -> list[Exemplar]:
    exemplars = [Exemplar(f"s{i}", "conflict", "teamwork", t, 5 - (i % 2)) for i, t in enumerate(STRONG)]
    exemplars += [Exemplar(f"w{i}", "conflict", "teamwork", t, 1 + (i % 2)) for i, t in enumerate(WEAK)]
    exemplars += [Exemplar(f"d{i}", "deadline", "teamwork", t, r) for i, (t, r) in enumerate(DEADLINES)]
    return exemplars


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    return load_embedder("minilm")


@pytest.fixture(scope="module")
def scorer(minilm: Embedder) -> Scorer:
    return Scorer(minilm, [CONFLICT, DEADLINE, PYTHON], teamwork_exemplars())
