"""Benchmarks: each prints what it measured with its settings; ``--out`` also writes the result as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: str | Path | None, result: Any, indent: int = 2) -> None:
    """Write ``result`` as JSON to ``path`` (folders created; nothing when ``path`` is None).

    numpy scalars become plain numbers, anything else JSON does not know becomes its ``str``.
    """
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=indent, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    Path(path).write_text(text + "\n")
