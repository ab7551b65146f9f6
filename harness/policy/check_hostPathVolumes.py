"""hostPathVolumes (baseline, v1.0+): HostPath volumes are forbidden.

Restricted fields:
    spec.volumes[*].hostPath
Allowed values: undefined/null.

Overridden at restricted by ``restrictedVolumes`` (which reports hostPath as a restricted type).
Detail: ``volume "a"`` / ``volumes "a", "b"`` (spec order).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, join_quote, name, pluralize
from harness.policy._registry import variant

ID = "hostPathVolumes"


@variant(ID, 0)
def host_path_volumes_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad = [name(v) for v in spec.get("volumes") or () if isinstance(v, dict) and v.get("hostPath") is not None]
    if not bad:
        return None
    return Failure("hostPath volumes", f'{pluralize("volume", "volumes", len(bad))} {join_quote(bad)}')
