"""``tradebrain serve``: the live brain as a REST service (FastAPI on uvicorn) with a dashboard at ``/``.

Example::

    export TRADEBRAIN_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(24))")
    tradebrain serve --bundle runs/quickstart-.../bundle            # http://127.0.0.1:8000/ , /docs
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

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


def cmd_serve(args: argparse.Namespace) -> int:
    """``tradebrain serve --bundle DIR [--host 127.0.0.1] [--port 8000] [--store FILE] [--token-file FILE]``."""
    import uvicorn

    from experiments.config import ConfigError
    from experiments.service.app import create_app

    bundle = Path(args.bundle)
    store = Path(args.store) if args.store else bundle.parent / "live" / "journal.sqlite"
    token, source = resolve_token(args.token_file, store.parent)
    if len(token) < 16:
        raise ConfigError(
            f"the bearer token from {source} has {len(token)} characters, at least 16 are needed; e.g. "
            f'export {TOKEN_ENV}=$(python -c "import secrets; print(secrets.token_urlsafe(24))")'
        )
    app = create_app(bundle, store, token, synchronous=args.synchronous)
    logging.getLogger("tradebrain.service").setLevel(logging.INFO)
    print(f"tradebrain serve: bundle {bundle}, store {store}, token from {source}", file=sys.stderr, flush=True)
    print(f"dashboard: http://{args.host}:{args.port}/   API docs: http://{args.host}:{args.port}/docs", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("serve", help="serve a bundle over REST (FastAPI) with a dashboard; bound to 127.0.0.1")
    p.add_argument("--bundle", required=True, help="bundle folder written by `tradebrain export`")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--store", help="SQLite journal (default BUNDLE/../live/journal.sqlite)")
    p.add_argument("--token-file", help=f"file holding the bearer token (default ${TOKEN_ENV}, else a new one)")
    p.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite durability")
    p.set_defaults(func=cmd_serve)
