"""The Allure results writer: allure-commons' file logger with the same output, serialised in one pass.

allure-pytest registers allure-commons' ``AllureFileLogger``, which writes each test result as
``attr.asdict`` (attributes that are empty, ``None`` or ``0`` left out) through ``json.dump``: the
pure-Python encoder, a few hundred ``write`` calls per result (3.2 million for 17,000 items), and
a generic walk of the attrs classes. ``install`` keeps that logger (its registration, its hooks,
its directory, its cleanup) and replaces only how it writes an item: ``plain`` walks the model
classes with their field names looked up once, ``json.dumps`` encodes in C, and the bytes go out
in one write, to a temporary name renamed over the final one, as allure-commons does. Same file
names, same bytes (``tests/unit/test_allure_writer.py`` compares them with allure-commons' own
output). ``ALLURE_INDENT_OUTPUT`` is honoured as there.

Imports: allure-commons (its logger and model) and the standard library.
"""

from __future__ import annotations

import json
import os
import uuid

import allure_commons
from allure_commons.logger import INDENT, AllureFileLogger

__all__ = ["install", "plain", "write_item", "write_whole"]

_ATOMIC = (str, int, float, bool, type(None))
_COLLECTIONS = (tuple, list, set, frozenset)
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The attrs field names of ``cls`` in their order, or None if it is not an attrs class."""
    try:
        return _FIELDS[cls]
    except KeyError:
        fields = getattr(cls, "__attrs_attrs__", None)
        names = _FIELDS[cls] = tuple(a.name for a in fields) if fields is not None else None
        return names


def plain(value):
    """``attr.asdict(value, filter=lambda _, v: v or v is False)`` for the Allure model, recursively.

    Attributes whose value is falsy (``None``, ``""``, ``0``, ``[]``) but not ``False`` are left
    out, at every depth; lists, tuples and sets become lists; dicts keep their order.
    """
    cls = type(value)
    if cls in _ATOMIC:
        return value
    names = _field_names(cls)
    if names is not None:
        out = {}
        for name in names:
            v = getattr(value, name)
            if v or v is False:
                out[name] = v if type(v) in _ATOMIC else plain(v)
        return out
    if issubclass(cls, _COLLECTIONS):
        return [plain(v) for v in value]
    if issubclass(cls, dict):
        return {plain_key(k): plain(v) for k, v in value.items()}
    return value


def plain_key(key):
    """A dict key as ``attr.asdict`` renders it (a collection key becomes a tuple)."""
    cls = type(key)
    if cls in _ATOMIC:
        return key
    if _field_names(cls) is not None:
        return plain(key)
    if issubclass(cls, _COLLECTIONS):
        return tuple(plain(v) for v in key)
    return key


def write_item(directory: str, item) -> None:
    """Write one Allure model object (result, container, globals) as allure-commons would, in one write."""
    indent = INDENT if os.environ.get("ALLURE_INDENT_OUTPUT") else None
    filename = item.file_pattern.format(prefix=uuid.uuid4())
    data = json.dumps(plain(item), indent=indent, ensure_ascii=False).encode("utf-8")
    final = os.path.join(directory, filename)
    write_whole(final, data, final + ".tmp")


def write_whole(final: str, data: bytes, tmp: str) -> None:
    """Write ``data`` to ``tmp`` with unbuffered writes, then rename it to ``final``: a reader never sees half a file."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, final)


def install() -> bool:
    """Make every allure-commons file logger of this process write with ``write_item``; whether one was found."""
    found = False
    for plugin in allure_commons.plugin_manager.get_plugins():
        if type(plugin) is AllureFileLogger and "_report_item" not in vars(plugin):
            directory = str(plugin._report_dir)
            plugin._report_item = lambda item, _d=directory: write_item(_d, item)
            found = True
    return found
