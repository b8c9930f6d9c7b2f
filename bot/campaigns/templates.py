"""Campaign message templates: invitation, reminder and confirmation, in English and Chinese.

The defaults live in ``dialogues/templates/<language>.yml`` (a translator edits them without
reading Python); a scheduler edits a campaign's own copy through the HR API and previews it.
Templates are Jinja2 in a sandbox (a template is input from a person, not code): the text part
is not escaped, the HTML part is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import StrictUndefined, Template
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from language import yaml_files

Kind = Literal[
    "invitation", "reminder", "confirmation", "slot_invitation", "slot_confirmation", "slot_reminder"
]
KINDS: tuple[Kind, ...] = (
    "invitation",
    "reminder",
    "confirmation",
    "slot_invitation",
    "slot_confirmation",
    "slot_reminder",
)
LANGUAGES = ("en", "zh")
PARTS = ("subject", "text", "html")
MAX_PART_CHARS = 20_000

SAMPLE = {
    "role": "R&D Engineer",
    "link": "https://jobs.example.com/chat?invite=SAMPLE-TOKEN",
    "telegram_link": "https://t.me/example_bot?start=SAMPLE-TOKEN",
    "expires": "2026-12-17 18:00 (Asia/Shanghai)",
    "unsubscribe": "https://jobs.example.com/campaigns/unsubscribe/SAMPLE",
    "reminder": "not_started",
    "slots": ["Tue 2027-01-12 10:00 (Asia/Shanghai)", "Wed 2027-01-13 14:30 (Asia/Shanghai)"],
    "slot": "Tue 2027-01-12 10:00 (Asia/Shanghai)",
    "location": "Building 3, room 201",
    "cutoff": "Mon 2027-01-11 10:00 (Asia/Shanghai)",
    "cancelled": False,
}
"""Values for previews."""


class TemplateProblemError(ValueError):
    """A template does not compile or render; the message names the part."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


_TEXT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)
_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class Templates:
    """The default templates, and rendering with a campaign's edits over them."""

    def __init__(self, defaults: dict[str, dict[str, dict[str, str]]]) -> None:
        self.defaults = defaults

    @classmethod
    def load(cls, folder: Path) -> Templates:
        defaults: dict[str, dict[str, dict[str, str]]] = {}
        for language in LANGUAGES:
            data = yaml_files.safe_load((folder / f"{language}.yml").read_text(encoding="utf-8")) or {}
            for kind in KINDS:
                defaults.setdefault(kind, {})[language] = {
                    part: str(data.get(kind, {}).get(part, "")) for part in PARTS
                }
        return cls(defaults)

    def source(self, kind: str, language: str, edits: dict[str, Any] | None = None) -> dict[str, str]:
        """The template's parts: the campaign's edit where it has one, else the default."""
        language = language if language in LANGUAGES else "en"
        base = dict(self.defaults[kind][language])
        edited = ((edits or {}).get(kind) or {}).get(language) or {}
        base.update({part: str(edited[part]) for part in PARTS if part in edited})
        return base

    def render(
        self, kind: str, language: str, values: dict[str, Any], edits: dict[str, Any] | None = None
    ) -> Rendered:
        return render_parts(self.source(kind, language, edits), values)


@lru_cache(maxsize=256)
def _compiled(part: str, source: str) -> Template:
    """Templates compile once per text (a thousand invitations render one template)."""
    return (_HTML if part == "html" else _TEXT).from_string(source)


def render_parts(parts: dict[str, str], values: dict[str, Any]) -> Rendered:
    rendered = {}
    for part in PARTS:
        try:
            rendered[part] = _compiled(part, parts.get(part, "")).render(**values).strip()
        except JinjaError as exc:
            raise TemplateProblemError(f"{part}: {exc}") from exc
    return Rendered(
        subject=" ".join(rendered["subject"].split()), text=rendered["text"], html=rendered["html"]
    )


def check_parts(parts: dict[str, str]) -> None:
    """Raise `TemplateProblemError` if the parts do not render with sample values."""
    for part, value in parts.items():
        if part not in PARTS:
            raise TemplateProblemError(f"{part}: unknown part (use {', '.join(PARTS)})")
        if len(value) > MAX_PART_CHARS:
            raise TemplateProblemError(f"{part}: longer than {MAX_PART_CHARS} characters")
    render_parts(parts, SAMPLE)
