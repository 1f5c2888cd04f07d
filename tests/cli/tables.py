"""Reading a rendered table back: columns by the header's offsets, rows joined
across wrapped lines, so a test can prove no header or cell was cut."""

from __future__ import annotations

import re


def read_table(text: str, names: list[str], *, title: bool = False) -> list[list[str]]:
    """The cells under ``names`` of each row of a table rendered by
    ``manhattan.cli.render``. Columns are where the header line's names start
    (headers are never wrapped, and two spaces apart); the lines of one row (a new
    row starts where the first column has text) are joined per column."""
    lines = [line for line in text.splitlines() if line.strip()]
    if title:
        lines = lines[1:]
    lines = [line for line in lines if not re.match(r"^\(\d+ more column", line)]
    found = {m.group(): m.start() for m in re.finditer(r"\S+(?: \S+)*", lines[0])}
    missing = [name for name in names if name not in found]
    assert not missing, f"headers {missing} are cut or missing in {lines[0]!r}"
    offsets = sorted(found.values())
    bounds = list(zip(offsets, [*offsets[1:], None]))
    rows: list[list[list[str]]] = []
    for line in lines[1:]:
        pieces = [line[start:end].strip() for start, end in bounds]
        if pieces[0] or not rows:
            rows.append([[p] if p else [] for p in pieces])
        else:
            for column, piece in zip(rows[-1], pieces):
                if piece:
                    column.append(piece)
    index = [offsets.index(found[name]) for name in names]
    return [[" ".join(row[i]) for i in index] for row in rows]


def same_text(shown: str, cell: str) -> bool:
    """Equal but for where lines were broken (a word folded mid-way loses no letter)."""
    return "".join(shown.split()) == "".join(cell.split())
