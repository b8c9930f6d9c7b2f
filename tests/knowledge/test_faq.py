"""The FAQ and document library: loading, splitting, answering, and the optional chat model."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from bot.settings import ROOT
from knowledge.faq import KnowledgeBase, load_faq_files, split_documents
from knowledge.llm import PassagePhraser
from language.embeddings import load_embedder
from language.vector_cache import CachedEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FAQ = sorted((ROOT / "dialogues" / "faq").glob("*.yml"))
DOCUMENTS = sorted((ROOT / "dialogues" / "documents").glob("*.md"))


@pytest.fixture(scope="module")
def base() -> KnowledgeBase:
    entries, problems = load_faq_files(FAQ)
    assert problems == []
    cache = ROOT / "var" / "cache" / "vectors"
    return KnowledgeBase(entries, split_documents(DOCUMENTS), CachedEmbedder(load_embedder("e5"), cache))


def test_sample_faq_has_thirty_entries_in_each_language() -> None:
    entries, _ = load_faq_files(FAQ)
    assert sum(1 for e in entries if e.answer.get("en")) >= 30
    assert sum(1 for e in entries if e.answer.get("zh")) >= 30


def test_faq_problems_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "scope: company\nentries:\n"
        "  - id: one\n    questions: {en: ['a']}\n    answer: {en: 'sure'}\n"
        "  - id: one\n    questions: {en: ['b'], zh: ['乙']}\n    answer: {en: 'nope', zh: '不'}\n",
        encoding="utf-8",
    )
    _, problems = load_faq_files([path])
    assert [str(p) for p in problems] == [
        f"{path}:3: one: no zh questions or answer",
        f"{path}:6: duplicate FAQ id 'one' (also bad.yml:3)",
    ]
    broken = tmp_path / "broken.yml"
    broken.write_text("entries:\n  - id: [\n", encoding="utf-8")
    (problem,) = load_faq_files([broken])[1]
    assert problem.path == str(broken) and "YAML syntax error" in problem.message


def test_documents_are_split_into_passages_with_their_heading() -> None:
    passages = split_documents(DOCUMENTS)
    assert {p.language for p in passages} == {"en", "zh"}
    assert all(len(p.text) <= 700 for p in passages)
    assert any(p.source.startswith("candidate_handbook.md › ") for p in passages)


def test_answers_follow_the_role_and_language(base: KnowledgeBase) -> None:
    sales = base.answer("How much does this job pay?", "en", "sales_manager")
    engineer = base.answer("How much does this job pay?", "en", "rd_engineer")
    assert sales.kind == engineer.kind == "faq"
    assert sales.entry_id == "sales_salary_range" and engineer.entry_id == "rd_salary_range"
    chinese = base.answer("薪资范围是多少？", "zh", "sales_manager")
    assert chinese.entry_id == "sales_salary_range" and "新元" in chinese.text


def test_unanswerable_question_gets_no_confident_answer(base: KnowledgeBase) -> None:
    # At most a hedged "this may answer it" (and the question goes to HR as well).
    for question in ("Can I bring my dog to the office?", "你们CEO叫什么名字？"):
        found = base.answer(question, "zh" if "你" in question else "en", "sales_manager")
        assert found.kind == "none" or (found.kind == "faq" and found.hedged)


def test_chat_model_phrases_a_passage_only_with_its_citation(base: KnowledgeBase) -> None:
    passage = next(p for p in base.passages if p.language == "en")
    from knowledge.faq import KnowledgeAnswer

    found = KnowledgeAnswer("passage", passage.text, None, passage.source, 0.9)

    def phrase(reply: str) -> KnowledgeAnswer:
        phraser = PassagePhraser(FakeListChatModel(responses=[reply]))
        return asyncio.run(phraser.phrase("What is this?", found, "en"))

    cited = phrase("Northwind builds supply-chain software [1].")
    assert cited.phrased and cited.text == "Northwind builds supply-chain software [1]."
    assert phrase("Northwind builds supply-chain software.") == found  # no citation: the quote
    assert phrase("NOT_IN_PASSAGE") == found
