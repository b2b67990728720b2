"""Watcher logs: one readable line per event for people, or one JSON object per line (--json-logs).

Paths are shown with ``paths.display_path`` where they are logged; as a last guard, a line that still holds
a lone surrogate (an undecodable file name that slipped through) is written with it escaped rather than
raising a logging error on a UTF-8 stream."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

LOGGER = logging.getLogger("artimuse.watch")
_FIELDS = ("event", "path", "score", "scores", "std", "category", "error", "count", "folder", "queue", "disk_full")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        data.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        return printable(json.dumps(data, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def printable(text: str) -> str:
    """``text`` with any lone surrogate escaped (``\\udce9``), so a UTF-8 stream can always take it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def setup(json_logs: bool = False, verbose: bool = False) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else TextFormatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOGGER.propagate = False
    return LOGGER
