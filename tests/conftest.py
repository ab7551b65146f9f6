"""Shared by the unit and the integration tests: pytester, checking a real output against its shipped JSON Schema,
and where the test suite's own reports go.

The test suite never writes into the main job's ``reports/``: unless ``--psa-reports`` (or a
``psa_reports`` ini value) says otherwise, the suite's own run (``make test``, or ``pytest tests/...``
from the checkout) writes its evidence, JUnit XML and Allure results under ``test-reports/``. Every
test that runs the harness itself gives that run a temporary report directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
SUITE_REPORTS = REPO / "test-reports"


@pytest.hookimpl(tryfirst=True)  # before the harness plugin resolves its report directory (also tryfirst)
def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config.option, "psa_reports") or hasattr(config, "workerinput"):
        return  # the harness plugin is not loaded; or an xdist worker, which takes the controller's directory
    if config.option.psa_reports is None and config.getini("psa_reports") == "reports":
        config.option.psa_reports = str(SUITE_REPORTS)


@pytest.fixture(scope="session")
def schema_check():
    """``schema_check(doc, "results")`` raises ``jsonschema.ValidationError`` (the best match) unless ``doc``
    conforms to ``harness/schemas/results.schema.json``; ``definition="item"`` checks against one of its ``$defs``."""
    import jsonschema

    from harness.core.resources import schema_path

    schemas: dict[str, dict] = {}

    def check(doc, name: str, definition: str | None = None) -> None:
        if name not in schemas:
            schemas[name] = json.loads(schema_path(name).read_text(encoding="utf-8"))
        schema = schemas[name]
        if definition:
            schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)

    return check
