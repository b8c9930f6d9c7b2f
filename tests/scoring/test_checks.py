"""The answer checks on real texts through the real scorers of the sample roles (MiniLM for
sales_manager, e5 for rd_engineer): each check fires on what it is for, with its reason in the
evidence, and no check fires on the flows' own reference answers nor on genuine answers of the
adversarial dev set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.robustness import sample_exemplars, sample_flow, sample_scorer
from scoring.checks import (
    Check,
    SourceText,
    check_copy,
    check_language,
    check_narrative,
    check_padding,
    check_restated,
    check_specifics,
    framing_units,
    has_first_person,
    repeated_share,
    shingles,
)
from scoring.duplicates import NearDuplicateIndex, jaccard, shingle_ids
from scoring.records import questions_from_flow
from scoring.scorer import Evidence, Scorer, ScoreResult, apply_caps

DEV = Path(__file__).resolve().parents[1] / "data" / "adversarial_dev.jsonl"


def dev_set(path: Path) -> list[dict[str, Any]]:
    """The rows of an adversarial dev set (JSON lines)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dev_rows(kind: str, role: str | None = None) -> list[dict[str, Any]]:
    rows = dev_set(DEV)
    return [r for r in rows if r["kind"] == kind and (role is None or r["role"] == role)]


@pytest.fixture(scope="module")
def sales() -> Scorer:
    return sample_scorer("sales_manager")


@pytest.fixture(scope="module")
def rd() -> Scorer:
    return sample_scorer("rd_engineer")


def failed(result: ScoreResult) -> list[str]:
    return [c.name for c in result.evidence.checks if not c.passed]


def shown_above_two(result: ScoreResult) -> bool:
    return (result.rounded_level or 0) > 2


RD = sample_flow("rd_engineer")
SALES = sample_flow("sales_manager")


def rd_question(prefix: str) -> str:
    """The id of the rd_engineer question whose id starts with ``prefix``."""
    return next(q.id for q in RD.questions if q.id.startswith(prefix))


INCIDENT = RD.questions[0]


def test_reference_answers_pass_every_check(sales: Scorer, rd: Scorer) -> None:
    for scorer, flow in ((sales, SALES), (rd, RD)):
        for question in flow.questions:
            for language in flow.languages:
                result = scorer.score(question.id, question.reference_answers[0][language])
                assert result.insufficient is None, (question.id, language, result.insufficient)
                assert failed(result) == [] and result.evidence.flags == []
                assert {c.name for c in result.evidence.checks} >= {"language", "padded", "copy", "on_topic"}


def test_genuine_dev_answers_are_not_flagged(sales: Scorer, rd: Scorer) -> None:
    scorers = {"sales_manager": sales, "rd_engineer": rd}
    rows = dev_rows("genuine_short") + dev_rows("genuine_good")
    flagged = []
    for row in rows:
        result = scorers[row["role"]].score(row["question_id"], row["text"])
        if result.insufficient or result.evidence.flags:
            flagged.append((row["id"], result.insufficient, result.evidence.flags))
    assert len(flagged) <= 0.03 * len(rows), flagged


def test_another_language_is_insufficient_evidence_with_its_reason(rd: Scorer, sales: Scorer) -> None:
    french = (
        "L'année dernière, notre service de commandes est tombé en panne pendant le pic du soir. J'étais "
        "responsable d'astreinte : j'ai d'abord fait un retour arrière, puis j'ai comparé les journaux de "
        "requêtes lentes et trouvé qu'un index n'était plus utilisé. Nous avons ajouté des alertes."
    )
    result = rd.score(INCIDENT.id, french)
    assert result.level is None and result.insufficient is not None
    assert result.insufficient.startswith("language:") and "'fr'" in result.insufficient
    assert "en, zh" in result.insufficient
    # Chinese with English product names stays Chinese; English is one of rd_engineer's languages
    assert rd.score(INCIDENT.id, INCIDENT.reference_answers[0]["zh"]).insufficient is None
    # sales_manager is English only: a Chinese answer is out of its languages
    chinese = sales.score(SALES.questions[0].id, INCIDENT.reference_answers[0]["zh"])
    assert chinese.insufficient is not None and chinese.insufficient.startswith("language:")
    assert check_language(
        "去年大促前一周，订单服务晚高峰出现大量超时，我先回滚再排查慢查询日志。", ["en", "zh"]
    ).passed


def test_padding_is_insufficient_evidence(rd: Scorer) -> None:
    weak = "I checked the logs and found the bug and fixed it."
    padded = rd.score(INCIDENT.id, " ".join([weak] * 8))
    assert padded.insufficient is not None and padded.insufficient.startswith("padded:")
    assert failed(padded) == ["padded"]
    assert repeated_share(INCIDENT.reference_answers[0]["en"]) < 0.05
    fillers = "嗯，那个，就是，然后，嗯，其实，那个，就是说，然后呢，嗯，我查了日志，然后，嗯，就是，好了。"
    assert not check_padding(fillers).passed


