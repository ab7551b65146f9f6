"""``python -m harness.fuzz``: the nightly differential fuzz run (``harness.fuzz.driver.main``).

``--target vap`` holds the PSS-in-CEL ValidatingAdmissionPolicy set to PodSecurity (``harness.fuzz.vap``).

May import: ``harness.fuzz.driver`` and ``harness.fuzz.vap``.
"""

import sys

from harness.fuzz.driver import main
from harness.fuzz.vap import run_vap

sys.exit(main(targets={"vap": run_vap}))
