"""``python -m experiments.cli``: the ``tradebrain`` command."""

import sys

from experiments.cli.main import main

sys.exit(main())
