"""docs/config-errors.md shows what the CLI prints: every ``$ tradebrain ...`` line of its text blocks is run and its
stderr must equal the lines the page shows under it; every config key is in the page's table."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.config import config_keys

PAGE = Path(__file__).resolve().parents[2] / "docs" / "config-errors.md"


def _examples() -> list[tuple[str, list[str]]]:
    """``(command, expected stderr lines)`` of every ``$ `` line in the page's ``text`` blocks."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"^```text\n(.*?)^```", PAGE.read_text(), re.M | re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out and line.strip():
                out[-1][1].append(line)
    return out


class _Stop(Exception):
    """Raised instead of training: the page's commands are checked up to the point where training would start."""


def _no_training(*args, **kwargs):
    raise _Stop


def test_the_page_has_examples_of_errors_and_of_a_warning():
    examples = _examples()
    assert len(examples) >= 5
    assert any("warning:" in line for _, lines in examples for line in lines)
    assert all(cmd.startswith("tradebrain ") and lines for cmd, lines in examples)


@pytest.mark.parametrize(("command", "expected"), _examples(), ids=[c for c, _ in _examples()])
def test_each_example_prints_what_the_page_shows(command, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module("experiments.training.train")  # the package exports a function of that name
    monkeypatch.setattr(module, "train", _no_training)
    try:
        code = main(shlex.split(command)[1:])
    except _Stop:
        code = None  # the checks passed and training would start
    err = capsys.readouterr().err
    assert err.splitlines() == expected
    is_error = any(": error: " in line for line in expected)
    assert code == (2 if is_error else None)
    assert not (tmp_path / "runs").exists()


def test_every_key_is_in_the_table_of_ranges():
    table = [line for line in PAGE.read_text().splitlines() if line.startswith("| `")]
    named = set()
    for row in table:
        cell = row.split("|")[1]
        keys = re.findall(r"`([^`]+)`", cell)
        section = keys[0].rsplit(".", 1)[0] + "." if "." in keys[0] else ""
        named.update(k if "." in k or not section else section + k for k in keys)
    assert set(config_keys()) <= named, sorted(set(config_keys()) - named)
