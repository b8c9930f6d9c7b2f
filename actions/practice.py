"""Practice sessions: feedback after each answer, retries, the session's summary and progress.

How a retry works (the candidate is told the same in the responses ``retry_hint`` and
``retry_start``):

* After every practice answer the feedback comes with a "Try again" button (``/retry``), and the
  session moves on as usual: a follow-up, or the next question. Answering what comes next simply
  continues; nothing waits for a choice.
* ``/retry`` (or "let me try that again") goes back to the question answered last, whether the
  session has already moved on to the next question or ended with it, and asks it again as a new
  attempt (``Answer.attempt`` 2, 3 ...; every attempt is kept). The next answer is that attempt:
  it is scored, its feedback is shown with what changed since the previous attempt, and the
  session continues with the question that comes after the retried one (or ends, after the last).
  A retry is one answer: no follow-up probes. ``/skip`` during a retry keeps the earlier attempt.
* Results per competency, the summary and progress use each question's latest attempt.
* In a real interview every answer counts once: ``/retry`` is refused, politely.

Actions here never touch the store: the engine puts what they need into slots (``retry``,
``previous_feedback``, ``question_levels``, ``practice_progress``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actions.base import Action, Button, Dispatcher, Domain, Tracker, followup, slot_set
from actions.events import Event
from flows.schema import Flow, Language
from scoring.feedback import AnswerFeedback, compare, one_line, render, render_comparison


def _pick(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language) or next(iter(texts.values()), "")


def _flow_language(tracker: Tracker, flow: Flow) -> str:
    language = tracker.get_slot("interview_language")
    return str(language) if language in flow.languages else flow.languages[0]


def retry_button(dispatcher: Dispatcher) -> Button:
    return Button(dispatcher.render("button_retry"), "/retry")


# --- feedback after each answer -------------------------------------------------------------------


def with_feedback(result: dict[str, Any], feedback: AnswerFeedback) -> dict[str, Any]:
    """The score result with the feedback shown kept in its evidence, for a later retry to be
    compared with (across messages and restarts)."""
    return {**result, "evidence": {**(result.get("evidence") or {}), "feedback": feedback.to_dict()}}


def say_feedback(
    dispatcher: Dispatcher, tracker: Tracker, feedback: AnswerFeedback, language: Language
) -> None:
    """The feedback on a practice answer, what changed since the previous attempt when this is a
    retry, and the offer to try again."""
    text = render(feedback, language)
    previous = tracker.get_slot("previous_feedback")
    if previous and int(tracker.get_slot("attempt") or 1) > 1:
        before = AnswerFeedback.from_dict(previous)
        # Two languages' lengths and filler rates are counted in different units: no comparison.
        if before.question_id == feedback.question_id and before.language == feedback.language:
            comparison = render_comparison(compare(before, feedback), language)
            text += "\n" + dispatcher.render("retry_comparison") + "\n" + comparison
    number = int(tracker.get_slot("question_index") or 0) + 1
    dispatcher.utter_message(text, response="retry_hint", n=number, buttons=[retry_button(dispatcher)])


# --- retry --------------------------------------------------------------------------------------


class ActionRetryQuestion(Action):
    """Ask the practice question answered last again, as a new attempt (see the module docstring)."""

    def name(self) -> str:
        return "action_retry_question"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        state = tracker.get_slot("state")
        mode = tracker.get_slot("mode")
        target = tracker.get_slot("retry")
        if mode == "interview" and state in {"consent", "question", "done"}:
            dispatcher.utter_message(response="retry_practice_only", role=tracker.get_slot("role"))
            return [followup("action_back_to_question")]
        if mode != "practice" or state not in {"question", "done"} or not target or domain.flow is None:
            dispatcher.utter_message(response="nothing_to_retry")
            return [followup("action_back_to_question")]
        index = int(target["question_index"])
        attempt = int(target["attempt"]) + 1
        dispatcher.utter_message(response="retry_start", n=index + 1)
        return [
            slot_set("state", "question"),
            slot_set("question_index", index),
            slot_set("follow_up_index", None),
            slot_set("answers", []),
            slot_set("insufficient", False),
            slot_set("attempt", attempt),
            followup("action_ask_question"),
        ]


# --- the end of a session -------------------------------------------------------------------------


def say_practice_summary(dispatcher: Dispatcher, tracker: Tracker, flow: Flow) -> None:
    """The strongest and the weakest answer of the session (latest attempts), by question and
    level. Only the candidate's questions are named; no exemplar is ever quoted."""
    positions = {q.id: i for i, q in enumerate(flow.questions)}
    scored = sorted(
        (positions[item["question_id"]], int(item["level"]))
        for item in tracker.get_slot("question_levels") or []
        if item.get("question_id") in positions and item.get("level") is not None
    )
    if not scored:
        return
    language = _flow_language(tracker, flow)

    def question(index: int) -> str:
        return one_line(_pick(flow.questions[index].text, language), language, 80 if language == "en" else 30)

    strongest = max(scored, key=lambda item: (item[1], -item[0]))
    weakest = min(scored, key=lambda item: (item[1], item[0]))
    if strongest[1] == weakest[1]:
        dispatcher.utter_message(response="practice_all_level", level=strongest[1], count=len(scored))
        return
    lines = [
        dispatcher.render(
            "practice_strongest", n=strongest[0] + 1, question=question(strongest[0]), level=strongest[1]
        ),
        dispatcher.render(
            "practice_weakest", n=weakest[0] + 1, question=question(weakest[0]), level=weakest[1]
        ),
    ]
    dispatcher.utter_message("\n".join(lines))


