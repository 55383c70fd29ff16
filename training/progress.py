"""What a long run shows on the terminal: the two consoles and progress bars.

Results go to `out` (stdout); progress bars, warnings and errors to `console` (stderr). The CLI,
the pipelines and the demo share them, so a run looks the same whichever started it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

T = TypeVar("T")
ProgressFn = Callable[[Iterable[T], int], Iterator[T]]
"""A `progress(items, total)` callable that yields the items while showing how far it got."""


def progress_bar(description: str) -> Progress:
    """A progress bar on stderr with count, elapsed and remaining time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def tracked(description: str) -> ProgressFn:
    """A `progress(iterable, total)` callable for library functions that accept one."""

    def progress(items: Iterable[T], total: int) -> Iterator[T]:
        with progress_bar(description) as bar:
            task = bar.add_task(description, total=total)
            for item in items:
                yield item
                bar.advance(task)

    return progress


def warn(message: object) -> None:
    """Print a warning on stderr (a problem that does not stop the run)."""
    console.print(f"[yellow]warning:[/yellow] {message}")
