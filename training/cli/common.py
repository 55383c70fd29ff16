"""Shared pieces of the command line: problem reports (the consoles live in `training.progress`)."""

from __future__ import annotations

import typer

from features.problems import Problem
from training.progress import console, out


def report_problems(problems: list[Problem], what: str) -> None:
    """Print every problem and exit 2 when there is any."""
    if not problems:
        return
    for problem in problems:
        out.print(f"{problem}")
    console.print(f"[red]{len(problems)} problem(s) in {what}[/red]")
    raise typer.Exit(code=2)
