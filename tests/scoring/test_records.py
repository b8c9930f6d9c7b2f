from __future__ import annotations

from flows.schema import parse_flow
from scoring.records import questions_from_flow

FLOW = """
role: backend_engineer
title: {en: Backend engineer, zh: 后端工程师}
languages: [en, zh]
competencies:
  - {id: teamwork, name: {en: Teamwork, zh: 团队合作}, weight: 1.0}
questions:
  - id: conflict
    competency: teamwork
    text: {en: Tell me about a conflict you resolved., zh: 请讲讲你解决过的一次冲突。}
    rubric:
      1: {en: Blames others., zh: 指责他人。}
      2: {en: Vague., zh: 含糊。}
      3: {en: Some actions., zh: 有一些行动。}
      4: {en: Clear actions and result., zh: 行动和结果清楚。}
      5: {en: Listened to both sides and measured the result., zh: 倾听双方并衡量结果。}
    talking_points:
      - {en: listened to both sides, zh: 倾听双方}
    reference_answers:
      - {en: I listened to both sides and we agreed a compromise., zh: 我倾听了双方，我们达成了妥协。}
closing: {en: Thank you!, zh: 谢谢！}
"""


def test_questions_from_flow_pick_one_language() -> None:
    flow = parse_flow(FLOW).flow
    (english,) = questions_from_flow(flow, "en")
    (chinese,) = questions_from_flow(flow, "zh")
    assert english.id == chinese.id == "conflict" and english.competency == "teamwork"
    assert english.text == "Tell me about a conflict you resolved."
    assert chinese.text == "请讲讲你解决过的一次冲突。"
    assert sorted(english.anchors) == [1, 2, 3, 4, 5] and chinese.anchors[1] == "指责他人。"
    assert english.talking_points == ["listened to both sides"]
    assert chinese.reference_answers == ["我倾听了双方，我们达成了妥协。"]
