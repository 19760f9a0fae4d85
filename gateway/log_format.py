"""How log records are written: readable lines (the default) or one JSON object a line.

The JSON form is for journald/Loki: ``ts`` in UTC with milliseconds (``...T19:20:00.123Z``),
``level``, ``logger``, ``thread``, ``msg``, and the ids that matter when a record carries
them (``camera``, ``case``, ``call``, ``candidate``: pass them as
``log.info(..., extra={"camera": camera_id})``), plus ``exc`` for a traceback.
"""

from __future__ import annotations

import json
import logging
import time

#: the ids a record may carry (``extra=``), written as JSON fields of the same name
ID_FIELDS = ("camera", "case", "call", "candidate")

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


def utc_millis(created: float) -> str:
    """``2026-12-04T19:20:00.123Z`` for a record's ``created`` time."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": utc_millis(record.created),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "msg": record.getMessage(),
        }
        for field in ID_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``logging.format`` (``text`` or ``json``)."""
    if kind == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)
