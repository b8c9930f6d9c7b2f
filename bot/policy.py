"""The dialogue policy: which actions answer a message, given the interview's state.

Rules, not a learned policy: an interviewer must behave predictably and explainably. States:
``idle`` (no interview), ``consent``, ``question``, ``paused``, ``done``, ``withdrawn``, ``declined``.

What a message is, is decided in context: the classifier's intent, the message's wording
(`language.forms`), its closeness to the FAQ's questions, and the question the candidate is being
asked (is it a yes/no question? which words is it about?). Every rule that changes the classifier's
reading adds its reason to ``parse.reasons``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.campaigns.optout import is_stop
from bot.nlu import Parse
from flows.schema import Flow
from language.forms import (
    SUBSTANTIAL_WORDS,
    MessageForm,
    is_yes_no_question,
    message_form,
    names_the_question,
    shared_terms,
)

IN_INTERVIEW = frozenset({"consent", "question", "paused"})


@dataclass
class Decision:
    actions: list[str]
    entities: list[dict[str, Any]] = field(default_factory=list)
    confirmed_answer: bool = False
    """The candidate confirmed that an earlier message is their answer."""
    earlier_question: bool = False
    """The candidate said an earlier message was a question for us: the actions answer that one."""


@dataclass(frozen=True)
class PendingQuestion:
    """What the candidate is being asked right now (the question or its follow-up)."""

    text: str
    yes_no: bool = False
    """A yes/no question: a short "yep" or "没有过" answers it."""
    about: str = ""
    """The question's words and its talking points, clarification and glossary terms: what a
    question about the question shares words with."""


def pending_question(flow: Flow, index: int, follow_up: int | None, language: str) -> PendingQuestion | None:
    """The question (or follow-up) at ``index`` as the policy sees it, in ``language``."""
    if index >= len(flow.questions):
        return None
    question = flow.questions[index]
    language = language if language in flow.languages else flow.languages[0]

    def pick(texts: dict[str, str]) -> str:
        return texts.get(language) or next(iter(texts.values()), "")

    text, yes_no = pick(question.text), question.yes_no
    if follow_up is not None and follow_up < len(question.follow_ups):
        probe = question.follow_ups[follow_up]
        text, yes_no = pick(probe.text), probe.yes_no
    elif follow_up is not None:
        yes_no = False  # the generic probe asks for more detail
    about = [
        text,
        *(pick(point) for point in question.talking_points),
        pick(question.clarification) if question.clarification else "",
        *(term for entry in question.glossary for term in entry.terms),
    ]
    return PendingQuestion(
        text=text,
        yes_no=is_yes_no_question(text) if yes_no is None else yes_no,
        about=" ".join(about),
    )


ANSWER = ["action_record_answer", "action_score_answer", "action_next_question"]
COMMAND_INTENTS = frozenset(
    {"repeat", "skip", "pause", "resume", "goodbye", "withdraw", "human", "retry", "delete_my_data"}
)
"""Intents that act on the interview: taken from a typed message only when its wording names them."""
OTHER_COMMANDS = frozenset({"help", "progress", "lang_en", "lang_zh", "apply"})
"""Short requests the classifier recognises that act on nothing in the interview."""
SMALL_TALK = frozenset({"greet", "thanks", "chitchat", "affirm", "deny", "goodbye", "lang_en", "lang_zh"})
FAQ_SURE = 0.04
"""FAQ closeness (see `Parse.faq_closeness`) past which a short message is a question to us even
without a question word ("annual leave policy")."""
LONG_ANSWER_WORDS = 60
"""A message this long that the classifier takes for an answer is one, whatever questions it asks
on the way ("我问自己：客户最想要什么？")."""
TAKING_A_MOMENT = 0.4
"""A short message the classifier is this sure is a pause, without a plain request ("give me a
sec"), is the candidate taking a moment: the question stays open and nothing is paused."""
LONG_REQUEST_WORDS = 30
"""A plain request to pause or skip may come with its reason, up to this long."""
COMMAND_WORDS = 10
"""Longer typed messages are not commands: "I stay calm and keep going" is an answer, not a pause."""
UNSURE = 0.5
"""Below this confidence the classifier's command is a guess: the wording decides."""
NARRATED = frozenset({"pause", "resume", "goodbye", "skip", "retry"})
"""Commands whose words often tell what happened in an answer ("we paused the rollout", "came back
later with data")."""
REQUESTS = {"skip": "action_skip_question", "pause": "action_pause", "repeat": "action_repeat_question"}
"""What a plain request (`MessageForm.plain_request`) does during the questions."""
_START = re.compile(
    r"\b(?:start|begin|ready|let'?s go|take the interview|do the interview|apply"
    r"|(?:like|want|wanna|here|came) to (?:interview|do the interview)|interview for)\b"
    r"|开始|准备好|开始面试|(?:我)?(?:要|想)(?:面试|应聘)|(?:来|参加)[^，。,.？?]{0,10}面试|应聘",
    re.IGNORECASE,
)


def form_of(parse: Parse) -> MessageForm:
    if parse.form is None:
        parse.form = message_form(parse.text, parse.language)
    return parse.form


def decide(
    state: str,
    parse: Parse,
    pending: dict[str, Any] | None,
    *,
    threshold: float,
    question: PendingQuestion | None = None,
) -> Decision:
    """The actions that answer ``parse`` in ``state``; ``question`` is the pending interview
    question (in state ``question``), when known."""
    intent = parse.intent

    if pending:
        subject = pending.get("confirm")
        if intent == "affirm":
            if subject == "answer" and state == "question":
                return Decision(
                    ["action_record_answer", "action_score_answer", "action_next_question"],
                    confirmed_answer=True,
                )
            if subject == "withdraw" and state in IN_INTERVIEW:
                return Decision(["action_withdraw"])
            if subject == "delete":
                return Decision(["action_delete_my_data"])
        if subject == "skip" and state == "question" and intent == "affirm":
            return Decision(["action_skip_question"])
        if subject == "skip" and state == "question" and intent == "deny":
            return Decision(["action_back_to_question"])
        if subject == "transcript" and state == "question":
            corrected = _transcript_reply(parse, threshold)
            if corrected is not None:
                return corrected
        if intent == "deny":
            if subject == "answer" and state == "question" and pending.get("message_id"):
                # "It's a question": answer the message it was about
                return Decision(["action_answer_faq"], earlier_question=True)
            if subject == "answer" and state == "question":
                return Decision(["action_confirm_answer_declined"])
            if subject == "withdraw":
                return Decision(["utter_withdraw_cancelled"])
            if subject == "delete":
                return Decision(["utter_delete_cancelled"])
        # Anything else drops the pending question and is handled as usual.

    if is_stop(parse.text):
        # Campaign messages stop; the interview, if any, stays where it is.
        return Decision(["action_opt_out"])
    if state == "question" and parse.command is None and intent not in {"empty", "unreadable"}:
        reading = _read_in_question(parse, question)
        if (
            reading is not None
            and _unsure_transcript(parse)
            and ("action_record_answer" in reading.actions or "action_confirm_answer" in reading.actions)
        ):
            return Decision(["action_confirm_transcript"])
        if reading is not None:
            return reading

    if parse.command is None and intent not in {"empty", "unreadable"} and parse.voice is None:
        intent = _outside_questions(state, parse, intent)
        if intent == "start" and parse.intent != "start":
            return Decision(["action_greet"])

    simple = {
        "empty": "utter_empty_message",
        "unreadable": "utter_unreadable_message",
        "unknown_command": "utter_unknown_command",
        "help": "action_help",
        "switch_language": "action_switch_language",
        "delete_my_data": "action_confirm_delete",
        "human": "action_human_handoff",
        "withdraw": "action_confirm_withdraw",
        "voice_unusable": "action_voice_unusable",
        "pick_slot": "action_pick_slot",
    }
    if intent in simple:
        return Decision([simple[intent]])
    if intent == "voice":
        return Decision(["action_set_voice"], [{"entity": "voice", "value": a} for a in parse.args[:1]])
    if intent in {"lang_en", "lang_zh"}:
        return Decision(["action_switch_language"], [{"entity": "language", "value": intent[-2:]}])

    if intent in {"start", "start_interview", "start_practice"}:
        return _start(state, parse)
    if intent == "apply" and (parse.command is not None or not form_of(parse).question):
        role = [{"entity": "role", "value": parse.args[0].lower()}] if parse.args else []
        return Decision(
            ["action_apply", *(["action_back_to_question"] if state in IN_INTERVIEW else [])], role
        )

    if intent == "progress":
        return Decision(["action_show_progress"])
    if intent == "retry" and state != "paused":
        # A practice answer again (the action refuses in a real interview and when nothing to retry).
        return Decision(["action_retry_question"])

    if state == "consent":
        if intent == "affirm":
            return Decision(["action_begin_questions"])
        if intent == "deny":
            return Decision(["action_decline_consent"])
        if intent == "faq_question":
            return Decision(["action_answer_faq"])
        if intent == "pause":
            return Decision(["action_pause"])
        return Decision(["action_back_to_question"])

    if state == "paused":
        if intent in {"resume", "greet", "affirm"}:
            return Decision(["action_resume"])
        if intent == "faq_question":
            return Decision(["action_answer_faq", "utter_paused_reminder"])
        return Decision(["utter_paused_reminder"])

    if state == "question":
        return _in_question(parse, threshold)

    if state == "done":
        if intent in {"thanks", "goodbye"}:
            return Decision([f"utter_{intent}"])
        if intent == "faq_question":
            return Decision(["action_answer_faq"])
        return Decision(["utter_interview_done"])

    # idle, withdrawn, declined
    if intent == "resume":
        return Decision(["action_resume"])
    if intent in {"thanks", "goodbye"}:
        return Decision([f"utter_{intent}"])
    if intent == "faq_question":
        return Decision(["action_answer_faq"])
    return Decision(["action_greet"])


def _outside_questions(state: str, parse: Parse, intent: str) -> str:
    """Outside the questions, a message worded as a question (or very like an FAQ question) is a
    question to us, unless it asks to start, is small talk, or is a command the state expects."""
    if state == "question":
        return intent
    form = form_of(parse)
    faq_close = parse.faq_closeness is not None and parse.faq_closeness >= 0
    starting = state in {"idle", "withdrawn", "declined"} and _START.search(parse.text)
    if starting and not faq_close and (not form.question or form.words <= 6):
        parse.reasons.append("asks to start")
        return "start"
    if starting and _ASKS_TO_START.search(parse.text):
        parse.reasons.append("asks whether or how to start now: start")
        return "start"
    request = form.plain_request(parse.text) if form.words <= LONG_REQUEST_WORDS else None
    if state == "consent" and request == "pause" and form.defers:
        parse.reasons.append("asks plainly to do the interview later: pause")
        return "pause"
    if state == "paused" and request != "pause" and form.resume_request:
        parse.reasons.append("paused, and asks to go on: resume")
        return "resume"
    expected = {"consent": {"affirm", "deny"}, "paused": {"resume", "affirm"}}.get(state, set())
    if intent in expected and (
        not form.question or (form.words <= 6 and not form.information and parse.confidence >= UNSURE)
    ):
        return intent
    if intent in expected:  # worded as a question, so not a plain yes, no or go on
        parse.reasons.append(
            f"asks something ({intent} is unsure, or a question word asks): a question to us"
        )
        return "faq_question"
    if state == "paused" and not form.question and form.names_command("resume", parse.text):
        parse.reasons.append("paused, and the wording says to go on: resume")
        return "resume"
    if intent == "human" and form.question and form.about_people:
        parse.reasons.append("asks what people see or do, not to talk to one: a question to us")
        return "faq_question"
    if intent == "delete_my_data" and form.question and _ASKS_IF_ALLOWED.search(parse.text):
        parse.reasons.append("asks whether or how data can be deleted, not to delete it: a question to us")
        return "faq_question"
    if intent == "delete_my_data" and _DEFERRED.search(parse.text):
        parse.reasons.append("asks for the data to be deleted later, not now: tell how (the FAQ)")
        return "faq_question"
    if intent in COMMAND_INTENTS | OTHER_COMMANDS and form.question and parse.confidence < UNSURE:
        parse.reasons.append(
            f"outside the questions, worded as a question, and {intent} is unsure: a question to us"
        )
        return "faq_question"
    if intent == "faq_question" and not form.question and not faq_close and parse.confidence < UNSURE:
        parse.reasons.append(
            "not worded as a question, unlike the FAQ, and the classifier is unsure: a remark, not a question"
        )
        return "chitchat"
    if intent in {"delete_my_data", "faq_question"}:
        return intent
    if intent == "progress" and parse.confidence >= 0.5 and not faq_close:
        return intent
    if form.words <= 2 and not faq_close:  # "what now?": too little to look up
        return intent
    asks = form.curiosity or (form.information and parse.confidence < UNSURE)
    if intent in SMALL_TALK - {"lang_en", "lang_zh"} and form.words <= 6 and not faq_close and not asks:
        return intent
    if form.question or (faq_close and form.words <= COMMAND_WORDS):
        parse.reasons.append("outside the questions, worded as a question (or like an FAQ question)")
        return "faq_question"
    return intent


_ASKS_IF_ALLOWED = re.compile(
    r"\b(?:can|could|may|will|would) i\b|\b(?:afterwards|later|after|in the future)\b"
    r"|\bhow (?:do|can|could|would|should|to|does one)\b"
    r"|我(?:能|可以|可不可以|能不能)|之后|以后|事后|将来|会不会|怎么|怎样|如何",
    re.IGNORECASE,
)
"""Asks whether something is possible, will happen or how it is done ("can I delete my answers
afterwards?", "how do I delete my data", "我能之后删除数据吗"), not to do it now."""
_DEFERRED = re.compile(
    r"\b(?:afterwards|later|after (?:the|my|this|that|you|it|i)|once (?:the|my|this|it|you|i)"
    r"|when (?:the|it|this|you|i)"
    r"|in the future)\b|之后|以后|事后|将来|结束后|完了再|出结果",
    re.IGNORECASE,
)
"""A request for a later time ("delete my data after the decision", "面试结束后删掉我的资料"): nothing
to do now."""
_ASKS_TO_START = re.compile(
    r"\b(?:(?:can|could|may|shall) (?:i|we) (?:please )?(?:start|begin)|how (?:do|can|should) (?:i|we) "
    r"(?:start|begin|take|do)|where do (?:i|we) (?:start|begin))\b"
    r"|(?:怎么|如何|怎样|从哪(?:里|儿)?)(?:才能)?(?:开始|参加|进行)|(?:现在)?(?:可以|能)(?:现在)?开始(?:面试|了)?(?:吗|么|了吗|不|没)",
    re.IGNORECASE,
)
"""Asks whether or how to start ("can I start now?", "怎么开始面试"): a request to start, answered
with the way in."""


def _start(state: str, parse: Parse) -> Decision:
    if state in IN_INTERVIEW:
        return Decision(["utter_already_in_interview"])
    if parse.intent == "start":
        if parse.args:
            return Decision(
                ["action_start_interview"], [{"entity": "invitation_token", "value": parse.args[0]}]
            )
        return Decision(["action_greet"])
    mode = "practice" if parse.intent == "start_practice" else "interview"
    entities: list[dict[str, Any]] = [{"entity": "mode", "value": mode}]
    if parse.args:
        entities.append({"entity": "role", "value": parse.args[0].lower()})
    return Decision(["action_start_interview"], entities)


def _in_question(parse: Parse, threshold: float) -> Decision:
    """The classifier's intent during the questions, when the reading in context left it so."""
    if parse.intent == "answer" and _unsure_transcript(parse):
        return Decision(["action_confirm_transcript"])
    intent = parse.intent
    if intent == "answer":
        return Decision(ANSWER if parse.confidence >= threshold else ["action_confirm_answer"])
    # A message the classifier can't place, that could be an answer: ask rather than guess.
    answer_confidence = dict(parse.ranking).get("answer", 0.0)
    if parse.confidence < threshold and answer_confidence >= 0.2:
        return Decision(
            ["action_confirm_transcript" if _unsure_transcript(parse) else "action_confirm_answer"]
        )
    table = {
        "faq_question": ["action_answer_faq"],
        "repeat": ["action_repeat_question"],
        "skip": ["action_skip_question"],
        "pause": ["action_pause"],
        "resume": ["action_repeat_question"],
        "greet": ["utter_greet"],
        "thanks": ["utter_thanks"],
        "chitchat": ["utter_chitchat"],
        "goodbye": ["action_pause"],
    }
    return Decision(table.get(intent, ["utter_waiting_for_answer"]))


def _read_in_question(parse: Parse, question: PendingQuestion | None) -> Decision | None:
    """A typed message during the questions, read in context; None leaves it to the classifier."""
    form = form_of(parse)
    reasons = parse.reasons
    intent = parse.intent
    text = parse.text
    answer_p = dict(parse.ranking).get("answer", 0.0)
    substantial = form.words >= SUBSTANTIAL_WORDS
    faq_close = parse.faq_closeness is not None and parse.faq_closeness >= 0
    faq_sure = parse.faq_closeness is not None and parse.faq_closeness >= FAQ_SURE

    if question is not None and question.yes_no and form.yes_no_reply and not form.question:
        reasons.append("a short yes/no reply to a yes/no question: an answer")
        return Decision(ANSWER)
    request = form.plain_request(text) if form.words <= LONG_REQUEST_WORDS else None
    if request is not None:
        reasons.append(f"asks plainly to {request}")
        return Decision([REQUESTS[request]])
    if form.meta and form.words <= LONG_REQUEST_WORDS:
        reasons.append("about the conversation, not the question: wait for the answer")
        return Decision(["utter_waiting_for_answer"])
    if form.presence:
        reasons.append("checks that someone is there: wait for the answer")
        return Decision(["utter_waiting_for_answer"])
    if form.no_example and not form.question:
        reasons.append("says there is no example to tell: an answer, scored as what it is")
        return Decision(ANSWER)
    if form.thanks and not (form.question or form.reports):
        reasons.append("short thanks: not an answer")
        return Decision(["utter_thanks"])
    if form.remark and not form.question:
        reasons.append("a remark on the interview or the candidate's nerves: take your time")
        return Decision(["utter_take_your_time"])
    if form.hearsay and form.words < SUBSTANTIAL_WORDS and _ADDRESSES_US.search(text):
        reasons.append("what the candidate heard about us: a question to us")
        return Decision(["action_answer_faq"])
    if question is not None and form.content_reply and not form.decline:
        reasons.append("a short reply that says no, how much or how often: an answer to the question")
        return Decision(ANSWER)
    if form.trailing_question or form.leading_question:
        reasons.append("a substantial answer with a question before or after it: an answer")
        return Decision(ANSWER)
    if form.thinking and not form.question:
        reasons.append("thinking aloud: the candidate is taking a moment")
        return Decision(["utter_take_your_time"])
    if form.decline and form.words <= LONG_REQUEST_WORDS:
        reasons.append("declines to answer: ask whether to skip")
        return Decision(["action_confirm_skip"])
    if (
        form.reports
        and intent != "answer"
        and parse.confidence < UNSURE
        and not form.cue_for(intent, text)
        and not form.clarification
    ):
        if intent == "faq_question" and not (substantial or answer_p >= 0.2):
            reasons.append("tells what happened, but the classifier leans to a question: ask")
            return Decision(["action_confirm_answer"])
        reasons.append(f"tells what happened, {intent} is unsure and not named: an answer")
        return Decision(ANSWER)
    if intent in OTHER_COMMANDS and form.words <= COMMAND_WORDS and not form.question:
        return None
    if intent in COMMAND_INTENTS:
        named = form.words <= COMMAND_WORDS and form.names_command(intent, text) and intent != "pause"
        if named and intent == "repeat" and form.puzzled:
            reasons.append("asks what the question means: not a request to repeat it")
        elif named and form.reports and intent in NARRATED:
            reasons.append(f"tells what happened: not a request to {intent}")
        elif named and intent == "human" and form.question and form.about_people:
            reasons.append("asks what people see or do, not to talk to one")
        elif named and form.information and intent != "repeat":
            reasons.append(f"asks for information: not a request to {intent}")
        elif named and form.question and parse.confidence < UNSURE and intent != "repeat":
            reasons.append(f"a question, and {intent} is unsure: not a request")
        elif named:
            return None
        taking_a_moment = (
            parse.confidence >= TAKING_A_MOMENT
            and form.words <= COMMAND_WORDS
            and (form.thinking or form.moment)
        )
        if intent in {"pause", "goodbye", "resume"} and taking_a_moment and not form.question:
            reasons.append(f"{intent} without a plain request: the candidate is taking a moment")
            return Decision(["utter_take_your_time"])
        if form.reports and intent in NARRATED and not form.question:
            reasons.append(f"tells what happened, with a word of {intent} in it: an answer")
            return Decision(ANSWER)
        reasons.append(f"{intent} without a command's wording, or inside a longer message")
        intent = "faq_question" if form.question else "answer"
    if (
        form.question
        and not substantial
        and intent in {"lang_en", "lang_zh"}
        and not names_the_question(text)
    ):
        reasons.append("asks about the interview's language: a question to us")
        return Decision(["action_answer_faq"])
    if form.question and not substantial:
        if (
            form.clarification
            and faq_close
            and not (form.about_answer or _shares_question_terms(parse, question))
        ):
            reasons.append("asks how the interview works, like an FAQ question: a question to us")
            return Decision(["action_answer_faq"])
        if form.clarification or _about_question(parse, question, faq_close):
            reasons.append("a question about the question: clarify it")
            return Decision(["action_clarify_question"])
        reasons.append("worded as a question: a question to us")
        return Decision(["action_answer_faq"])
    if form.question and substantial:
        if form.clarification and not faq_close and form.words < 2 * SUBSTANTIAL_WORDS:
            reasons.append("a question about the question: clarify it")
            return Decision(["action_clarify_question"])
        if parse.intent == "answer" and (not form.marked or form.words >= LONG_ANSWER_WORDS):
            reasons.append("a question word inside a substantial answer: an answer")
            return Decision(ANSWER)
        if form.clarification and not faq_close:
            reasons.append("a long question about the question: clarify it")
            return Decision(["action_clarify_question"])
        if intent == "faq_question" or faq_close or form.curiosity:
            reasons.append("a long question to us")
            return Decision(["action_answer_faq"])
        reasons.append("a long message worded as a question: ask")
        return Decision(["action_confirm_answer"])
    if faq_sure and not substantial and intent not in SMALL_TALK:
        reasons.append("very like an FAQ question: a question to us")
        return Decision(["action_answer_faq"])
    if intent == "faq_question" and (substantial or answer_p >= 0.2):
        reasons.append("not worded as a question: an answer, or ask")
        return Decision(ANSWER if substantial else ["action_confirm_answer"])
    if intent == "faq_question" and parse.confidence < UNSURE and not faq_close:
        reasons.append("not worded as a question, unlike the FAQ, and the classifier is unsure: ask")
        return Decision(["action_confirm_answer"])
    if intent == "answer" and parse.intent == "answer":
        if not substantial and form.reports and not form.question:
            reasons.append("tells what happened: an answer")
            return Decision(ANSWER)
        return Decision(ANSWER) if substantial else None
    if intent == "answer":  # read as a command by the classifier, but not worded as one
        return Decision(ANSWER if substantial or answer_p >= 0.3 else ["action_confirm_answer"])
    return None


_ADDRESSES_US = re.compile(
    r"\b(?:you|your|you guys|the company|northwind|this role|the role|the team|here|join|joining|onboarding|"
    r"salary|pay|bonus|benefits?|office|hiring|recruiter|hr|career|growth|promotion|training|culture|remote|"
    r"hybrid|overtime|leave|vacation|holidays?|visa|relocation|probation|start date|process|interview|"
    r"next steps?|results?|data|privacy|take[- ]home|coding test|rounds?|equity|stock options|"
    r"(?:4|four)[- ]day week|"
    r"(?:would|will) i (?:be|have|get|need|report|work|manage)|i'?d be)\b|"
    r"你们|贵公司|公司|入职|团队|岗位|这个职位|薪|待遇|福利|面试|平时|培训|晋升|加班|假期|年假|签证|流程|结果|数据|隐私|"
    r"技术栈|996|期权|股票|双休",
    re.IGNORECASE,
)


def _about_question(parse: Parse, question: PendingQuestion | None, faq_close: bool) -> bool:
    """A short question that shares the pending question's words and does not address the
    company ("is a hotfix an incident?") is about the question. Words that would address us but
    are the question's own ("其他团队" in a question about working with other teams) do not."""
    if question is None or faq_close:
        return False
    own = question.text.lower()
    if any(match.group(0).lower() not in own for match in _ADDRESSES_US.finditer(parse.text)):
        return False
    return _shares_question_terms(parse, question)


def _shares_question_terms(parse: Parse, question: PendingQuestion | None) -> bool:
    return question is not None and shared_terms(parse.text, question.about or question.text) >= 2


# --- voice answers --------------------------------------------------------------------------------

TRANSCRIPT_REPLIES_HANDLED_AS_USUAL = frozenset(
    {"repeat", "skip", "pause", "human", "withdraw", "delete_my_data", "help", "faq_question", "goodbye"}
)
"""After "I heard ..., is that right?", these (when the classifier is sure) are not a corrected answer."""


def _unsure_transcript(parse: Parse) -> bool:
    return bool(parse.voice and parse.voice.get("uncertain"))


def _transcript_reply(parse: Parse, threshold: float) -> Decision | None:
    """The candidate's reply to "I heard ..., is that right?": yes records the transcript, no asks
    again, and a typed text is the corrected answer, recorded as it stands. Commands, another voice
    message and messages the classifier is sure are something else are handled as usual (None)."""
    answer = ["action_record_answer", "action_score_answer", "action_next_question"]
    if parse.intent == "affirm":
        return Decision(answer, confirmed_answer=True)
    if parse.intent == "deny":
        return Decision(["action_transcript_declined"])
    if parse.command is not None or parse.voice is not None or parse.intent in {"empty", "unreadable"}:
        return None
    if parse.intent in TRANSCRIPT_REPLIES_HANDLED_AS_USUAL and parse.confidence >= threshold:
        return None
    return Decision(answer, [{"entity": "corrected", "value": True}])
