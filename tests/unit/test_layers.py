"""The layering is a contract: import-linter's contracts in pyproject.toml hold, and no module cycle exists."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    proc = subprocess.run([exe, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def _cycles(graph, modules) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), imports inside functions included."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("harness")
    modules = {m for m in graph.modules if m.startswith("harness")}
    # a package's __init__ importing its own submodules is not a cycle of logic; the edges that
    # matter are module -> module, so packages are left out of the graph
    packages = {m for m in modules if any(o.startswith(m + ".") for o in modules)}
    assert _cycles(graph, modules - packages) == []
