"""Practice feedback on answers the checks stopped: it says why, in English and Chinese, from the
checks in the score's evidence (the scorer's own result for a keyword list and for a copy)."""

from __future__ import annotations

from bench.robustness import sample_flow
from scoring.checks import SourceText, check_copy, check_narrative
from scoring.feedback import build_feedback, insufficient_kind, render
from scoring.scorer import json_safe

RD = sample_flow("rd_engineer")
INCIDENT = RD.questions[0]


def capped_score(text: str) -> dict[str, object]:
    """The stored form of a score the keyword check capped (as `bot.scoring` stores it)."""
    checks = check_narrative(text, [p["en"] for p in INCIDENT.talking_points], behavioural=True)
    failed = [c for c in checks if not c.passed]
    return {
        "level": 2.0,
        "insufficient": None,
        "confidence": 0.5,
        "evidence": {
            "rounded_level": 2,
            "checks": [json_safe(c.__dict__) for c in checks],
            "flags": [c.reason for c in failed],
            "uncapped_level": 3.1,
        },
    }


def test_a_capped_keyword_list_is_told_to_tell_a_specific_story_in_en_and_zh() -> None:
    english = "monitoring, logs, rollback, root cause, tracing, post-mortem, rate limiting, alerts"
    feedback = build_feedback(english, "en", INCIDENT, capped_score(english))
    assert feedback.rubric.capped_by == ("keyword_list", "no_first_person")
    assert feedback.suggestion.kind == "story"
    text = render(feedback, "en")
    assert "list of keywords" in text and "Tell a specific story" in text
    chinese = "监控、日志、回滚、根因分析、链路追踪、限流、降级、复盘、告警"
    zh = render(build_feedback(chinese, "zh", INCIDENT, capped_score(chinese)), "zh")
    assert "关键词罗列" in zh and "请讲一个具体的经历" in zh


def test_an_unscored_copy_or_padding_says_why() -> None:
    sources = [("rubric (level 5)", INCIDENT.rubric[5]["en"])]
    copy = check_copy(INCIDENT.rubric[5]["en"], [SourceText(k, t) for k, t in sources])
    assert copy.reason is not None and insufficient_kind(copy.reason) == "copy"
    score = {"level": None, "insufficient": copy.reason, "evidence": {"checks": [json_safe(copy.__dict__)]}}
    feedback = build_feedback(INCIDENT.rubric[5]["en"], "en", INCIDENT, score)
    assert feedback.rubric.insufficient_kind == "copy" and feedback.suggestion.kind == "example"
    assert "copies the question's rubric" in render(feedback, "en")
    assert "照搬" in render(build_feedback(INCIDENT.rubric[5]["zh"], "zh", INCIDENT, score), "zh")
    padded = {"level": None, "insufficient": "padded: 80% of the answer repeats what it already said"}
    assert "重复或口头禅" in render(build_feedback("我优化了性能。" * 6, "zh", INCIDENT, padded), "zh")
