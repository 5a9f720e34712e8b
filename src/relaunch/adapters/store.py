"""Durable supervisor state: one JSON document, replaced atomically on every save.

A save either leaves the previous file intact or installs the new one completely, even if the
machine loses power: write a temporary file in the same directory, fsync it, ``os.replace`` it
over the old one (atomic on POSIX within one file system), then fsync the directory so the
rename itself is durable. This module knows nothing of the kernel or of any runtime.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class StoreError(ValueError):
    """The state file exists but cannot be used (unreadable JSON, wrong shape, other owner)."""


class StateStore:
    """Load and atomically save one JSON object at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        """The saved document, or None if there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(f"state file {self.path}: invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise StoreError(f"state file {self.path}: expected a JSON object, got {type(data)}")
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Replace the file with ``data``; on any failure the old file is left as it was."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(data, indent=1, sort_keys=True).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            # Leave no temp file behind; the previous state file is untouched.
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
