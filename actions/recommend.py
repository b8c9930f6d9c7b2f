"""Other roles recommended after an interview or a practice session, and applying for one.

Events: `RolesRecommended` (role ids; audited, so what was recommended can be explained later)
and `Applied` (stored once per candidate and role).
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata

from actions.base import Action, Button, Dispatcher, Domain, Tracker
from actions.events import Applied, Event, RolesRecommended
from knowledge.roles import Catalog, CatalogRole, Recommendation, recommend


def _language(tracker: Tracker, dispatcher: Dispatcher) -> str:
    return str(tracker.get_slot("interview_language") or dispatcher.language)


class ActionRecommendRoles(Action):
    """Up to three other open roles that fit the candidate's competency scores, each with the one
    reason behind it; nothing when the evidence is too thin (see `knowledge.roles`)."""

    def name(self) -> str:
        return "action_recommend_roles"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if domain.catalog is None:
            return []
        results = tracker.get_slot("results") or {}
        scores = {
            competency: float(value["level"])
            for competency, value in (results.get("competencies") or {}).items()
            if value.get("level") is not None
        }
        language = _language(tracker, dispatcher)
        # off the event loop: the content match fits a TF-IDF over the candidate's answers
        found = await asyncio.to_thread(
            functools.partial(
                recommend,
                domain.catalog,
                scores,
                exclude=[str(tracker.get_slot("role") or "")],
                answers=str(tracker.get_slot("answer_texts") or ""),
                language=language,
            )
        )
        if not found:
            return []
        show_scores = tracker.get_slot("mode") == "practice" or bool(
            domain.flow and domain.flow.show_feedback
        )
        lines = [dispatcher.render("recommend_intro")]
        buttons = []
        for item in found:
            lines.append("• " + reason(dispatcher, domain.catalog, item, language, show_scores=show_scores))
            buttons.append(Button(dispatcher.render("button_apply", title=item.title), f"/apply {item.role}"))
        lines.append(dispatcher.render("recommend_apply_hint"))
        dispatcher.utter_message("\n".join(lines), buttons=buttons)
        return [RolesRecommended(tuple(item.role for item in found))]


def reason(
    dispatcher: Dispatcher, catalog: Catalog, item: Recommendation, language: str, *, show_scores: bool
) -> str:
    """The line a candidate reads: the role, and the true reason it was recommended."""
    competency = catalog.competency_name(item.competency, language)
    if language == "en":  # mid-sentence: "your customer focus answers"
        competency = competency[:1].lower() + competency[1:]
    key = "recommend_reason_top" if item.role_top else "recommend_reason"
    if not show_scores:
        key += "_no_score"
    return dispatcher.render(key, title=item.title, competency=competency, score=f"{item.score:.1f}")


class ActionApply(Action):
    """``/apply ROLE`` or "I'd like to apply for the customer success role": one application per
    candidate and role, then the offer to start that role's interview now or later."""

    def name(self) -> str:
        return "action_apply"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if domain.catalog is None:
            dispatcher.utter_message(response="apply_unknown_role", roles="")
            return []
        language = _language(tracker, dispatcher)
        role = find_catalog_role(domain.catalog, tracker.text, tracker.latest_message.get("entities", []))
        open_roles = [r for r in domain.catalog.roles if r.open]
        if role is None or not role.open:
            titles = ", ".join(r.text(r.title, language) for r in open_roles)
            buttons = [Button(r.text(r.title, language), f"/apply {r.id}") for r in open_roles]
            dispatcher.utter_message(response="apply_unknown_role", roles=titles, buttons=buttons[:8])
            return []
        title = role.text(role.title, language)
        events: list[Event] = [Applied(role.id, title)]
        published = {r.role for r in domain.roles}
        in_interview = tracker.get_slot("state") in {"consent", "question", "paused"}
        if role.id in published and not in_interview:
            dispatcher.utter_message(
                response="applied_start_now",
                title=title,
                role=role.id,
                buttons=[Button(dispatcher.render("button_start_now"), f"/interview {role.id}")],
            )
        elif role.id in published:
            dispatcher.utter_message(response="applied_after_this", title=title, role=role.id)
        else:
            dispatcher.utter_message(response="applied_hr_will_contact", title=title)
        return events


_NON_WORD = re.compile(r"[\W_]+")


def _normalise(text: str) -> str:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def find_catalog_role(catalog: Catalog, text: str, entities: list[dict[str, object]]) -> CatalogRole | None:
    """The role named by a ``role`` entity, ``/apply ROLE``, or a title in the candidate's words."""
    named = next((str(e["value"]) for e in entities if e.get("entity") == "role"), None)
    words = text.split()
    if named is None and words and words[0].lower() == "/apply" and len(words) > 1:
        named = words[1]
    if named is not None:
        return catalog.role(named.lower())
    said = _normalise(text)
    best = None
    best_length = 0
    for role in catalog.roles:
        for title in role.title.values():
            core = _normalise(re.sub(r"[（(].*?[)）]", "", title))
            if core and core in said and len(core) > best_length:
                best, best_length = role, len(core)
        spaced = role.id.replace("_", " ")
        if spaced in said and len(spaced) > best_length:
            best, best_length = role, len(spaced)
    return best
