"""Practice feedback on one answer: crafted answers against the sample flows and EHR exemplars."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from flows.schema import Flow, Language, Question, load_flow_file
from scoring.feedback import (
    AnswerFeedback,
    build_feedback,
    compare,
    count_fillers,
    readability,
    render,
    render_comparison,
    repetitions,
    star_parts,
)

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "dialogues" / "flows"
EHR = ROOT / "dialogues" / "ehr"

EN_FULL = (
    "Last year at my previous company, a logistics customer asked us for 40 more licences. "
    "My goal was to find out what their dispatchers really needed. "
    "I sat with two dispatchers for a morning and found they were re-keying orders from email, "
    "so I proposed our email-integration module and 10 licences instead of 40. "
    "As a result, dispatch time fell by 35% and they renewed for three years."
)
EN_NO_RESULT = (
    "Last year at my previous company, a logistics customer asked us for 40 more licences. "
    "My goal was to find out what their dispatchers really needed. "
    "I sat with two dispatchers for a morning and found they were re-keying orders from email, "
    "so I proposed our email-integration module and 10 licences instead of 40."
)
ZH_FULL = (
    "去年在上一家公司，订单服务晚高峰出现大量超时。我是当天的值班负责人，目标是尽快止损。"
    "我先回滚了下午发布的版本，接着对比慢查询日志，定位到一条没走索引的查询。"
    "最终 20 分钟内下单成功率恢复到 99.9%，之后半年没再出现同类问题。"
)
ZH_NO_RESULT = (
    "去年在上一家公司，订单服务晚高峰出现大量超时。我是当天的值班负责人，目标是尽快止损。"
    "我先回滚了下午发布的版本，接着对比慢查询日志，定位到一条没走索引的查询。"
)
# 35 words (counted by hand, "Um" to "well"); 7 fillers: Um, like, you know, basically, uh,
# kind of, I guess -> 20.0 per 100 words
FILLER_HEAVY = (
    "Um, so last year I was, like, responsible for a big account, you know. "
    "I basically called the client and, uh, we kind of agreed on a new plan. I guess it worked really well."
)


@pytest.fixture(scope="module")
def sales() -> Flow:
    return load_flow_file(FLOWS / "sales_manager.yml").flow


@pytest.fixture(scope="module")
def rd() -> Flow:
    return load_flow_file(FLOWS / "rd_engineer.yml").flow


def _exemplar_rows() -> list[dict[str, Any]]:
    with (EHR / "sales_manager_exemplars.csv").open(encoding="utf-8") as handle:
        rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    rows += json.loads((EHR / "rd_engineer_exemplars.json").read_text(encoding="utf-8"))
    return rows


def strong(question_id: str, language: str) -> list[str]:
    return [
        row["answer_text"]
        for row in _exemplar_rows()
        if row["question_id"] == question_id and row["language"] == language and float(row["rating"]) >= 4
    ]


def others(question_id: str, language: str) -> list[str]:
    return [
        row["answer_text"]
        for row in _exemplar_rows()
        if row["question_id"] != question_id and row["language"] == language
    ]


def scored(
    question: Question, level: int, covered: Sequence[str] = (), missed: Sequence[str] = ()
) -> dict[str, Any]:
    """A score result shaped like `ScoreResult.to_dict()`."""
    return {
        "question_id": question.id,
        "competency": question.competency,
        "level": float(level),
        "rounded_level": level,
        "confidence": 0.6,
        "insufficient": None,
        "evidence": {
            "exemplars": [],
            "pool": "question",
            "anchor_level": level,
            "anchor_similarity": 0.5,
            "talking_points_covered": [{"text": t, "similarity": 0.6, "covered": True} for t in covered],
            "talking_points_missed": [{"text": t, "similarity": 0.1, "covered": False} for t in missed],
            "method": "stacker",
            "relevance": 0.5,
        },
        "model_id": "test",
        "flow_version": None,
    }


def discovery_feedback(sales: Flow, answer: str, score: dict[str, Any] | None) -> AnswerFeedback:
    question = sales.question("customer_needs_discovery")
    return build_feedback(
        answer,
        "en",
        question,
        score,
        strong(question.id, "en"),
        competency=sales.competency(question.competency),
        other_questions=sales.questions,
        background_texts=others(question.id, "en"),
    )


def incident_feedback(rd: Flow, answer: str, score: dict[str, Any] | None) -> AnswerFeedback:
    question = rd.question("production_incident")
    return build_feedback(
        answer,
        "zh",
        question,
        score,
        strong(question.id, "zh"),
        competency=rd.competency(question.competency),
        other_questions=rd.questions,
        background_texts=others(question.id, "zh"),
    )


# ---- STAR ---------------------------------------------------------------------------------------


def test_a_complete_english_star_answer_shows_all_four_parts(sales: Flow) -> None:
    feedback = discovery_feedback(sales, EN_FULL, None)
    assert [p.part for p in feedback.star if p.present] == ["situation", "task", "action", "result"]
    assert feedback.star_missing == []
    assert "situation ✓, task ✓, action ✓, result ✓" in render(feedback, "en")


def test_a_complete_chinese_star_answer_shows_all_four_parts(rd: Flow) -> None:
    feedback = incident_feedback(rd, ZH_FULL, None)
    assert feedback.star_missing == []
    assert "情境 ✓、任务 ✓、行动 ✓、结果 ✓" in render(feedback, "zh")


def test_an_answer_without_a_result_names_the_result_as_missing(sales: Flow, rd: Flow) -> None:
    english = discovery_feedback(sales, EN_NO_RESULT, None)
    assert english.star_missing == ["result"]
    assert "missing: result" in render(english, "en")
    assert english.suggestion.kind == "star"
    assert english.suggestion.params["part"] == "result"
    assert "result" in english.suggestion.text

    chinese = incident_feedback(rd, ZH_NO_RESULT, None)
    assert chinese.star_missing == ["result"]
    assert "缺少：结果" in render(chinese, "zh")
    assert "结果" in chinese.suggestion.text


def test_star_cues_are_the_candidates_own_phrases() -> None:
    parts = {p.part: p for p in star_parts(EN_FULL, "en")}
    assert "Last year" in parts["situation"].cues
    assert "My goal" in parts["task"].cues
    assert all(cue in EN_FULL for part in parts.values() for cue in part.cues)


# ---- delivery -----------------------------------------------------------------------------------


def test_a_filler_heavy_answer_is_flagged_with_the_exact_rate(sales: Flow) -> None:
    feedback = discovery_feedback(sales, FILLER_HEAVY, None)
    fillers = feedback.delivery.fillers
    assert feedback.delivery.length.count == 35
    assert fillers.count == 7
    assert fillers.per_100 == 20.0
    assert fillers.heavy
    assert {w.word for w in fillers.found} == {
        "um",
        "like",
        "you know",
        "basically",
        "uh",
        "kind of",
        "I guess",
    }
    assert "Filler words: 20.0 per 100 words" in render(feedback, "en")


def test_like_and_kind_of_are_counted_only_as_fillers() -> None:
    text = (
        "I would like to talk about a customer. I'd like to add that we would like more data, "
        "and they like our tool. What kind of customer? It looks like a good fit. Do you know what happened?"
    )
    assert count_fillers(text, "en") == []
    assert [(w.word, w.count) for w in count_fillers("It was like 20 people, like, at once.", "en")] == [
        ("like", 2)
    ]


def test_chinese_fillers_skip_demonstratives_and_copulas() -> None:
    found = {w.word: w.count for w in count_fillers("嗯，那个，这个问题其实是缓存雪崩。根因就是索引。", "zh")}
    assert found == {"嗯": 1, "那个": 1, "其实": 1}


def test_a_one_line_answer_gets_the_length_advice(sales: Flow) -> None:
    feedback = discovery_feedback(
        sales,
        "I just gave the customer what they asked for.",
        scored(sales.question("customer_needs_discovery"), 1),
    )
    length = feedback.delivery.length
    assert length.status == "short"
    assert length.source == "exemplars"
    assert length.count == 9
    assert length.low > 50
    assert feedback.suggestion.kind == "expand"
    text = render(feedback, "en")
    assert f"Length: 9 words (strong answers: {length.low}–{length.high}), short" in text
    assert "Expand it with" in text


def test_chinese_length_counts_characters_against_the_exemplar_range(rd: Flow) -> None:
    feedback = incident_feedback(rd, "我重启了服务就好了。", None)
    assert feedback.delivery.length.unit == "characters"
    assert feedback.delivery.length.count == 9
    assert feedback.suggestion.kind == "expand"
    assert "字" in feedback.suggestion.text


def test_chinese_readability_uses_sentence_length(rd: Flow) -> None:
    result = readability("我负责订单服务。我先回滚了版本！结果恢复了。", "zh")
    assert result.reading_ease is None
    assert result.sentences == 3
    assert result.mean_sentence_length == pytest.approx((7 + 7 + 5) / 3, abs=0.05)
    feedback = incident_feedback(rd, "我负责订单服务。我先回滚了版本！结果恢复了。", None)
    assert "平均每句 6.3 字" in render(feedback, "zh")


def test_english_readability_uses_flesch() -> None:
    result = readability(EN_FULL, "en")
    assert result.reading_ease is not None
    assert result.grade is not None
    assert 30 < result.reading_ease < 100
    assert result.sentences == 4


def test_repetitions_and_most_used_words(sales: Flow) -> None:
    assert repetitions("I I think the the customer liked that that plan", "en") == ["i i", "the the"]
    assert repetitions("这个这个问题我我觉得", "zh") == ["这个这个", "我我"]
    feedback = discovery_feedback(sales, EN_FULL, None)
    # word forms count together ("dispatchers" twice, "dispatch" once), shown in the commonest form
    assert [(w.word, w.count) for w in feedback.delivery.top_words] == [("dispatchers", 3), ("licences", 2)]
    assert "customer" in feedback.delivery.job_terms
    for term in feedback.delivery.job_terms:
        assert term.lower() in EN_FULL.lower()


# ---- talking points, rubric level, suggestion ---------------------------------------------------


def test_the_rubric_level_and_talking_points_come_from_the_scorer(sales: Flow) -> None:
    question = sales.question("customer_needs_discovery")
    points = [p["en"] for p in question.talking_points]
    longer = (
        EN_FULL + " I also met their operations director to check the numbers, walked her through the "
        "workflow we had seen, and agreed a two-month pilot with clear success measures before anyone "
        "signed a larger order."
    )
    feedback = discovery_feedback(sales, longer, scored(question, 3, covered=points[:3], missed=points[3:]))
    assert feedback.delivery.length.status == "ok"
    assert feedback.rubric.level == 3
    assert feedback.talking_points_source == "scorer"
    assert [p.text["en"] for p in feedback.covered] == points[:3]
    assert [p.text["en"] for p in feedback.missed] == points[3:]
    text = render(feedback, "en")
    assert text.startswith("- Customer focus: Level 3 of 5: Describes a real customer")
    assert "\n" not in feedback.rubric.anchor["en"]
    assert f"Talking points missed: {points[3]}; {points[4]}" in text
    assert feedback.suggestion.kind == "talking_point"
    assert points[3] in feedback.suggestion.text


def test_scorer_talking_points_in_chinese_render_in_english(rd: Flow) -> None:
    question = rd.question("production_incident")
    zh_points = [p["zh"] for p in question.talking_points]
    score = scored(question, 4, covered=zh_points[:2], missed=zh_points[2:])
    # the engine's stored form: rounded_level inside the evidence
    stored = {**score, "evidence": {**score["evidence"], "rounded_level": 4}}
    del stored["rounded_level"]
    feedback = incident_feedback(rd, ZH_FULL, stored)
    assert feedback.rubric.level == 4
    english = render(feedback, "en")
    assert question.talking_points[0]["en"] in english
    assert "Problem solving: Level 4 of 5" in english
    chinese = render(feedback, "zh")
    assert zh_points[0] in chinese
    assert "问题解决：第 4 级（共 5 级）" in chinese


def test_without_scorer_evidence_talking_points_are_matched_lexically(sales: Flow) -> None:
    feedback = discovery_feedback(sales, EN_FULL + " Since then I apply this lesson to later deals.", None)
    assert feedback.talking_points_source == "lexical"
    assert feedback.rubric.insufficient_kind == "not_scored"
    covered = [p.text["en"] for p in feedback.covered]
    assert "lesson applied to later deals" in covered


def test_an_insufficient_answer_is_asked_for_an_example(sales: Flow) -> None:
    question = sales.question("customer_needs_discovery")
    score = {
        **scored(question, 1),
        "level": None,
        "rounded_level": None,
        "insufficient": "too short: fewer than 3 words",
    }
    feedback = discovery_feedback(sales, "No idea", score)
    assert feedback.rubric.level is None
    assert feedback.rubric.insufficient_kind == "too_short"
    assert feedback.suggestion.kind == "example"
    assert "specific example" in feedback.suggestion.text
    assert "not scored (the answer is too short to score)" in render(feedback, "en")
    assert "举一个你亲身经历的具体例子" in render(feedback, "zh")


def test_talking_points_never_contain_exemplar_text(sales: Flow, rd: Flow) -> None:
    feedbacks = [
        discovery_feedback(sales, EN_NO_RESULT, None),
        discovery_feedback(sales, "I asked questions.", None),
        incident_feedback(rd, ZH_NO_RESULT, None),
    ]
    sentences = [
        sentence.strip()
        for row in _exemplar_rows()
        for sentence in re.split(r"(?<=[.!?。！？；;])\s*", row["answer_text"])
        if len(sentence.strip()) >= 12
    ]
    assert len(sentences) > 500
    for feedback in feedbacks:
        question_points = {
            text
            for question in (*sales.questions, *rd.questions)
            for p in question.talking_points
            for text in p.values()
        }
        for point in feedback.talking_points:
            assert set(point.text.values()) <= question_points
        shown = (
            render(feedback, "en")
            + render(feedback, "zh")
            + json.dumps(feedback.to_dict(), ensure_ascii=False)
        )
        leaked = [s for s in sentences if s in shown and s not in EN_NO_RESULT and s not in ZH_NO_RESULT]
        assert leaked == []


# ---- retry and rendering ------------------------------------------------------------------------


def test_a_retry_shows_what_changed(sales: Flow) -> None:
    question = sales.question("customer_needs_discovery")
    points = [p["en"] for p in question.talking_points]
    first = discovery_feedback(
        sales, EN_NO_RESULT, scored(question, 2, covered=points[:1], missed=points[1:])
    )
    second = discovery_feedback(sales, EN_FULL, scored(question, 4, covered=points[:4], missed=points[4:]))
    change = compare(first.to_dict(), second)
    assert change.level_before == 2
    assert change.level_after == 4
    assert change.level_change == 2
    assert change.star_added == ["result"]
    assert change.star_lost == []
    assert change.length_change == second.delivery.length.count - first.delivery.length.count > 0
    assert change.talking_points_new == [question.talking_points[i] for i in (1, 2, 3)]
    english = render_comparison(change, "en")
    assert "Level: 2 → 4 (up 2)" in english
    assert "Structure: added the result" in english
    assert f"Newly covered: {points[1]}" in english
    chinese = render_comparison(change, "zh")
    assert "等级：2 → 4（提高 2 级）" in chinese
    assert "结构：新增了结果" in chinese
    back = render_comparison(compare(second, first), "en")
    assert "Level: 4 → 2 (down 2)" in back
    assert "Structure: the result is now missing" in back


def test_compare_refuses_different_questions(sales: Flow) -> None:
    question = sales.question("forecast_miss")
    other = build_feedback(EN_FULL, "en", question, None)
    with pytest.raises(ValueError, match="one question"):
        compare(discovery_feedback(sales, EN_FULL, None), other)


def test_render_works_in_both_languages_and_round_trips(sales: Flow, rd: Flow) -> None:
    english = discovery_feedback(sales, FILLER_HEAVY, None)
    chinese = incident_feedback(rd, ZH_FULL, None)
    for feedback in (english, chinese):
        data = json.loads(json.dumps(feedback.to_dict(), ensure_ascii=False))
        assert AnswerFeedback.from_dict(data) == feedback
        assert render(data, "en") == render(feedback, "en")
        headings: list[tuple[Language, str]] = [("en", "- Structure (STAR): "), ("zh", "- 结构（STAR）：")]
        for language, heading in headings:
            text = render(feedback, language)
            assert heading in text
            assert all(line.startswith("- ") for line in text.splitlines())
    assert "Suggestion: " in render(english, "en")
    assert "建议：" in render(english, "zh")
    assert english.suggestion.text in render(english, "en")
    assert chinese.suggestion.text in render(chinese, "zh")
    assert "Readability: " in render(chinese, "en")
    assert "characters per sentence" in render(chinese, "en")


def test_the_language_must_be_english_or_chinese(sales: Flow) -> None:
    with pytest.raises(ValueError, match="'en' or 'zh'"):
        build_feedback(EN_FULL, "fr", sales.question("forecast_miss"), None)  # type: ignore[arg-type]
