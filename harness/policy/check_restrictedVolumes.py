"""restrictedVolumes (restricted, v1.0+): only non-core volume types are permitted.

Restricted fields:
    spec.volumes[*]
Allowed values: every volume must use one of ``configMap``, ``csi``, ``downwardAPI``, ``emptyDir``,
``ephemeral``, ``image`` (Kubernetes 1.33+, in this v1.0 variant), ``persistentVolumeClaim``,
``projected``, ``secret``. A volume with no source is defaulted to ``emptyDir`` by the API server
and passes. Others are reported by type: hostPath, gcePersistentDisk, awsElasticBlockStore,
gitRepo, nfs, iscsi, glusterfs, rbd, flexVolume, cinder, cephfs, flocker, fc, azureFile,
vsphereVolume, quobyte, azureDisk, photonPersistentDisk, portworxVolume, scaleIO, storageos.

Overrides ``hostPathVolumes``.
Detail: ``volume "v" uses restricted volume type "hostPath"`` /
``volumes "a", "b" use restricted volume types "hostPath", "nfs"`` (volumes in spec order; types distinct, sorted).

May import: ``harness.policy._helpers``, ``_registry``, ``tables`` (pure).
"""

from __future__ import annotations

from harness.policy._helpers import Failure, join_quote, name, pluralize
from harness.policy._registry import variant
from harness.policy.tables import ALLOWED_VOLUME_TYPES, RESTRICTED_VOLUME_TYPES

ID = "restrictedVolumes"


def _restricted_type(volume: dict) -> str | None:
    if any(volume.get(k) is not None for k in ALLOWED_VOLUME_TYPES):
        return None
    for k in RESTRICTED_VOLUME_TYPES:
        if volume.get(k) is not None:
            return k
    return None  # no known source: defaulted to emptyDir


@variant(ID, 0)
def restricted_volumes_v1_0(meta: dict, spec: dict) -> Failure | None:
    bad, types = [], set()
    for v in spec.get("volumes") or ():
        if not isinstance(v, dict):
            continue
        t = _restricted_type(v)
        if t is not None:
            bad.append(name(v))
            types.add(t)
    if not bad:
        return None
    return Failure("restricted volume types",
                   f'{pluralize("volume", "volumes", len(bad))} {join_quote(bad)} {pluralize("uses", "use", len(bad))} '
                   f'{pluralize("restricted volume type", "restricted volume types", len(types))} '
                   f"{join_quote(sorted(types))}")
