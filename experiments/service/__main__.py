"""``python -m experiments.service --bundle DIR ...``: ``tradebrain serve`` without loading the CLI (torch-free)."""

from __future__ import annotations

import argparse
import sys

from experiments.service import cmd_serve, register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.service")
    register(parser.add_subparsers(dest="command", required=True))
    return cmd_serve(parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
