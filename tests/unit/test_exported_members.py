"""The public surface is exactly ``__all__`` (httpx's guard against drift), and it loads lazily."""

import subprocess
import sys

import harness

LAYERS = {"core", "corpus", "policy", "cluster", "embedded", "plugin", "reports", "fuzz", "cli"}


def test_all_lists_every_public_name_once():
    public = {n for n in dir(harness) if not n.startswith(("_", "@"))} - LAYERS  # @py_*: assertion rewriting
    assert sorted(harness.__all__) == sorted(set(harness.__all__)), "duplicate names in __all__"
    assert set(harness.__all__) == public
    for name in harness.__all__:
        assert getattr(harness, name) is not None


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_pure_layers_load_no_client_no_crypto_and_no_pytest():
    for statement in ("import harness.policy", "import harness.core.verdict, harness.core.messages",
                      "from harness import Level, evaluate_pod"):
        loaded = _modules_after(statement)
        heavy = {m for m in loaded if m.split(".")[0] in {"kubernetes", "cryptography", "urllib3", "pytest",
                                                           "_pytest", "allure", "allure_commons", "fcntl"}}
        assert not heavy, f"{statement!r} loaded {sorted(heavy)}"


def test_the_client_loads_only_when_its_name_is_asked_for():
    assert "kubernetes" not in {m.split(".")[0] for m in _modules_after("import harness")}
    assert "kubernetes.config" in _modules_after("import harness; harness.Cluster('/nonexistent') if False else "
                                                 "__import__('harness.cluster.client').cluster.client.Cluster.__init__"
                                                 " and __import__('kubernetes.config')")
