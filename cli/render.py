"""Tables that stay readable in an 80-column terminal (or a pipe).

Why a module of its own: rich shrinks a table that is too wide by cutting every
cell with an ellipsis (``sta…``, ``127.…``), which hides the very figures an
operator looks for. Here a table degrades on purpose instead:

- columns come in order of importance (the row dict's order);
- each column is at least as wide as its header and its longest word, so text
  wraps between words and is never cut; the first column (what names the row)
  does not wrap at all, so a wrapped row still reads as one;
- columns that do not fit are left out from the least important end, and a
  footnote names them (``-o wide`` shows every column, as wide as it needs);
- a single record prints as aligned ``key: value`` lines.

``-o json`` never comes through here: it is the stable machine form.
"""

from __future__ import annotations

import io
import os
import shutil
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

DEFAULT_WIDTH = 80
# Columns are two spaces apart (no box lines, kubectl-style).
_COLUMN_OVERHEAD = 2
# A word longer than this (a path, a token) is folded rather than allowed to push
# every other column off the screen.
_LONGEST_UNBROKEN = 40
_MIN_CELL = 8  # a column narrower than this (beyond its header) is not worth showing


def terminal_width() -> int:
    """The width to fit: ``COLUMNS`` when set, else the terminal's, else 80 (pipes)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def cell_text(value: Any) -> str:
    """A cell as text: None as empty, floats without noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else f"{value:.3g}"
    return str(value)


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def _needed(header: str, cells: Sequence[str]) -> int:
    """The narrowest a column may be without cutting its header or any word."""
    return max([len(header), *(min(_longest_word(c), _LONGEST_UNBROKEN) for c in cells)])


def _natural(header: str, cells: Sequence[str]) -> int:
    return max([len(header), *(len(line) for c in cells for line in c.splitlines() or [""])])


def _columns_that_fit(headers: Sequence[str], cells: Sequence[Sequence[str]],
                      width: int) -> list[int]:
    """Indexes of the columns to show, most important first, within ``width``."""
    chosen: list[int] = []
    used = 0
    for index, header in enumerate(headers):
        column = [row[index] for row in cells]
        cost = (_natural(header, column) if index == 0 else
                max(_needed(header, column), min(_natural(header, column), _MIN_CELL)))
        cost += _COLUMN_OVERHEAD
        if chosen and used + cost > width:
            break  # less important columns go too, so what is shown is a prefix
        chosen.append(index)
        used += cost
    return chosen


def _fit_widths(needed: list[int], natural: list[int], room: int) -> list[int]:
    """Column widths within ``room``: natural where possible, else the widest columns
    narrowed first, never below what their header and longest word need."""
    widths = list(natural)
    while sum(widths) > room:
        slack = [w - n for w, n in zip(widths, needed)]
        if max(slack) <= 0:
            break  # only long single words left: fold them (the one case that splits text)
        widths[max(range(len(widths)), key=lambda i: (slack[i] > 0, widths[i]))] -= 1
    return widths


def table_lines(rows: Sequence[Mapping[str, Any]], *, width: int | None = None,
                wide: bool = False, title: str | None = None,
                headers: Mapping[str, str] | None = None,
                formats: Mapping[str, Callable[[Any], str]] | None = None) -> str:
    """``rows`` as a table that fits ``width`` (``wide``: every column, any width)."""
    width = width or terminal_width()
    headers = headers or {}
    formats = formats or {}
    keys = list(rows[0])
    names = [headers.get(k, k) for k in keys]
    cells = [[formats.get(k, cell_text)(row.get(k)) for k in keys] for row in rows]
    shown = list(range(len(keys))) if wide else _columns_that_fit(names, cells, width)
    natural = [_natural(names[i], [r[i] for r in cells]) for i in shown]
    needed = [_needed(names[i], [r[i] for r in cells]) for i in shown]
    needed[0] = natural[0]  # the first column names the row: never wrapped
    room = sum(natural) if wide else width - _COLUMN_OVERHEAD * (len(shown) - 1)
    widths = _fit_widths(needed, natural, room)
    table = Table(title=title, box=None, padding=(0, 1), pad_edge=False, expand=False,
                  title_justify="left", show_header=True)
    for i, column_width in zip(shown, widths):
        table.add_column(names[i], width=column_width, overflow="fold", no_wrap=False)
    for row in cells:
        table.add_row(*(Text(row[i]) for i in shown))
    console = Console(width=max(width, room + _COLUMN_OVERHEAD * len(shown)), record=True,
                      file=io.StringIO(), color_system=None, force_terminal=False,
                      soft_wrap=False)
    console.print(table)
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines())
    hidden = [names[i] for i in range(len(keys)) if i not in shown]
    if hidden:
        text += f"\n({len(hidden)} more column(s): {', '.join(hidden)}; -o wide shows them)"
    return text


def record_lines(row: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
                 formats: Mapping[str, Callable[[Any], str]] | None = None,
                 width: int | None = None) -> str:
    """One record as aligned ``key: value`` lines; a long value wraps under itself."""
    headers = headers or {}
    formats = formats or {}
    names = {k: headers.get(k, k) for k in row}
    pad = max(len(n) for n in names.values()) + 2
    room = max((width or terminal_width()) - pad, 20)
    lines = []
    for key, value in row.items():
        text = formats.get(key, cell_text)(value)
        body = [piece for line in text.splitlines()
                for piece in (textwrap.wrap(line, room, break_on_hyphens=False) or [""])] or [""]
        lines.append(f"{names[key] + ':':<{pad}}{body[0]}".rstrip())
        lines.extend(" " * pad + more for more in body[1:])
    return "\n".join(lines)
