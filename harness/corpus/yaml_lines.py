"""YAML that remembers where each key stands, for error messages that name the file's line.

``LineLoader`` is PyYAML's safe loader (libyaml's when present: ~8x faster) whose every mapping
carries one extra key, ``LINES`` (``"__lines__"``): a dict of each key's line (1-based) and, under
``SELF`` (``"__self__"``), the line where the mapping itself starts. A duplicate key is a YAML
error at its line. The scenario loader and the namespace policy loader read their files with it
and drop ``LINES`` before anything leaves them.

May import: PyYAML (nothing of the harness).
"""

from __future__ import annotations

import yaml

__all__ = ["LINES", "SELF", "LineLoader"]

LINES = "__lines__"
SELF = "__self__"


class LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A SafeLoader that records each mapping key's line (1-based) under ``__lines__``, and the mapping's own
    under ``__lines__["__self__"]``; a duplicate key is a ``yaml.constructor.ConstructorError``."""


def _construct_mapping_with_lines(loader: LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict = {}
    lines = {SELF: node.start_mark.line + 1}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    mapping[LINES] = lines
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_with_lines)
