"""Watcher logs: one readable line per event for people, or one JSON object per line (--json-logs)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

LOGGER = logging.getLogger("artimuse.watch")
_FIELDS = ("event", "path", "score", "scores", "std", "category", "error", "count", "folder", "queue")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        data.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        return json.dumps(data, ensure_ascii=False)


def setup(json_logs: bool = False, verbose: bool = False) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOGGER.propagate = False
    return LOGGER
