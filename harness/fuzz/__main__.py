"""``python -m harness.fuzz``: the nightly differential fuzz run."""

import sys

from harness.fuzz.driver import main

sys.exit(main())