def test_copies_of_the_rubric_talking_points_and_question_are_insufficient(rd: Scorer, sales: Scorer) -> None:
    for language in ("en", "zh"):
        rubric = rd.score(INCIDENT.id, INCIDENT.rubric[5][language])
        assert rubric.insufficient is not None and "rubric (level 5)" in rubric.insufficient
        question = rd.score(INCIDENT.id, INCIDENT.text[language])
        assert question.insufficient is not None and question.insufficient.startswith("copy:")
    restated = sales.score(
        SALES.questions[0].id,
        "So the question is about when a customer asked for one thing but needed another. Yes, that has "
        "happened to me, the customer really needed something different, and I found out what it was.",
    )
    assert restated.insufficient is not None and "restates the question" in restated.insufficient
    for row in dev_rows("rubric_copy") + dev_rows("question_parrot"):
        result = (rd if row["role"] == "rd_engineer" else sales).score(row["question_id"], row["text"])
        assert not shown_above_two(result) or result.evidence.flags, row["id"]


def test_the_whole_rubric_pasted_with_its_labels_is_a_copy(rd: Scorer, sales: Scorer) -> None:
    """Every level at once is no single level's copy (sealed set 12k scored one at level 5)."""
    for scorer, question, language, label in (
        (rd, INCIDENT, "en", "Level {}: "),
        (rd, INCIDENT, "zh", "{}分："),
        (sales, SALES.questions[3], "en", "Level {}: "),
    ):
        pasted = " ".join(
            label.format(level) + texts[language] for level, texts in sorted(question.rubric.items())
        )
        result = scorer.score(question.id, pasted)
        assert result.insufficient is not None and "rubric (every level)" in result.insufficient, result
    # the fifteen rubric copies of that set (now dev data), three of them whole rubrics
    for row in dev_set(DEV.with_name("adversarial_dev9.jsonl")):
        if row["kind"] == "rubric_copy":
            result = (rd if row["role"] == "rd_engineer" else sales).score(row["question_id"], row["text"])
            assert not shown_above_two(result) or result.evidence.flags, row["id"]


def test_off_topic_and_another_questions_answer_are_insufficient(rd: Scorer, sales: Scorer) -> None:
    tomato = (
        "To make a simple tomato sauce, heat olive oil in a pan, add chopped garlic and onion and cook "
        "until soft. Add canned tomatoes, salt, pepper and a pinch of sugar, then simmer for twenty "
        "minutes. Finish with fresh basil and serve it over pasta with plenty of grated parmesan."
    )
    for scorer, question_id in ((rd, INCIDENT.id), (sales, SALES.questions[0].id)):
        result = scorer.score(question_id, tomato)
        assert result.insufficient is not None and result.insufficient.startswith("off-topic:"), result
        assert "off_topic" in failed(result)
    cat = (
        "我家的猫叫馒头，是一只三岁的英短蓝猫。它每天早上六点准时叫我起床要吃的，"
        "吃完就趴在窗台上晒太阳，晚上跑到我床上睡觉。"
    )
    assert rd.score(INCIDENT.id, cat).insufficient is not None


def test_keyword_lists_and_talking_points_are_capped_with_a_flag(rd: Scorer) -> None:
    keywords = (
        "monitoring, logs, rollback, root cause, tracing, post-mortem, rate limiting, alerts, P99 latency"
    )
    result = rd.score(INCIDENT.id, keywords)
    # a behavioural question: shown at the rubric's "no first-hand example" level (`LIST_CAP_LEVEL`)
    assert result.level is not None and result.level <= 1 and result.rounded_level == 1
    assert any(flag.startswith("keyword list:") for flag in result.evidence.flags)
    zh = rd.score(INCIDENT.id, "监控、日志、回滚、根因分析、链路追踪、限流、降级、复盘、告警")
    assert zh.level is not None and zh.level <= 2 and "keyword_list" in failed(zh)
    points = "\n".join(f"- {p['en']}" for p in INCIDENT.talking_points)
    listed = check_narrative(points, [p["en"] for p in INCIDENT.talking_points], behavioural=True)
    assert next(c.name for c in listed if not c.passed) == "talking_points"
    story = "Last year our payment API went down after a config push. I was on call, rolled it back in ten "
    story += "minutes, then found the bad timeout value in the diff and added a config check to CI."
    assert check_narrative(story, [], behavioural=True)[0].passed


def test_a_behavioural_answer_where_nobody_acts_is_capped(rd: Scorer) -> None:
    checks = check_narrative(
        "Incidents are usually found through monitoring, then the change is rolled back and the logs are "
        "compared, after which the root cause is fixed and a review is held.",
        [],
        behavioural=True,
    )
    assert [c.name for c in checks if not c.passed] == ["no_first_person"]


