"""The ``tradebrain`` command line: a thin dispatcher that imports a command's module only when it runs.

``tradebrain --help`` and the parsers of every command import argparse and nothing heavy; each command's handler
imports what it needs (torch, SB3, FastAPI) when it is called. Argparse lives in this package only.
"""

from experiments.cli.main import EXAMPLES, build_parser, main, one_line

__all__ = ["EXAMPLES", "build_parser", "main", "one_line"]
