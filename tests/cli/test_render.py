"""Tables fit 80 columns without cutting anything (properties over random rows)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.cli.render import cell_text, record_lines, table_lines
from tests.cli.tables import read_table, same_text

_word = st.text(string.ascii_letters + string.digits + ".:%/-_", min_size=1, max_size=18)
_cell = st.lists(_word, min_size=1, max_size=6).map(" ".join)
_header = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)


@st.composite
def _tables(draw):
    names = draw(st.lists(_header, min_size=1, max_size=14, unique=True))
    # The first column names the row (an id, a name): one word, as in every command.
    cells = st.tuples(_word, *([_cell] * (len(names) - 1)))
    rows = [dict(zip(names, row)) for row in draw(st.lists(cells, min_size=1, max_size=6))]
    return names, rows


@settings(max_examples=60, deadline=None)
@given(_tables(), st.sampled_from([40, 80, 120]))
def test_a_table_fits_the_width_and_every_shown_cell_reads_back_whole(table, width):
    names, rows = table
    text = table_lines(rows, width=width)
    assert all(len(line) <= width for line in text.splitlines() if not line.startswith("("))
    assert "…" not in text
    footnote = [line for line in text.splitlines() if line.startswith("(")]
    hidden = footnote[0].split(": ", 1)[1].split("; -o wide")[0].split(", ") if footnote else []
    shown = [n for n in names if n not in hidden]
    assert shown and shown == names[:len(shown)], "columns are dropped from the end only"
    back = read_table(text, shown)
    assert len(back) == len(rows)
    for got, row in zip(back, rows):
        for name, cell in zip(shown, got):
            assert same_text(cell, row[name]), (name, cell, row[name])


@settings(max_examples=30, deadline=None)
@given(_tables())
def test_wide_shows_every_column_on_one_line_per_row(table):
    names, rows = table
    text = table_lines(rows, width=80, wide=True)
    lines = text.splitlines()
    assert "more column" not in text and len(lines) == 1 + len(rows)
    assert read_table(text, names) == [[cell_text(r[n]) for n in names] for r in rows]


def test_a_record_prints_as_aligned_key_value_lines():
    text = record_lines({"name": "events", "replication_factor": 3, "ttl": None},
                        headers={"replication_factor": "rf"})
    assert text.splitlines() == ["name: events", "rf:   3", "ttl:"]


def test_a_long_record_value_wraps_under_itself_within_the_width():
    tweet = " ".join(["word"] * 70)
    text = record_lines({"id": 1, "text": tweet}, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) > 3
    assert lines[1].startswith("text: word") and lines[2].startswith("      word")
    assert " ".join(line[6:] for line in lines[1:]).split() == tweet.split()
