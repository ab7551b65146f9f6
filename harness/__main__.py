"""``python -m harness``: the ``pss-harness`` command."""

import sys

from harness.cli import main

sys.exit(main())
