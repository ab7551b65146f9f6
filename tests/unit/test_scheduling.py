"""The harness's file-by-file xdist scheduler sends exactly what xdist's own would, in the same order (no workers)."""

from __future__ import annotations

import types

import pytest
from xdist.scheduler import LoadFileScheduling, LoadScopeScheduling

from harness.plugin.scheduling import IndexedLoadFile, IndexedLoadScope, make


class Node:
    """Just enough of xdist's WorkerController: what the scheduler sends it."""

    def __init__(self, name: str):
        self.gateway = types.SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indices):
        self.sent.append(list(indices))

    def shutdown(self):
        self.shutting_down = True


def _config():
    return types.SimpleNamespace(getvalue=lambda name: ["2*popen"] if name == "tx" else None,
                                 option=types.SimpleNamespace(loadscopereorder=True))


COLLECTION = [f"scenarios/f{f}.yaml::s{f}[Pod-{i}]" for f in range(7) for i in range(f % 3 + 2)]


def _drive(cls, crash: bool = False) -> tuple[list, list, bool]:
    """Run a whole distribution: two nodes, every item completed in the order sent (one crash, maybe)."""
    sched = cls(_config())
    nodes = [Node("gw0"), Node("gw1")]
    for n in nodes:
        sched.add_node(n)
    for n in nodes:
        sched.add_node_collection(n, COLLECTION)
    sched.schedule()
    done = set()
    crashed = None
    for _round in range(100):
        progressed = False
        for n in list(nodes):
            if n not in sched.assigned_work:
                continue
            todo = [i for batch in n.sent for i in batch if (n.gateway.id, i) not in done]
            if not todo:
                continue
            if crash and crashed is None and n.gateway.id == "gw1" and len(done) > 3:
                crashed = sched.remove_node(n)
                nodes.remove(n)
                progressed = True
                continue
            done.add((n.gateway.id, todo[0]))
            sched.mark_test_complete(n, todo[0])
            progressed = True
        if not progressed:
            break
    return [n.sent for n in nodes], [crashed], sched.tests_finished


@pytest.mark.parametrize("ours, theirs", [(IndexedLoadFile, LoadFileScheduling), (IndexedLoadScope, LoadScopeScheduling)])
@pytest.mark.parametrize("crash", [False, True])
def test_the_same_work_is_sent_in_the_same_order(ours, theirs, crash):
    mine, reference = _drive(ours, crash), _drive(theirs, crash)
    assert mine == reference
    assert mine[2] is True  # everything ran


def test_other_distributions_keep_xdist_s_scheduler():
    assert isinstance(make("loadfile", _config(), None), IndexedLoadFile)
    assert make("load", _config(), None) is None and make("each", _config(), None) is None


def test_an_xdist_without_the_internals_relied_on_keeps_its_own_scheduler(monkeypatch):
    from xdist.scheduler import LoadScopeScheduling

    from harness.plugin import scheduling

    config = type("Config", (), {"getvalue": lambda self, name: 2, "option": None})()
    monkeypatch.delattr(LoadScopeScheduling, "_pending_of", raising=False)
    assert scheduling.make("loadfile", config, None) is None