def test_near_duplicates_across_candidates_and_erasure() -> None:
    index = NearDuplicateIndex()
    original = INCIDENT.reference_answers[0]["en"]
    copied = original.replace("A week before", "Two weeks before").replace("92%", "90%")
    assert index.add(INCIDENT.id, "17", "a", original)
    assert index.check(INCIDENT.id, copied, owner="17").passed  # one's own earlier attempt
    flagged = index.check(INCIDENT.id, copied, owner="18")
    assert not flagged.passed and flagged.action == "cap" and (flagged.value or 0) > 0.8
    assert index.check(RD.questions[1].id, copied, owner="18").passed  # another question
    assert index.check(INCIDENT.id, RD.questions[1].reference_answers[0]["en"], owner="18").passed
    assert index.forget("17") == 1 and len(index) == 0
    assert index.check(INCIDENT.id, copied, owner="18").passed


def test_near_duplicate_similarity_on_shingle_hashes_is_the_jaccard_of_the_shingles() -> None:
    texts = [
        INCIDENT.reference_answers[0]["en"],
        INCIDENT.reference_answers[0]["en"].replace("A week before", "Two weeks before"),
        RD.questions[1].reference_answers[0]["en"],
        RD.questions[1].reference_answers[0]["zh"],
        RD.questions[1].reference_answers[0]["zh"][:40],
    ]
    for a in texts:
        for b in texts:
            grams_a, grams_b = shingles(a), shingles(b)
            ids = shingle_ids(grams_a)
            assert ids.dtype == np.uint64 and len(ids) == len(grams_a)
            expected = len(grams_a & grams_b) / len(grams_a | grams_b)
            assert jaccard(ids, shingle_ids(grams_b)) == pytest.approx(expected, abs=1e-12)


def test_generic_answers_are_capped_with_their_reason_and_genuine_ones_are_not(sales: Scorer) -> None:
    generic = [check_specifics(r["text"]) for r in dev_rows("generic")]
    assert sum(not c.passed for c in generic) >= 0.9 * len(generic)
    assert all(c.name == "generic" and c.action == "cap" for c in generic if not c.passed)
    for kind in ("genuine_short", "genuine_good"):
        assert all(check_specifics(r["text"]).passed for r in dev_rows(kind)), kind
    platitude = (
        "I'm a very customer-centric person. I always take the time to listen to my customers and "
        "understand their business. I believe that if you solve the real problem, revenue will follow."
    )
    result = sales.score(SALES.questions[0].id, platitude)
    assert result.level is not None and result.rounded_level is not None and result.rounded_level <= 2
    assert "generic" in failed(result)
    # a flag only where the cap held the level down (`Check.flag_when_capping`)
    uncapped = result.evidence.uncapped_level
    assert any(
        flag.startswith("generic: the answer could fit any question") for flag in result.evidence.flags
    ) == (uncapped is not None and uncapped > 2)
    zh = check_specifics(
        "我是一个学习能力很强的人，对新技术有浓厚的兴趣。我平时会看技术博客，遇到新东西上手很快。"
    )
    assert not zh.passed and zh.detail is not None and "habitual" in zh.detail
    story = check_specifics(
        "项目需要用 gRPC，我之前没用过。我花两天看官方教程，写了一个小 demo，一周内完成了接口迁移。"
    )
    assert story.passed


def test_reliability_per_question_says_how_many_exemplars_and_how_sure(sales: Scorer) -> None:
    report = {item.question_id: item for item in sales.reliability()}
    assert list(report) == [q.id for q in SALES.questions]
    for question in SALES.questions:
        item = report[question.id]
        own = sales.index.pool(question.id, question.competency).exemplars
        assert item.exemplars == sum(e.question_id == question.id for e in own) > 0
        assert item.pool == "question" and item.method == "stacker"
        assert item.expected_error is not None and 0 < item.expected_error < 2
        assert 0 < item.confidence <= 0.95
    # a question HR have just written: no exemplars of its own, scored from its rubric and references
    new = SALES.questions[0]
    others = [e for e in sample_exemplars(SALES) if e.question_id != new.id]
    fresh = Scorer(sales.embedder, questions_from_flow(SALES, "en"), others, material=sales.material)
    item = next(i for i in fresh.reliability() if i.question_id == new.id)
    assert item.exemplars == 0 and item.pool == "none" and item.method == "stacker"
    assert item.confidence <= report[new.id].confidence / 2 + 1e-9 and item.expected_error is not None
    assert item.to_dict()["exemplars"] == 0


def test_rubric_paraphrases_are_capped_with_their_reason(rd: Scorer, sales: Scorer) -> None:
    paraphrases = [r for r in dev_rows("rubric_copy") if "paraphrased" in r.get("note", "")]
    assert len(paraphrases) >= 20
    for row in paraphrases:
        scorer = rd if row["role"] == "rd_engineer" else sales
        result = scorer.score(row["question_id"], row["text"])
        assert not shown_above_two(result), row["id"]
        assert "rubric_paraphrase" in failed(result), (row["id"], failed(result))
        check = next(c for c in result.evidence.checks if c.name == "rubric_paraphrase")
        assert check.action == "cap" and check.reason and check.reason.startswith("rubric paraphrase:")
        assert check.reason in result.evidence.flags


