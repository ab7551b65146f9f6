"""Plain-text tables fitted to a terminal width. Pure: imports nothing of the harness.

``fit_table`` lays out rows in left-aligned columns two spaces apart. When the natural width
exceeds ``width``, the shrinkable columns give up width in the order given, each down to
``SOFT_MINIMUM`` characters, then the widest of them a character at a time (their cells end in
``…``) until the table fits; no column becomes narrower than its header, so the header never
wraps (paths can be cut at the start instead). If even the headers do not fit, the columns named in ``drop`` are left out, in that
order, and ``fit_table`` says which. ``width`` 0 (or less) means no limit: the output is not a
terminal, so nothing is cut.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

__all__ = ["ELLIPSIS", "Fitted", "fit_table", "truncate"]

ELLIPSIS = "…"
_GAP = "  "
SOFT_MINIMUM = 16  #: what a shrinkable column keeps before the next one in ``shrink`` order gives up width


@dataclasses.dataclass(frozen=True)
class Fitted:
    """The table's lines and the headers of the columns left out for lack of width."""

    lines: list[str]
    dropped: tuple[str, ...] = ()


def truncate(text: str, width: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut (at the start with ``keep_end``)."""
    if len(text) <= width:
        return text
    if width <= 0:
        return ""
    return ELLIPSIS + text[len(text) - width + 1:] if keep_end else text[:width - 1] + ELLIPSIS


def fit_table(rows: Sequence[Sequence[str]], width: int, *, shrink: Sequence[str] = (),
              drop: Sequence[str] = (), keep_end: Sequence[str] = ()) -> Fitted:
    """Rows (the first is the header) as lines no longer than ``width``.

    ``shrink``: headers of the columns that may be truncated, the first to give up width first
    (default: every column, left to right).
    ``drop``: headers of the columns that may be left out, first to last, when the headers alone
    are too wide. ``keep_end``: headers of columns cut at the start instead (file paths: the
    file name matters more than the directory).
    """
    header = list(rows[0])
    keep = list(range(len(header)))
    shrinkable = set(shrink or header)

    def natural(i: int) -> int:
        return max(len(str(r[i])) for r in rows)

    def total(widths: dict[int, int]) -> int:
        return sum(widths.values()) + len(_GAP) * (len(widths) - 1)

    dropped: list[str] = []
    if width > 0:
        for name in drop:
            if total({i: len(header[i]) if header[i] in shrinkable else natural(i) for i in keep}) <= width:
                break
            if name in header and header.index(name) in keep:
                keep.remove(header.index(name))
                dropped.append(name)
    widths = {i: natural(i) for i in keep}
    if width > 0:
        # first the shrinkable columns in the order given, each down to a readable width, then
        # all of them, the widest first, down to their headers
        for name in shrink:
            i = header.index(name) if name in header else -1
            while i in widths and total(widths) > width and widths[i] > max(len(name), SOFT_MINIMUM):
                widths[i] -= 1
        while total(widths) > width:
            candidates = [i for i in keep if header[i] in shrinkable and widths[i] > len(header[i])]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: (widths[i] - len(header[i]), widths[i]))
            widths[widest] -= 1
    last = keep[-1]
    lines = []
    for row in rows:
        cells = [truncate(str(row[i]), widths[i], keep_end=header[i] in keep_end) for i in keep]
        line = _GAP.join(c if i == last else c.ljust(widths[i]) for c, i in zip(cells, keep))
        lines.append(line.rstrip())
    return Fitted(lines, tuple(dropped))
