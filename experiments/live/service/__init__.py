"""``tradebrain serve``: the live brain as a REST service (FastAPI on uvicorn) with a dashboard at ``/``.

Example::

    export TRADEBRAIN_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(24))")
    tradebrain serve --bundle runs/quickstart-.../bundle            # http://127.0.0.1:8000/ , /docs

The contract (routes, the token, every status and error body, warm-up, modes, learn) and the measured load and
faults: ``docs/service.md``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_ENV = "TRADEBRAIN_TOKEN"


def resolve_token(token_file: str | None, fallback_dir: Path) -> tuple[str, str]:
    """The bearer token and where it came from: ``--token-file``, ``$TRADEBRAIN_TOKEN``, or a new one written to
    ``fallback_dir/token`` (mode 0600)."""
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise FileNotFoundError(f"--token-file {path} does not exist; write a token (>= 16 characters) into it")
        return path.read_text(encoding="utf-8").strip(), str(path)
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    path = fallback_dir / "token"
    if not path.exists():
        fallback_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip(), str(path)