DEV2 = DEV.with_name("adversarial_dev2.jsonl")


def test_short_honest_answers_tied_to_the_question_are_scored_without_a_generic_flag(rd: Scorer) -> None:
    """Shortness alone is not genericness: a one-line answer about this question's subject is scored
    as it is (low, if it deserves it); a short one that names nothing of the question is generic."""
    production = RD.questions[0].id
    for text in (
        "when things break in prod i usually just restart the service, that fixes it most of the time",
        "线上出问题我一般先重启，重启基本都能好。",
        "没有处理过线上故障，我之前主要做内部工具。",
    ):
        result = rd.score(production, text)
        assert result.assessed and "generic" not in failed(result), text
    platitude = "I am a hard worker and a real team player, and I never give up."
    assert not check_specifics(platitude, {"incide", "rollba", "monito"}).passed  # nothing of the question
    assert check_specifics("when prod breaks I restart the service", {"servic", "restar"}).passed
    rows = dev_set(DEV2)
    short = [r for r in rows if r["kind"] == "genuine_short" and r["role"] == "rd_engineer"]
    flagged = [r["text"] for r in short if "generic" in failed(rd.score(r["question_id"], r["text"]))]
    assert len(flagged) <= 1, flagged


def test_a_chinese_account_without_a_subject_is_told_in_the_first_person(rd: Scorer) -> None:
    """Chinese drops the subject when it is the speaker: "加了缓存" is "I added a cache"."""
    for question, text in (
        (RD.questions[2].id, "加了缓存，接口快了很多。"),
        (RD.questions[5].id, "给老的支付模块补了 60 多个单测，后来改动时发现了两个隐藏 bug。"),
    ):
        result = rd.score(question, text)
        assert result.assessed and "no_first_person" not in failed(result), text
    # a rubric describing an answer, or someone else acting, is not the speaker
    assert "no_first_person" in failed(
        rd.score(RD.questions[0].id, "候选人描述了故障的影响范围，说明了根因和改进措施。")
    )


def test_a_keyword_list_is_shown_below_an_honest_short_story(rd: Scorer) -> None:
    """A behavioural question's rubric starts at "no first-hand example": a list of keywords is shown
    at that level with its flag, so the weakest honest account is never below it."""
    production = RD.questions[0].id
    listed = rd.score(
        production,
        "monitoring, logs, rollback, root cause, tracing, post-mortem, rate limiting, alerts, P99 latency",
    )
    assert "keyword_list" in failed(listed) and listed.level is not None and listed.level <= 1
    assert listed.evidence.uncapped_level is None or listed.evidence.uncapped_level >= listed.level
    story = rd.score(production, "线上出问题我一般先重启，重启基本都能好。")
    assert story.assessed and story.evidence.flags == [] and story.level is not None
    assert story.level >= listed.level


def test_an_answer_to_another_question_of_the_flow_is_off_topic(rd: Scorer) -> None:
    """A good story told to the wrong question: closer to the other question's material and using
    that question's own words, not this one's."""
    learning = (
        "为了做日志检索，我两周内学会了 Elasticsearch。先看官方文档搞懂倒排索引和分片，再用一天的线上日志做了"
        "原型，踩了 mapping 爆炸的坑，改成显式 mapping 之后上线，检索从几分钟降到两秒。"
    )
    disagreement = rd_question("technical_disagree")
    result = rd.score(disagreement, learning)
    assert not result.assessed and result.insufficient is not None
    assert result.insufficient.startswith("off-topic: the answer is about another question")
    own = rd_question("learning_new")
    assert rd.score(own, learning).assessed


def test_an_enumeration_inside_a_sentence_is_not_a_keyword_list() -> None:
    """Commas inside a told sentence ("calls, emails, events") make short segments but few of the
    words: the answer is still a narrative. A list with a lead-in is still a list."""
    told = (
        "When I moved to the northern territory I had no accounts, so I mixed channels: calls, emails, "
        "meetups, referrals. The first month was slow, but by the end of the quarter I had built a "
        "pipeline I could forecast from."
    )
    assert check_narrative(told, [], behavioural=True)[0].passed
    listed = "What matters here: prospecting, cadences, referrals, events, LinkedIn, CRM hygiene, follow-up"
    failed_checks = [c for c in check_narrative(listed, [], behavioural=True) if not c.passed]
    assert failed_checks and failed_checks[0].name == "keyword_list"
    assert failed_checks[0].detail is not None and "of the words in fragments" in failed_checks[0].detail


