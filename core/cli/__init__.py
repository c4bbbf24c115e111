"""The ``researchops`` command: every subcommand's argparse wiring lives in this package.

Each module translates arguments and calls ``core``; none holds logic of its own.
``main`` builds the parser; ``serve``, ``worker``, ``load``, ``runs`` each ``register`` their
subcommands; ``render`` turns results and tables into terminal text.
"""

from core.cli.main import main

__all__ = ["main"]
