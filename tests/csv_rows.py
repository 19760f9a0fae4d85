"""Reading the core's CSVs in tests: their header rows are Chinese, so a test reads each row
by the column keys through the CSV's own header mapping (``CSV_HEADERS``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping


def keyed_rows(text: str, headers: Mapping[str, str]) -> list[dict[str, str]]:
    """The rows of ``text`` (a CSV, without its BOM) keyed by column key; fails when the
    header row names a column the mapping does not give."""
    keys = {name: key for key, name in headers.items()}
    reader = csv.DictReader(io.StringIO(text))
    unknown = [name for name in reader.fieldnames or [] if name not in keys]
    assert not unknown, f"headers not in the mapping: {unknown}"
    return [{keys[name]: value for name, value in row.items()} for row in reader]