def test_a_short_answer_naming_the_questions_subject_is_not_a_restatement() -> None:
    """A short, honest answer uses a few of the question's nouns; a restatement says most of what the
    question asks back. The words every question of the flow uses ("tell", "time") do not count."""
    change = next(q for q in SALES.questions if q.id == "leading_team_through_change")
    sources = [SourceText("question", t) for t in change.text.values()]
    framing = framing_units("\n".join(q.text.values()) for q in SALES.questions)
    assert framing == {"tell", "time"}
    short = check_restated(
        "I told everyone the territory split was final and closed the topic.", sources, framing
    )
    assert short.passed and short.detail is not None and "of the question said back" in short.detail
    restated = check_restated(
        "I had to get my sales team to adopt a change they were resisting, a new sales process, "
        "and I led it.",
        sources,
        framing,
    )
    assert not restated.passed and restated.action == "insufficient"


def test_a_story_from_another_job_is_off_topic_with_its_reason(rd: Scorer) -> None:
    """A well-told story about another job is close to any work story (e5 puts them near each other);
    set against the role's other questions it is about none of them."""
    shop = (
        "我以前在商场做服装店店长。有一年国庆前两个店员同时辞职，我先调整了排班，让老店员带新来的兼职，周末我自己"
        "顶班收银，又跟隔壁店借了一个人帮忙盘货，最后那个月销售额比去年同期还涨了百分之十五，顾客投诉也没有增加。"
    )
    design = rd_question("design_tradeoff")
    result = rd.score(design, shop)
    assert not result.assessed and result.insufficient is not None
    assert result.insufficient.startswith("off-topic:")
    check = next(c for c in result.evidence.checks if c.name == "off_topic")
    assert check.detail == "centred" and check.reason == result.insufficient
    assert "the role's other questions" in result.insufficient
    # its own reference answers stay on topic (`test_reference_answers_pass_every_check`)
    assert rd.score(design, RD.questions[1].reference_answers[0]["zh"]).assessed


DEV4 = DEV.with_name("adversarial_dev4.jsonl")


def test_a_weak_honest_answer_keeps_its_generic_check_but_is_flagged_only_when_the_cap_lowers_it(
    sales: Scorer, rd: Scorer
) -> None:
    """Product decision (issue 12): `generic` and `no_first_person` judge how an answer is told; a
    weak honest answer already at 2 or below says so through its level, so their reason is a flag HR
    see only when the cap lowered the level. Lists, copies and paraphrases are flagged whatever."""
    habit = (
        "I always try to ask a lot of questions to understand what customers really need, because what "
        "they ask for is often not what they need. That's how I approach every deal, and it usually "
        "works out well for both sides."
    )
    result = sales.score(SALES.questions[0].id, habit)
    assert "generic" in failed(result) and not shown_above_two(result)
    assert result.evidence.uncapped_level is None and result.evidence.flags == []
    zh = rd.score(
        "technical_disagreement",
        "我一般不会跟别人有分歧，领导怎么说我就怎么做。有时候觉得同事的方案不好，我也不会说，自己按自己的方式写就行。",
    )
    assert zh.assessed and not shown_above_two(zh) and zh.evidence.flags == []
    # the same checks on a level the stacker put above 2: capped, and now the flag says why
    quiet = Check("generic", False, 1.0, 6.0, "cap", "generic: fits any question", flag_when_capping=True)
    loud = Check("keyword_list", False, 0.8, 0.6, "cap", "keyword list: a list")
    high = ScoreResult("q", "c", 3.4, 3, 0.5, None, Evidence(), "m")
    capped = apply_caps(high, [quiet])
    assert capped.level == 2 and capped.evidence.uncapped_level == 3.4
    assert capped.evidence.flags == ["generic: fits any question"]
    low = ScoreResult("q", "c", 1.8, 2, 0.5, None, Evidence(), "m")
    assert apply_caps(low, [quiet]).evidence.flags == []
    assert apply_caps(low, [quiet, loud]).evidence.flags == ["keyword list: a list"]
    # 2.3 is shown at 2 with or without the cap: the shown level did not change, so no flag
    shown_at_two = apply_caps(ScoreResult("q", "c", 2.3, 2, 0.5, None, Evidence(), "m"), [quiet])
    assert shown_at_two.rounded_level == 2 and shown_at_two.evidence.flags == []


def test_a_chinese_account_is_the_speakers_unless_someone_else_does_every_action(rd: Scorer) -> None:
    """Chinese drops the subject when it is the speaker: a clause with a completed action (了, 过,
    当时, 后来) whose subject is not someone else is the speaker's, even when another clause's is."""
    told = "有次和同事对接口命名有争议，吵了几句，最后组长定了用他的方案。"
    assert has_first_person(told)
    result = rd.score("technical_disagreement", told)
    assert result.assessed and "no_first_person" not in failed(result)
    assert has_first_person("当时线上报警，先回滚，后来查了日志。")
    # someone else is the subject of every completed action, or nothing was done: nobody is the speaker
    assert not has_first_person("组长定了方案，后来他们改了接口。")
    assert not has_first_person("出现故障时应先止损，再定位根因，最后复盘。")
    assert not has_first_person("候选人描述了故障的影响范围，说明了根因和改进措施。")


