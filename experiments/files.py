"""Files every job writes the same way: JSON written atomically, file digests and the package version.

This module imports nothing else of the project: the config, walk-forward and live packages all build on it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["package_version", "sha256_file", "write_json_atomic"]


def write_json_atomic(path: str | Path, payload: Any, *, indent: int | None = None) -> None:
    """Write ``payload`` as strict JSON to ``path``: a temporary file in the same folder, flushed to disk, then
    ``os.replace``, so a reader sees the old file or the new one, never half of one.

    Raises:
        ValueError: ``payload`` holds NaN or an infinity (encode them first, e.g. with
            :func:`experiments.evaluation.backtest.encode_json`); the old file is kept.
        TypeError: ``payload`` holds an object JSON does not know; the old file is kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=indent, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_version() -> str:
    """The installed ``tradebrain`` version (``0+unknown`` when the package is not installed)."""
    try:
        return importlib.metadata.version("tradebrain")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
