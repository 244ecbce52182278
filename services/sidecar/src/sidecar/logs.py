"""Logging set-up shared by both services: one line per record, to stderr."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str, *, app_id: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {app_id} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per outbound request is noise at INFO; failures surface through our own logs.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
