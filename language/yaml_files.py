"""YAML read with libyaml, PyYAML's C parser, where PyYAML was built with it (its wheels are).

The pure-Python parser takes 0.43 s for the larger sample flow and is run at every start, every
publication and every catalog refresh; libyaml takes 0.02 s. Both give the same data and the same
line marks for error messages."""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through the fastest safe loader."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader)


def compose(text: str) -> yaml.Node | None:
    """``yaml.compose`` (nodes with their line marks) through the fastest safe loader."""
    return yaml.compose(text, Loader=SafeLoader)
