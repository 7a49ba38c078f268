"""The command line's inputs: expanding files, folders and lists, and one pass over many of them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

import click

from .audio import find_audio
from .errors import PhonedgeError

LIST_SUFFIXES = {".txt", ".lst", ".list"}
PROGRESS_MIN_FILES = 5


def expand_inputs(args: tuple[str, ...]) -> Iterator[Path]:
    """Files as given; folders walked for audio files (sorted); list files read line by line."""
    for arg in args:
        list_file = arg[1:] if arg.startswith("@") else None
        p = Path(list_file or arg)
        if p.is_dir():
            yield from find_audio(p)
        elif list_file is not None or (p.suffix.lower() in LIST_SUFFIXES and p.is_file()):
            try:
                lines = p.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise click.UsageError(f"cannot read list file {p}: {exc.strerror}") from exc
            for line in lines:
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line)
                    yield entry if entry.is_absolute() else p.parent / entry
        else:
            yield p


def reason(error: Optional[BaseException]) -> str:
    """An input's error as a line says it: a PhonedgeError's own message, anything else with its type."""
    return str(error) if isinstance(error, PhonedgeError) else f"{type(error).__name__}: {error}"


class InputRun:
    """One command's pass over many inputs: a progress bar on a terminal, each failure reported and counted."""

    def __init__(self, total: int, label: Optional[str] = None, bar_from: int = PROGRESS_MIN_FILES) -> None:
        """A bar labelled LABEL when stderr is a terminal and TOTAL is at least BAR_FROM (none without a label)."""
        self.total = total
        self.failed = 0
        show = label is not None and sys.stderr.isatty() and total >= bar_from
        self._bar: Any = click.progressbar(length=total, label=label, file=sys.stderr) if show else None

    def __enter__(self) -> InputRun:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish the progress bar's line, if one is shown."""
        if self._bar is not None:
            self._bar.render_finish()

    def advance(self, n: int = 1) -> None:
        """Move the progress bar on by N inputs."""
        if self._bar is not None and n:
            self._bar.update(n)

    def progress(self, done: int, total: int) -> None:
        """A ``progress(done, total)`` callback for the library: one input more."""
        self.advance()

    def fail(self, source: object, error: Optional[BaseException]) -> None:
        """Report one input's error on stderr and count it."""
        self.failed += 1
        click.echo(f"error: {source}: {reason(error)}", err=True)

    @contextmanager
    def isolate(self, source: object, on_error: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Run one input's work; a PhonedgeError in it is reported (after ON_ERROR) instead of stopping the rest."""
        try:
            yield
        except PhonedgeError as exc:
            on_error()
            self.fail(source, exc)

    def exit_if_failed(self) -> None:
        """Say how many inputs failed and exit 1, if any did."""
        if self.failed:
            click.echo(f"{self.failed} of {self.total} files failed", err=True)
            sys.exit(1)
