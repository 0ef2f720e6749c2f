"""The config error: one line that names the key, the value and the fix."""

from __future__ import annotations

import difflib


class ConfigError(ValueError):
    """A config file or override that does not resolve; the message says which key and what to do."""


def _suggest(key: str, valid: list[str], noun: str = "keys") -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}valid {noun}: {', '.join(valid)}"
