"""Optional: a chat model phrases an answer from a retrieved passage, citing it, never beyond it.

Off by default; the bot answers by quoting the passage. When HR configure a model (an
OpenAI-compatible endpoint or Ollama, through langchain's chat-model interface), `PassagePhraser`
asks it to answer the candidate's question from the passage alone and to cite it as ``[1]``.
A reply without the citation, a model that says the passage doesn't answer, an error or a timeout
all fall back to the quoted passage: the model can only make an answer read better, never make
one up. Scoring never uses a language model.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from knowledge.faq import KnowledgeAnswer

if TYPE_CHECKING:  # langchain is imported when a chat model is configured (it is off by default)
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

NOT_IN_PASSAGE = "NOT_IN_PASSAGE"

SYSTEM = (
    "You answer a job candidate's question for the company's recruiting team. Use only the passage "
    "given, never outside knowledge. Answer in {language} in at most three sentences and end with the "
    "citation [1]. If the passage does not answer the question, reply exactly " + NOT_IN_PASSAGE + "."
)
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese"}


class PassagePhraser:
    def __init__(self, model: BaseChatModel, timeout: float = 10.0) -> None:
        self.model = model
        self.timeout = timeout

    async def phrase(self, question: str, found: KnowledgeAnswer, language: str) -> KnowledgeAnswer:
        """``found`` (a passage) with its text phrased by the model, or unchanged when it can't be."""
        if found.kind != "passage":
            return found
        from langchain_core.messages import HumanMessage, SystemMessage

        messages = [
            SystemMessage(SYSTEM.format(language=LANGUAGE_NAMES.get(language, "English"))),
            HumanMessage(f"Passage [1] ({found.source}):\n{found.text}\n\nQuestion: {question}"),
        ]
        try:
            reply = await asyncio.wait_for(self.model.ainvoke(messages), timeout=self.timeout)
        except Exception as exc:  # any failure of an optional model falls back to the quote
            log.warning("the chat model failed (%s); quoting the passage", type(exc).__name__)
            return found
        text = reply.text.strip() if isinstance(reply.text, str) else ""
        if not text or NOT_IN_PASSAGE in text or "[1]" not in text:
            return found
        return replace(found, text=text, phrased=True)


def chat_model(provider: str, model: str, base_url: str, api_key: str | None) -> BaseChatModel:
    """The configured chat model; its package (langchain-openai or langchain-ollama) must be installed."""
    packages = {"openai": ("langchain_openai", "ChatOpenAI"), "ollama": ("langchain_ollama", "ChatOllama")}
    if provider not in packages:
        raise ValueError(f"unknown chat model provider {provider!r}; choose openai or ollama")
    module_name, class_name = packages[provider]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = module_name.replace("_", "-")
        raise RuntimeError(f"knowledge.llm.provider {provider} needs `pip install {package}`") from exc
    options: dict[str, object] = {"model": model, "temperature": 0}
    if base_url:
        options["base_url"] = base_url
    if provider == "openai" and api_key:
        options["api_key"] = api_key
    built: BaseChatModel = getattr(module, class_name)(**options)
    return built
