"""pytest-xdist's file-by-file scheduling, with its bookkeeping made linear in the run's size.

The harness distributes by file (``--dist loadfile``, its default under ``-n``: ``harness.plugin``).
xdist's ``LoadScopeScheduling`` (which ``loadfile`` extends) does two things per item that cost as
much as everything it has assigned so far: it finds each item's position with ``list.index`` over
the worker's whole collection, and after each item it counts the worker's pending items anew
over every file it was ever given (also for each event of the controller's loop). Both are
quadratic in the number of items: unseen at a thousand items, a super-linear step at 17,000 and
minutes at 270,000 (``bench/bench_scale.py``). ``Indexed`` keeps the positions in a dict and the
pending count as a number per worker, and otherwise schedules exactly as xdist does (same work
units, same order, same messages to the workers).

Imports: pytest-xdist's scheduler classes (only when a distributed run asks for a scheduler).
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling, LoadScopeScheduling

__all__ = ["IndexedLoadFile", "IndexedLoadScope", "make"]


class Indexed:
    """Mixin for ``LoadScopeScheduling`` and its subclasses: O(1) positions and pending counts."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self._positions: dict = {}  #: node -> {nodeid: its first index in the node's collection}
        self._pending: dict[int, list] = {}  #: id(node's workload) -> [the workload, its incomplete items]

    def _count(self, workload: dict) -> list:
        entry = self._pending.get(id(workload))
        if entry is None or entry[0] is not workload:
            entry = self._pending[id(workload)] = [workload, super()._pending_of(workload)]
        return entry

    def add_node(self, node) -> None:
        super().add_node(node)
        self._count(self.assigned_work[node])

    def add_node_collection(self, node, collection) -> None:
        super().add_node_collection(node, collection)
        registered = self.registered_collections.get(node)
        if registered is not None:
            positions: dict = {}
            for i, nodeid in enumerate(registered):
                positions.setdefault(nodeid, i)
            self._positions[node] = positions

    def _assign_work_unit(self, node) -> None:
        assert self.workqueue
        scope, work_unit = self.workqueue.popitem(last=False)
        assigned_to_node = self.assigned_work.setdefault(node, {})
        assigned_to_node[scope] = work_unit
        todo = [nodeid for nodeid, completed in work_unit.items() if not completed]
        self._count(assigned_to_node)[1] += len(todo)
        positions = self._positions.get(node)
        if positions is None:
            positions = self._positions[node] = {}
            for i, nodeid in enumerate(self.registered_collections[node]):
                positions.setdefault(nodeid, i)
        node.send_runtest_some([positions[nodeid] for nodeid in todo])

    def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        workload = self.assigned_work[node]
        unit = workload[self._split_scope(nodeid)]
        if not unit[nodeid]:
            self._count(workload)[1] -= 1
        unit[nodeid] = True
        self._reschedule(node)

    def _pending_of(self, workload: dict) -> int:
        return self._count(workload)[1]


class IndexedLoadScope(Indexed, LoadScopeScheduling):
    """``--dist loadscope`` with linear bookkeeping."""


class IndexedLoadFile(Indexed, LoadFileScheduling):
    """``--dist loadfile`` with linear bookkeeping."""


#: what ``Indexed`` relies on in xdist's ``LoadScopeScheduling``; a release without them gets xdist's own scheduler
_RELIES_ON = ("_assign_work_unit", "_pending_of", "_split_scope", "_reschedule", "add_node_collection",
              "mark_test_complete")


def make(dist: str, config, log):
    """The scheduler for ``dist`` (``loadfile`` or ``loadscope``), or None for xdist's own."""
    if not all(callable(getattr(LoadScopeScheduling, name, None)) for name in _RELIES_ON):
        return None
    return {"loadfile": IndexedLoadFile, "loadscope": IndexedLoadScope}.get(dist, lambda *_: None)(config, log)
