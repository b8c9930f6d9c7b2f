"""Response templates per language, from ``dialogues/responses/<lang>.yml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from language import yaml_files


class Responses:
    def __init__(self, templates: dict[str, dict[str, str]], default_language: str = "en") -> None:
        self.templates = templates
        self.default_language = default_language

    @classmethod
    def load(cls, directory: Path, default_language: str = "en") -> Responses:
        templates: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.yml")):
            data = yaml_files.safe_load(path.read_text(encoding="utf-8")) or {}
            templates[path.stem] = {str(k): str(v) for k, v in data.items()}
        if default_language not in templates:
            raise FileNotFoundError(
                f"{directory}/{default_language}.yml: no responses for the default language"
            )
        return cls(templates, default_language)

    @property
    def languages(self) -> list[str]:
        return sorted(self.templates)

    def render(self, key: str, language: str, **values: Any) -> str:
        table = self.templates.get(language) or self.templates[self.default_language]
        template = table.get(key) or self.templates[self.default_language][key]
        return template.format(**values) if values else template