def test_an_honest_weak_answer_is_not_a_copy_of_the_weak_rubric_levels(rd: Scorer) -> None:
    """The rubric's levels 1 and 2 describe weak answers; an honest weak answer says the same
    things. The copy and paraphrase checks look for the levels above the cap and the talking points."""
    weak = [
        ("design_tradeoff", "我们用了 Kafka，因为大家都在用，而且我比较熟，就没考虑别的。"),
        ("learning_new_technology", "看了些文章，照着教程做了一遍，后来项目里用上了。"),
        (
            "learning_new_technology",
            "I learned Docker by following a tutorial and then used it for our dev environment.",
        ),
    ]
    for question, text in weak:
        result = rd.score(question, text)
        assert result.assessed and result.evidence.flags == [], (text, failed(result))
        assert not {"copy", "rubric_paraphrase"} & set(failed(result)), text
    question = next(q for q in RD.questions if q.id == "design_tradeoff")
    sources = [SourceText(f"rubric (level {level})", t["zh"]) for level, t in question.rubric.items()]
    assert check_copy(question.rubric[1]["zh"], sources).passed
    top = check_copy(question.rubric[5]["zh"], sources)
    assert not top.passed and top.detail == "rubric (level 5)"


def test_an_english_story_of_another_question_is_off_topic_in_the_chinese_first_role(rd: Scorer) -> None:
    """An English answer is compared with each question's texts and exemplars in English: across
    languages every question of the role is about as far, and a story told to another question (an
    incident told to the code-quality question) got through."""
    incident = (
        "Around 2 a.m. one night the message consumer for warehouse events stopped making progress and "
        "lag climbed past 400k messages. I was on call. I paused the producers' retry storm first so we "
        "didn't make it worse, then looked at the consumer logs: one malformed message kept failing "
        "deserialisation, and the consumer retried it forever. I moved it to a dead-letter queue, the "
        "lag drained in forty minutes, and the next day I added a poison-message limit and an alert."
    )
    result = rd.score("improving_code_quality", incident)
    assert not result.assessed and result.insufficient is not None
    assert result.insufficient.startswith("off-topic: the answer is about another question")
    assert rd.score("production_incident", incident).assessed
    prepared = rd._questions["improving_code_quality"]
    assert set(prepared.by_language) == {"en", "zh"}


def flagged_ids(rows: list[dict[str, Any]], rd: Scorer, sales: Scorer) -> list[str]:
    """The ids of the rows whose answer is flagged or not scored by its role's scorer."""
    flagged = []
    for row in rows:
        scorer = rd if row["role"] == "rd_engineer" else sales
        result = scorer.score(row["question_id"], row["text"])
        if not result.assessed or result.evidence.flags:
            flagged.append(row["id"])
    return flagged


def test_genuine_answers_of_the_fourth_dev_set_are_not_flagged_and_lists_are(
    rd: Scorer, sales: Scorer
) -> None:
    """The fourth dev set was written blind to the scorer (issue 12); measured once before tuning."""
    rows = dev_set(DEV4)
    genuine = [r for r in rows if r["kind"] in ("genuine_good", "genuine_short")]
    flagged = flagged_ids(genuine, rd, sales)
    assert len(flagged) <= 0.03 * len(genuine), flagged
    for row in (r for r in rows if r["kind"] in ("keyword_list", "talking_points", "rubric_copy")):
        scorer = rd if row["role"] == "rd_engineer" else sales
        assert not shown_above_two(scorer.score(row["question_id"], row["text"])), row["id"]


def test_padding_that_says_the_same_few_things_in_varied_sentences_is_not_scored(sales: Scorer) -> None:
    """Under half of its content words distinct: the 4-gram repetition misses varied sentences."""
    padded = (
        "I sent a lot of emails. I sent many emails every day. I sent lots and lots of emails. Every day "
        "I sent emails. The emails worked because I sent so many emails to so many people."
    )
    check = check_padding(padded)
    assert not check.passed and check.detail == "the same words" and check.action == "insufficient"
    result = sales.score(SALES.questions[0].id, padded)
    assert not result.assessed and (result.insufficient or "").startswith("padded:")
    for question in (*SALES.questions, *RD.questions):
        for answer in question.reference_answers:
            assert all(check_padding(text).passed for text in answer.values())


DEV5 = DEV.with_name("adversarial_dev5.jsonl")


def test_a_nurses_story_told_to_a_sales_question_is_another_job_with_its_reason(sales: Scorer) -> None:
    """A well-told STAR story from another job is as close to a sales question as a weak answer is; it
    is closer still to accounts of that other work, more than any of the question's own exemplars."""
    nurse = (
        "Last spring I was the nurse in charge of a surgical ward on a night shift with two nurses off "
        "sick. A patient who had had her gallbladder removed that afternoon became confused and her "
        "blood pressure dropped. I called the on-call doctor, set up fluids as he prescribed, moved two "
        "stable patients so the sickest were near the station, and checked her observations every "
        "quarter of an hour. By morning she was stable, and I wrote up the staffing gap for the ward "
        "manager, who changed how the sickness cover is booked."
    )
    result = sales.score("customer_needs_discovery", nurse)
    assert not result.assessed and result.insufficient is not None
    check = next(c for c in result.evidence.checks if c.name == "off_topic")
    assert not check.passed and check.action == "insufficient" and check.detail == "another job"
    assert check.reason == result.insufficient and "other work" in result.insufficient
    assert check.value is not None and check.threshold is not None and check.value > check.threshold


