"""Progress on a terminal: a tqdm bar when tqdm is installed, else one rewritten line;
nothing at all when `CI` is set or stdout is not a terminal."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


def wanted(stream: TextIO = sys.stdout) -> bool:
    return not os.environ.get("CI") and stream.isatty()


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stdout) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = wanted(stream)
        self._bar: Any = None
        if self.enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, file=stream, unit="run", dynamic_ncols=True)

    def grow(self, steps: int) -> None:
        """Scenarios are counted as they are set up."""
        self.total += steps
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def step(self, label: str) -> None:
        """`label` is what starts now; the previous step is counted done."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_description_str(label, refresh=True)
            return
        width = 30
        filled = width * self.done // max(1, self.total)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label}"
        self.stream.write("\r" + line[:118].ljust(118))
        self.stream.flush()

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def note(self, message: str) -> None:
        """A line that stays, printed above the bar (always, even when quiet)."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
            return
        if self.enabled:
            self.stream.write("\r" + " " * 118 + "\r")
        print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self.stream.write("\r" + " " * 118 + "\r")
            self.stream.flush()
