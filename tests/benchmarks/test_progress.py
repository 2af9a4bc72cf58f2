"""Progress shows on a terminal only, never in CI or when stdout is a pipe or file."""

from __future__ import annotations

import io

import pytest

from benchmarks.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain line, whether or not tqdm is installed here."""
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)


def test_a_terminal_gets_a_progress_line(monkeypatch: pytest.MonkeyPatch, no_tqdm: None) -> None:
    monkeypatch.delenv("CI", raising=False)
    stream = Terminal()
    progress = Progress(total=0, stream=stream)
    progress.grow(4)
    progress.advance()
    progress.step("upload-1gib: gateway (2/2)")
    assert "1/4 upload-1gib: gateway (2/2)" in stream.getvalue()
    progress.close()


@pytest.mark.parametrize("ci, stream", [("1", Terminal()), ("", io.StringIO())])
def test_quiet_in_ci_or_off_a_terminal(monkeypatch: pytest.MonkeyPatch, ci: str,
                                       stream: io.StringIO) -> None:
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    progress = Progress(total=3, stream=stream)
    progress.step("listing: gateway (1/2)")
    progress.advance()
    progress.close()
    assert stream.getvalue() == ""
    progress.note("a note stays")  # notes are results, printed even when quiet
    assert stream.getvalue() == "a note stays\n"
