"""Pod-editing primitives shared by the mutation operators and the strategies. Pure.

What lives here: the image and pod name every generated pod uses, securityContext accessors
(``sc`` creates one, ``peek`` only reads), the container visitor, builders for seccomp and
AppArmor profile fields and probe handlers, the annotation keys of a container, the rule by
which a profile annotation and its field agree (API validation requires it), and one valid
example source for every volume type ``harness.policy.tables`` names.

May import: ``harness.policy.tables`` (and the standard library).
"""

from __future__ import annotations

from harness.policy.tables import (ALLOWED_VOLUME_TYPES, APPARMOR_ANNOTATION_PREFIX, LOCALHOST_ANNOTATION_PREFIX,
                                   RESTRICTED_VOLUME_TYPES, SECCOMP_CONTAINER_ANNOTATION_PREFIX,
                                   SECCOMP_POD_ANNOTATION)

__all__ = [
    "IMAGE",
    "POD_NAME",
    "VOLUME_SOURCES",
    "all_containers",
    "apparmor_key",
    "apparmor_profile",
    "container",
    "handler",
    "peek",
    "pod_sc",
    "profile_annotation_matches",
    "sc",
    "seccomp_key",
    "seccomp_profile",
]

IMAGE = "registry.k8s.io/pause:3.10"
POD_NAME = "fuzz"

#: a source the API server accepts for each volume type (``""``: a volume with no source, defaulted to emptyDir)
VOLUME_SOURCES: dict[str, dict | None] = {
    "hostPath": {"path": "/var/run"},
    "nfs": {"server": "nfs.example.com", "path": "/export"},
    "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0},
    "rbd": {"monitors": ["10.0.0.1:6789"], "image": "img"},
    "cephfs": {"monitors": ["10.0.0.1:6789"]},
    "glusterfs": {"endpoints": "ep", "path": "vol"},
    "fc": {"targetWWNs": ["500a0982991b8dc5"], "lun": 0},
    "flexVolume": {"driver": "example.com/x"},
    "azureDisk": {"diskName": "d", "diskURI": "https://example.com/d"},
    "azureFile": {"secretName": "s", "shareName": "share"},
    "gcePersistentDisk": {"pdName": "pd"},
    "awsElasticBlockStore": {"volumeID": "vol-1"},
    "cinder": {"volumeID": "v"},
    "vsphereVolume": {"volumePath": "[ds] vol"},
    "portworxVolume": {"volumeID": "v"},
    "scaleIO": {"gateway": "https://gw.example.com", "system": "s", "secretRef": {"name": "s"}, "volumeName": "v"},
    "storageos": {"volumeName": "v"},
    "quobyte": {"registry": "reg.example.com:7861", "volume": "v"},
    "flocker": {"datasetName": "d"},
    "photonPersistentDisk": {"pdID": "p"},
    "gitRepo": {"repository": "https://example.com/r.git"},
    "configMap": {"name": "cm"},
    "secret": {"secretName": "s"},
    "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
    "emptyDir": {},
    "projected": {"sources": [{"configMap": {"name": "cm"}}]},
    "persistentVolumeClaim": {"claimName": "pvc"},
    "csi": {"driver": "csi.example.com"},
    "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}},
    "image": {"reference": IMAGE},
    "": None,
}

_missing = [t for t in (*RESTRICTED_VOLUME_TYPES, *ALLOWED_VOLUME_TYPES) if t not in VOLUME_SOURCES]
if _missing:
    raise RuntimeError(f"harness/fuzz/pods.py: VOLUME_SOURCES has no example source for volume type(s) {_missing} "
                       "of harness.policy.tables; add one the API server accepts")


def sc(obj: dict) -> dict:
    """``obj``'s securityContext for writing (created when it has none)."""
    ctx = obj.get("securityContext")
    if not isinstance(ctx, dict):
        ctx = obj["securityContext"] = {}
    return ctx


def peek(obj: dict) -> dict:
    """``obj``'s securityContext for reading (a throwaway ``{}`` when it has none: nothing is added)."""
    ctx = obj.get("securityContext")
    return ctx if isinstance(ctx, dict) else {}


def pod_sc(pod: dict) -> dict:
    """The pod's ``spec.securityContext`` for writing."""
    return sc(pod["spec"])


def all_containers(spec: dict, ephemeral: bool = False) -> list[dict]:
    """Init containers then containers (then ephemeral containers, with ``ephemeral``)."""
    keys = ("initContainers", "containers", "ephemeralContainers") if ephemeral else ("initContainers", "containers")
    return [c for k in keys for c in spec.get(k) or ()]


def container(name: str, **fields) -> dict:
    return {"name": name, "image": IMAGE, **fields}


def _profile(type_: str | None, localhost_profile: str) -> dict | None:
    if type_ is None:
        return None
    if type_ == "Localhost":
        return {"type": "Localhost", "localhostProfile": localhost_profile}
    return {"type": type_}


def seccomp_profile(type_: str | None) -> dict | None:
    """A ``seccompProfile`` field of ``type_`` (``Localhost`` with a profile path; ``None``: no field)."""
    return _profile(type_, "profiles/audit.json")


def apparmor_profile(type_: str | None) -> dict | None:
    """An ``appArmorProfile`` field of ``type_`` (``Localhost`` with a profile name; ``None``: no field)."""
    return _profile(type_, "k8s-apparmor-example")


def handler(kind: str, host: str) -> dict:
    """A probe or lifecycle handler of ``kind`` (``httpGet``, ``tcpSocket``), with ``host`` when not empty."""
    h = {"path": "/healthz", "port": 8080} if kind == "httpGet" else {"port": 8080}
    if host:
        h["host"] = host
    return {kind: h}


def apparmor_key(c: dict) -> str:
    return f"{APPARMOR_ANNOTATION_PREFIX}{c['name']}"


def seccomp_key(c: dict | None) -> str:
    """The seccomp annotation of container ``c``, or of the pod when ``c`` is ``None``."""
    return SECCOMP_POD_ANNOTATION if c is None else f"{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{c['name']}"


def profile_annotation_matches(value: str, field: dict | None) -> bool:
    """A seccomp or AppArmor annotation ``value`` agrees with the profile ``field`` (API validation)."""
    if field is None:
        return True
    t = field.get("type")
    if value == "unconfined":
        return t == "Unconfined"
    if value in ("runtime/default", "docker/default"):
        return t == "RuntimeDefault"
    if value.startswith(LOCALHOST_ANNOTATION_PREFIX):
        return t == "Localhost" and field.get("localhostProfile") == value[len(LOCALHOST_ANNOTATION_PREFIX):]
    return False
