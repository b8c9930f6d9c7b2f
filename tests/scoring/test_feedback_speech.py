"""Practice feedback on a spoken answer: speaking pace and long pauses (scoring.feedback)."""

from __future__ import annotations

from scoring.feedback import render, speech_delivery
from tests.helpers import sample_flow


def test_pace_is_words_a_minute_in_english_and_characters_in_chinese() -> None:
    english = speech_delivery({"text": " ".join(["word"] * 100), "speech_seconds": 60.0, "pauses": []}, "en")
    assert english is not None and (english.pace, english.unit, english.status) == (100, "words", "slow")
    chinese = speech_delivery({"text": "我" * 250, "speech_seconds": 60.0, "pauses": [2.5]}, "zh")
    assert chinese is not None and (chinese.pace, chinese.unit, chinese.status) == (250, "characters", "ok")
    assert chinese.pauses == [2.5] and not chinese.pauses_noted  # one pause of 2.5 s is normal thinking


def test_long_pauses_are_noted_and_rendered_in_both_languages() -> None:
    facts = {"text": " ".join(["word"] * 200), "speech_seconds": 60.0, "pauses": [2.2, 6.0]}
    speech = speech_delivery(facts, "en")
    assert speech is not None and speech.status == "fast" and speech.pauses_noted
    from scoring.feedback import build_feedback

    question = sample_flow("sales_manager").questions[0]
    feedback = build_feedback(facts["text"], "en", question, None, speech=facts)
    assert "Pace: 200 words a minute" in render(feedback, "en") and "2 long pauses (longest 6 s)" in render(
        feedback, "en"
    )
    assert "语速：每分钟 200" in render(feedback, "zh")
    assert feedback.to_dict()["speech"]["pace"] == 200


def test_typed_and_very_short_answers_have_no_pace() -> None:
    assert speech_delivery(None, "en") is None
    assert speech_delivery({"text": "yes", "speech_seconds": 1.0, "pauses": []}, "en") is None
