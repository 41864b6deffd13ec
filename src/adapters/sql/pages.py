"""A page of a list and its total in one statement.

On PostgreSQL a read outside a write runs each statement on its own snapshot (the reads
autocommit), so a page and a count read one after the other may see two states of a table
that another transaction changes between them: a page of three rows with a total of two, or
a page past the end whose total says there is one more row. Read in one statement, the page
and the total come from one snapshot on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


def with_total(page: Any, count: Any, order: Sequence[tuple[Any, bool]]) -> Any:
    """The rows of `page` (a SELECT with its LIMIT and OFFSET), each followed by `count`'s
    one value (a `SELECT count(*)` of the same filters) as `total`, in `order` ((column of the
    page, descending?) pairs). The count is a derived table the page is joined to, so it is
    counted once and a page without rows is still one row: NULLs, then the total."""
    rows = page.subquery("page")
    total = count.subquery("counted")
    [counted] = total.c
    ordering = [
        rows.c[column.name].desc() if descending else rows.c[column.name]
        for column, descending in order
    ]
    return (
        sa.select(*rows.c, counted.label("total"))
        .select_from(total.outerjoin(rows, sa.true()))
        .order_by(*ordering)
    )


def page_and_total(found: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of a `with_total` statement (without their total) and the total. The first
    column of a row is the list's key: NULL only in the one row of a page without rows."""
    total = int(found[0][-1])
    return [row[:-1] for row in found if row[0] is not None], total
