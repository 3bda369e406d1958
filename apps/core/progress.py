"""A small progress bar for management commands (no float money here: it counts steps)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, label: str, stream=None, width: int = 30):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stdout
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_pct = -1

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        pct = self.done * 100 // self.total
        if pct == self._last_pct:
            return
        if not self._tty and pct % 25 and self.done != self.total:
            return
        self._last_pct = pct
        filled = self.width * self.done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\r" if self._tty and self.done < self.total else "\n"
        self.stream.write(f"  {self.label:<28} [{bar}] {pct:3d}% ({self.done}/{self.total}){end}")
        self.stream.flush()

    def finish(self) -> None:
        if self.done < self.total:
            self.advance(self.total - self.done)
        elapsed = time.monotonic() - self.started
        self.stream.write(f"  {self.label:<28} done in {elapsed:.1f}s\n")
        self.stream.flush()
