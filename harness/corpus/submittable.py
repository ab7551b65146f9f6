"""Make an object read back from a cluster (``kubectl get -o yaml``) submittable as a create.

``assess`` checks a user's object live by a server-side dry-run *create* into a scratch
namespace of its own. An object exported from a cluster carries references to things only its
home namespace or cluster has, and fields the server set, and some of those make the create
fail before PodSecurity judges it (each seen against kube-apiserver v1.37.2 and v1.34.4; see
``tests/integration/test_assess_live.py``). ``prepare`` removes exactly those and records each
removal (``SubmittedChange``), so the server's answer is a PodSecurity verdict again:

* a Pod naming a ServiceAccount other than ``default`` (``spec.serviceAccountName``, and the
  deprecated ``spec.serviceAccount``): 403 ``error looking up service account``. The reference
  is removed: the scratch namespace has only ``default``, and PodSecurity never reads it.
  (Creating the ServiceAccounts would need ``create serviceaccounts``, which the runner's
  least-privilege role does not grant.)
* a Pod's ``spec.priorityClassName`` that the target cluster has no PriorityClass for: 403
  ``no PriorityClass with name ... was found``; removed. ``spec.priority`` and
  ``spec.preemptionPolicy``, which the Priority admission plugin computes from the class, are
  removed when they differ from what the target computes (403 ``must not be provided``). When
  the caller cannot tell what the target has (``PriorityClassInfo(None)``: no permission to read
  PriorityClasses), they are left as they are.
* a Pod's ``spec.ephemeralContainers``: 422 ``cannot be set on create`` (kubectl debug adds them
  to a running pod). Removed; PodSecurity evaluates them, so the caller predicts the pod as
  submitted too.
* a Job's generated ``spec.selector`` and its template's ``controller-uid`` labels: 422
  ``must be '<uid>'`` (unless ``spec.manualSelector``); removed, the server generates new ones.

Left as they are, because a dry-run create accepts them (the server resets or ignores them):
``resourceVersion``, ``uid``, ``creationTimestamp``, ``generation``, ``managedFields``,
``deletionTimestamp``, ``ownerReferences``, ``status``, ``spec.nodeName``, a mirror pod's
annotation. ``metadata.namespace`` is always replaced by the scratch namespace (by the runtime).

Pure: imports nothing of the harness. The PriorityClass lookup is the caller's (``PriorityClassInfo``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Callable

__all__ = ["PriorityClassInfo", "SubmittedChange", "prepare"]

DEFAULT_PREEMPTION = "PreemptLowerPriority"
_JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


@dataclasses.dataclass(frozen=True)
class PriorityClassInfo:
    """What the target cluster says about one PriorityClass name."""

    exists: bool | None          #: None: the harness could not tell (e.g. no permission to read it)
    value: int = 0
    preemption_policy: str = DEFAULT_PREEMPTION


@dataclasses.dataclass(frozen=True)
class SubmittedChange:
    """One field the harness removed before submitting, with its value and the reason."""

    path: str       #: e.g. ``spec.serviceAccountName``
    value: str      #: what it held (JSON for structures, container names for ephemeral containers)
    reason: str
    change: str = "removed"

    def to_dict(self) -> dict:
        return {"path": self.path, "change": self.change, "value": self.value, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.change} {self.path} ({self.value}): {self.reason}"


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def prepare(obj: dict, priority_class: Callable[[str], PriorityClassInfo] | None = None
            ) -> tuple[dict, list[SubmittedChange]]:
    """A copy of ``obj`` a create into a fresh namespace accepts, and what was removed from it.

    ``priority_class(name)`` tells what the target has under that name; without it the priority
    fields are left alone. ``obj`` itself is not changed.
    """
    kind = obj.get("kind")
    if kind == "Pod":
        return _pod(obj, priority_class)
    if kind == "Job":
        return _job(obj)
    return obj, []


def _pod(obj: dict, priority_class) -> tuple[dict, list[SubmittedChange]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj, []
    out = copy.deepcopy(obj)
    spec = out["spec"]
    changes = []

    def remove(field: str, reason: str, value=None) -> None:
        original = spec.pop(field)
        changes.append(SubmittedChange(f"spec.{field}", _shown(original if value is None else value), reason))

    for field in ("serviceAccountName", "serviceAccount"):
        name = spec.get(field)
        if isinstance(name, str) and name not in ("", "default"):
            remove(field, f"the scratch namespace has only the 'default' ServiceAccount, and a Pod naming "
                          f"another is refused before PodSecurity judges it; PodSecurity does not read it")
    eph = spec.get("ephemeralContainers")
    if eph:
        names = ", ".join(str(c.get("name", "?")) for c in eph if isinstance(c, dict)) or _shown(eph)
        remove("ephemeralContainers", "a create cannot carry ephemeral containers (kubectl debug adds them to a "
                                      "running pod); PodSecurity judged the pod without them", names)
    computed: PriorityClassInfo | None = PriorityClassInfo(True)  # no class: priority 0, the default policy
    name = spec.get("priorityClassName")
    if isinstance(name, str) and name:
        computed = priority_class(name) if priority_class else PriorityClassInfo(None)
        if computed.exists is False:
            remove("priorityClassName", f"the target cluster has no PriorityClass {name!r}, and a Pod naming "
                                        "a missing one is refused before PodSecurity judges it")
            computed = PriorityClassInfo(True)
        elif computed.exists is None:
            computed = None
    if computed is not None:
        why = "the Priority admission plugin computes it from spec.priorityClassName and refuses a pod whose value differs"
        if "priority" in spec and spec["priority"] != computed.value:
            remove("priority", f"{why} (the target computes {computed.value})")
        if "preemptionPolicy" in spec and spec["preemptionPolicy"] != computed.preemption_policy:
            remove("preemptionPolicy", f"{why} (the target computes {computed.preemption_policy})")
    return (out, changes) if changes else (obj, [])


def _job(obj: dict) -> tuple[dict, list[SubmittedChange]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return obj, []
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    generated = [k for k in _JOB_UID_LABELS if k in labels]
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    matched = isinstance(match, dict) and any(k in match for k in _JOB_UID_LABELS)
    if not generated and not matched:
        return obj, []
    out = copy.deepcopy(obj)
    changes = []
    why = "generated by the server for the job's uid; a create carrying the old one is invalid (a new one is generated)"
    if matched:
        changes.append(SubmittedChange("spec.selector", _shown(out["spec"].pop("selector")), why))
    new_labels = out["spec"]["template"]["metadata"]["labels"] if generated else {}
    for key in generated:
        changes.append(SubmittedChange(f"spec.template.metadata.labels.{key}", _shown(new_labels.pop(key)), why))
    return out, changes