def practice_done_buttons(dispatcher: Dispatcher) -> list[Button]:
    return [retry_button(dispatcher), Button(dispatcher.render("button_progress"), "/progress")]


# --- progress across sessions ---------------------------------------------------------------------


def _series_line(dispatcher: Dispatcher, key: str, name: str, series: Sequence[float]) -> str:
    levels = " → ".join(f"{value:.1f}" for value in series)
    change = round(series[-1] - series[0], 1) if len(series) > 1 else 0.0
    suffix = "_up" if change > 0 else "_down" if change < 0 else ""
    return dispatcher.render(f"{key}{suffix}", competency=name, levels=levels, change=f"{abs(change):.1f}")


def progress_text(dispatcher: Dispatcher, progress: Mapping[str, Any]) -> str | None:
    """Levels per competency over the candidate's practice sessions, per role; None without any."""
    roles = progress.get("roles") or []
    if not roles:
        return None
    language = dispatcher.language
    lines = [dispatcher.render("progress_header")]
    for role in roles:
        sessions = role["sessions"]
        lines.append(
            dispatcher.render(
                "progress_role",
                title=_pick(role["title"], language),
                sessions=len(sessions),
                date=sessions[-1]["date"],
            )
        )
        for competency in role["competencies"]:
            series = [s["levels"][competency["id"]] for s in sessions if competency["id"] in s["levels"]]
            lines.append(
                _series_line(dispatcher, "progress_line", _pick(competency["name"], language), series)
            )
        overall = [s["overall"] for s in sessions if s.get("overall") is not None]
        if overall:
            lines.append(
                _series_line(dispatcher, "progress_line", dispatcher.render("progress_overall"), overall)
            )
    return "\n".join(lines)


class ActionShowProgress(Action):
    """The candidate's progress across practice sessions (real interviews are never included)."""

    def name(self) -> str:
        return "action_show_progress"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        text = progress_text(dispatcher, tracker.get_slot("practice_progress") or {})
        if text is None:
            dispatcher.utter_message(response="progress_none")
        else:
            dispatcher.utter_message(text)
        return [followup("action_back_to_question")]


def practice_actions() -> list[Action]:
    return [ActionRetryQuestion(), ActionShowProgress()]
