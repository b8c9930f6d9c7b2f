"""The architecture's rules that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from bot.settings import ROOT

# Who may import whom: an arrow only points down (DESIGN.md).
ALLOWED = {
    "channels": {"bot", "actions", "scoring", "knowledge", "flows", "language"},
    "bot": {"actions", "scoring", "knowledge", "flows", "language"},
    "actions": {"scoring", "knowledge", "flows", "language"},
    "scoring": {"flows", "language"},
    "knowledge": {"flows", "language"},
    "flows": {"language"},
    "language": set(),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_layers_only_import_downwards() -> None:
    offences = []
    for layer, allowed in ALLOWED.items():
        for path in (ROOT / layer).rglob("*.py"):
            for imported in imports_of(path) & set(ALLOWED):
                if imported != layer and imported not in allowed:
                    offences.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert offences == []


def test_layers_form_no_cycle() -> None:
    """Walk the allowed arrows: no layer may reach itself, so no two layers import each other."""

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(ALLOWED[start])
        while todo:
            layer = todo.pop()
            if layer not in seen:
                seen.add(layer)
                todo.extend(ALLOWED[layer])
        return seen

    assert [layer for layer in ALLOWED if layer in reachable(layer)] == []


def test_libraries_stay_pure() -> None:
    impure = {"sqlmodel", "sqlalchemy", "fastapi", "httpx", "starlette"}
    for layer in ("scoring", "knowledge", "flows", "language"):
        for path in (ROOT / layer).rglob("*.py"):
            assert not imports_of(path) & impure, path


def test_responses_exist_in_every_language_with_the_same_placeholders() -> None:
    tables = {
        path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in (ROOT / "dialogues" / "responses").glob("*.yml")
    }
    assert set(tables) == {"en", "zh"}
    assert set(tables["en"]) == set(tables["zh"])
    for key, text in tables["en"].items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", tables["zh"][key])), key


def test_every_action_the_policy_names_is_registered() -> None:
    from actions.interview import interview_actions

    registered = {action.name() for action in interview_actions()}
    policy = (ROOT / "bot" / "policy.py").read_text(encoding="utf-8")
    named = set(re.findall(r'"((?:action|utter)_\w+)"', policy))
    named |= {f"utter_{intent}" for intent in ("thanks", "goodbye")}
    assert named <= registered, named - registered
