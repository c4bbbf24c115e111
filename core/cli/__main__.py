"""``python -m core.cli``: the ``researchops`` command."""

import sys

from core.cli.main import main

sys.exit(main())