def test_a_milk_tea_shop_story_told_to_an_engineering_question_is_another_job(rd: Scorer) -> None:
    shop = (
        "我之前在商场里管一家奶茶店，周末下午排队的人特别多，经常要等二十分钟。我观察了两个周末，发现煮珍珠和"
        "封口最耽误时间，就把珍珠改成提前分批煮好保温，又添了一台封口机，让一个店员专门负责打包外卖单。"
        "一个月后高峰期等待时间降到了八分钟左右，周末营业额涨了两成。"
    )
    result = rd.score(rd_question("performance_optimisation"), shop)
    assert not result.assessed and result.insufficient is not None
    assert result.insufficient.startswith("off-topic:")


def test_a_genuine_answer_that_mentions_another_job_is_not_another_job(sales: Scorer, rd: Scorer) -> None:
    """Whose job, not which words: selling to a hospital, or building software for its nurses, is still
    the role's own work."""
    hospital = (
        "A hospital group asked us for 200 more tablets for their wards because nurses said handovers took "
        "too long. I asked to join two shift handovers before quoting, and saw the tablets were fine: "
        "nurses were re-typing notes from the old system. I proposed our integration with their records "
        "system and 30 tablets instead of 200, a much smaller deal. Handovers got ten minutes shorter on "
        "the pilot ward, they rolled it out to every ward and renewed for three years."
    )
    result = sales.score("customer_needs_discovery", hospital)
    assert result.assessed and result.evidence.flags == [], result.insufficient
    assert "off_topic" not in failed(result)
    delivery = (
        "我在外卖平台做派单服务，晚高峰给骑手派一单要两秒多，餐厅出餐了骑手还没接单。"
        "我用 profiler 定位到每次派单都重新算所有骑手到餐厅的路线，就改成按网格缓存距离，"
        "只给前二十个候选骑手算精确路线，派单耗时降到两百毫秒。"
    )
    result = rd.score(rd_question("performance_optimisation"), delivery)
    assert result.assessed and "off_topic" not in failed(result), result.insufficient


def test_the_fifth_dev_sets_genuine_answers_pass_and_stories_of_other_jobs_are_off_topic(
    rd: Scorer, sales: Scorer
) -> None:
    """The fifth dev set (issue 12): stories from other jobs and about other competencies, en and zh,
    and genuine answers beside them, some set in other trades' settings (a hospital customer, a
    restaurant-supply job, a food-delivery platform)."""
    rows = dev_set(DEV5)
    genuine = [r for r in rows if r["kind"] in ("genuine_good", "genuine_short")]
    flagged = flagged_ids(genuine, rd, sales)
    assert len(flagged) <= 0.03 * len(genuine), flagged
    shown = [
        row["id"]
        for row in rows
        if row["kind"] == "off_topic"
        and shown_above_two(
            (rd if row["role"] == "rd_engineer" else sales).score(row["question_id"], row["text"])
        )
    ]
    assert len(shown) <= 0.25 * sum(r["kind"] == "off_topic" for r in rows), shown


DEV6 = DEV.with_name("adversarial_dev6.jsonl")
DEV7 = DEV.with_name("adversarial_dev7.jsonl")


def test_stories_from_life_outside_work_are_off_topic_with_their_reason(rd: Scorer, sales: Scorer) -> None:
    """A robot-vacuum review told to the design question, a holiday in Japan told to the pipeline
    question, a quarrel about getting a dog told to the disagreement question (the seventh dev set, a
    sealed set once): each leans towards accounts of life outside work (`scoring.background`) more
    than any of the question's own exemplars."""
    rows = {r["id"]: r for r in dev_set(DEV7)}
    for key in ("h-0078", "h-0094", "h-0177"):
        row = rows[key]
        result = (rd if row["role"] == "rd_engineer" else sales).score(row["question_id"], row["text"])
        assert not result.assessed and result.insufficient is not None, key
        check = next(c for c in result.evidence.checks if c.name == "off_topic")
        assert not check.passed and check.detail == "life outside work", (key, check.reason)
        assert "life outside work" in result.insufficient


