"""``python -m harness.fuzz``: the nightly differential fuzz run (``harness.fuzz.driver.main``).

May import: ``harness.fuzz.driver``.
"""

import sys

from harness.fuzz.driver import main

sys.exit(main())
