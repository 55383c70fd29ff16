"""Shared pieces of the command line: the console, progress bars and problem reports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from features.problems import Problem

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

T = TypeVar("T")


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


def tracked(description: str):
    """A `progress(iterable, total)` callable for library functions that accept one."""

    def progress(items: Iterable[T], total: int) -> Iterator[T]:
        with progress_bar(description) as bar:
            task = bar.add_task(description, total=total)
            for item in items:
                yield item
                bar.advance(task)

    return progress


def report_problems(problems: list[Problem], what: str) -> None:
    """Print every problem and exit 2 when there is any."""
    if not problems:
        return
    for problem in problems:
        out.print(f"{problem}")
    console.print(f"[red]{len(problems)} problem(s) in {what}[/red]")
    raise typer.Exit(code=2)
