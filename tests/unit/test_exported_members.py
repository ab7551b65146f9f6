"""The public surface is exactly ``__all__`` (httpx's guard against drift)."""

import harness


def test_all_lists_every_public_name_once():
    public = {n for n in dir(harness) if not n.startswith(("_", "@"))} - {  # @py_*: assertion rewriting
        # submodules imported as a side effect of the re-exports
        "checks", "client", "embedded", "errors", "expectations", "model", "policy", "scenarios", "messages",
        "variants", "verdict", "config", "runner", "collect", "plugin", "evidence", "redact", "bundle", "history",
        "report_html", "allure_labels", "coverage", "catalog", "taxonomy", "diff", "sessions", "manifests",
        "cli", "cli_assess", "cli_diff", "fuzz"}
    assert sorted(harness.__all__) == sorted(set(harness.__all__)), "duplicate names in __all__"
    assert set(harness.__all__) == public