def test_chinese_padding_in_varied_sentences_is_not_scored(rd: Scorer) -> None:
    """Chinese padding keeps more of its character pairs distinct than English padding keeps words:
    under 75% distinct is the same few things over and over; genuine Chinese answers are above 80%."""
    padded = (
        "代码质量非常重要，我一直觉得代码质量很重要。写测试对代码质量有帮助，测试多了代码质量就好了，"
        "代码质量好了问题就少了，问题少了大家就轻松了。所以代码质量真的很重要，测试也很重要，"
        "评审也很重要，这些都很重要，我们都应该重视代码质量，重视测试。"
    )
    check = check_padding(padded)
    assert not check.passed and check.detail == "the same words" and check.threshold == 0.75
    result = rd.score(rd_question("improving_code_quality"), padded)
    assert not result.assessed and (result.insufficient or "").startswith("padded:")
    for row in dev_set(DEV7):
        if row["kind"].startswith("genuine") and row["lang"] == "zh":
            assert check_padding(row["text"]).passed, row["id"]


def test_a_terse_english_account_without_i_is_the_speakers() -> None:
    """English drops "I" in a terse account: a sentence that starts with a past-tense verb is the
    speaker's; a report whose past-tense verbs have subjects, or follow a comma, is not."""
    assert has_first_person(
        "Rolled out weekly pipeline reviews; got two senior reps on board first. Adoption hit 90% in a month."
    )
    assert has_first_person("Then migrated the queue and fixed the alerts.")
    assert not has_first_person("The bank held rates steady on Tuesday, led by a cautious board.")
    assert not has_first_person("Based on the data, the forecast was wrong. Speed matters.")


def test_genuine_answers_of_the_sixth_and_seventh_dev_sets_are_not_flagged(rd: Scorer, sales: Scorer) -> None:
    """The sixth dev set (stories from life outside work and of other questions, beside genuine
    answers that mention life outside work) and the seventh (a sealed set once, issue12h)."""
    for path in (DEV6, DEV7):
        genuine = [r for r in dev_set(path) if r["kind"] in ("genuine_good", "genuine_short")]
        flagged = flagged_ids(genuine, rd, sales)
        assert len(flagged) <= 0.03 * len(genuine), (path.name, flagged)


def test_no_adversarial_kind_of_the_seventh_dev_set_is_shown_above_two(rd: Scorer, sales: Scorer) -> None:
    """Keyword lists, copies, padding, off-topic stories, other languages and parroted questions of
    the seventh dev set: at most 5% of each kind shown above level 2 (issue 12's target)."""
    shown: dict[str, list[str]] = {}
    total: dict[str, int] = {}
    for row in dev_set(DEV7):
        if row["kind"] in ("genuine_good", "genuine_short", "generic"):
            continue
        total[row["kind"]] = total.get(row["kind"], 0) + 1
        result = (rd if row["role"] == "rd_engineer" else sales).score(row["question_id"], row["text"])
        if shown_above_two(result) and not result.evidence.flags:
            shown.setdefault(row["kind"], []).append(row["id"])
    assert all(len(ids) <= 0.05 * total[kind] for kind, ids in shown.items()), shown


def test_padding_made_of_platitudes_is_not_scored(sales: Scorer) -> None:
    """Corporate platitudes fit any answer; an answer mostly made of them says nothing (en, zh)."""
    english = (
        "Great question. In today's fast-paced, ever-changing market, pipeline is more important than "
        "ever. I called some people. Communication is key, alignment is key, and going forward it's all "
        "about leveraging best-in-class tools to drive value and synergy across the board."
    )
    check = check_padding(english)
    assert not check.passed and check.detail == "stock phrases"
    result = sales.score(SALES.questions[0].id, english)
    assert not result.assessed and (result.insufficient or "").startswith("padded:")
    chinese = (
        "团队协作在当今时代背景下尤为重要，是不可或缺的一环。我找过别的团队帮忙。"
        "只有齐心协力、同舟共济，才能实现更大的价值，取得更好的成绩，创造更美好的未来。"
    )
    assert not check_padding(chinese).passed
    # a genuine answer may say that something mattered
    assert check_padding(
        "The renewal was very important for the quarter, so I met the CFO twice, rebuilt the business "
        "case around their support costs and we signed a three-year deal at 4% below list."
    ).passed


def test_a_list_of_the_questions_own_terms_is_scored_as_a_list_not_called_off_topic(rd: Scorer) -> None:
    """A short list of the incident question's terms embeds far from told answers (below the least
    of its exemplars); the candidate is told it is a list, capped, not that it misses the question.
    A list of another subject's words stays off-topic."""
    terms = (
        "monitoring, alerting, rollback, root cause analysis, postmortem, on-call, incident commander, "
        "SLO, runbook"
    )
    result = rd.score(INCIDENT.id, terms)
    assert result.insufficient is None
    assert "keyword_list" in failed(result) and "off_topic" not in failed(result)
    assert result.rounded_level == 1  # a list for a behavioural question (LIST_CAP_LEVEL)
    assert any("list of keywords" in flag for flag in result.evidence.flags)
    recipe = rd.score(
        INCIDENT.id, "tomatoes, basil, garlic, olive oil, salt, pepper, pasta, parmesan, oregano"
    )
    assert recipe.insufficient is not None and recipe.insufficient.startswith("off-topic")
