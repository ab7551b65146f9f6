"""Shared by the unit and the integration tests: pytester, and checking a real output against its shipped JSON Schema."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


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
