"""Tables that fit the terminal (80 columns when output is a file or a pipe) without splitting
a word.

Rich, left to itself, shrinks a too-wide table by folding cells mid-word ("Polishc/huk") and
cutting headers ("conve…"). :func:`fit_table` decides the layout itself instead:

1. every column gets at least its longest word (header and cells); numbers never wrap;
2. if the natural widths fit, they are used; if only the minimums fit, the room left is shared
   out to the columns that want it (text wraps at spaces, never inside a word);
3. if even the minimums do not fit, the rows are printed vertically, one block per row with one
   ``label  value`` line per column.

Cells are :class:`rich.text.Text`, never markup: data such as ``[red]`` prints as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def _overhead(columns: int) -> int:
    """Width the layout adds to the cells: no outer edge; between two columns a padding space,
    a rule position (blank in ``SIMPLE_HEAD``) and another padding space."""
    return 3 * (columns - 1)


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool], room: int
) -> list[int] | None:
    """Content width of each column, or None when not even the minimums fit in ``room``."""
    lows, cells_high, highs = [], [], []
    for j, header in enumerate(headers):
        cells = [row[j] for row in rows]
        longest_cell = max((len(c) for c in cells), default=1)
        cell_floor = (
            longest_cell if numeric[j] else max((_longest_word(c) for c in cells), default=1)
        )
        lows.append(max(_longest_word(header), cell_floor, 1))
        cells_high.append(max(lows[-1], longest_cell))
        highs.append(max(len(header), longest_cell, 1))
    if sum(highs) <= room:
        return highs
    if sum(lows) > room:
        return None
    widths = list(lows)
    spare = room - sum(widths)
    # Share the room out a column at a time, to whichever lacks the most: first so that cells
    # stay on one line (a wrapped cell costs a line per row), then so that headers do.
    for targets in (cells_high, highs):
        while spare > 0:
            wants = [t - w for t, w in zip(targets, widths, strict=True)]
            j = max(range(len(widths)), key=lambda i: wants[i])
            if wants[j] <= 0:
                break
            widths[j] += 1
            spare -= 1
    return widths


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool],
    width: int,
    labels: Sequence[str] | None = None,
) -> RenderableType:
    """A table of ``rows`` (already formatted as text) that fits ``width`` columns.

    ``headers`` are the short column titles of the horizontal table; ``labels`` (default: the
    headers) name the values in the vertical layout, where there is room for longer words.
    """
    widths = _widths(headers, rows, numeric, width - _overhead(len(headers)))
    if widths is not None:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for header, is_number, w in zip(headers, numeric, widths, strict=True):
            # The width is never below the column's longest word: text wraps at spaces only.
            table.add_column(
                Text(header), justify="right" if is_number else "left", width=w, overflow="fold"
            )
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        if not rows:
            table.add_row(*(Text("—") for _ in headers))
        return table
    return _vertical(list(labels or headers), rows)


def _vertical(labels: list[str], rows: Sequence[Sequence[str]]) -> RenderableType:
    label_width = max(len(label) for label in labels)
    blocks: list[RenderableType] = []
    for number, row in enumerate(rows, start=1):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(width=label_width, no_wrap=True, style="bold")
        grid.add_column(overflow="fold")
        for label, cell in zip(labels, row, strict=True):
            grid.add_row(Text(label), Text(cell))
        if len(rows) > 1:
            blocks.append(Text(f"— {number} of {len(rows)}", style="dim"))
        blocks.append(grid)
    if not rows:
        blocks.append(Text("—"))
    return Group(*blocks)
