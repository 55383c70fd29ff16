"""`regrade serve`: run the BentoML service (`serving.web.service:Regrade`) with the settings.

It first checks that the models the settings name (the `@champion`s by default) can be found,
staging them in the local model cache, and that each one matches the digests recorded when it
was saved, loads and answers a probe input (`serving.runtime.check_models`), so a missing
champion, a truncated or tampered file, or a model that gives NaN is one clear line naming
the file and exit 2, instead of a worker crash loop; and that the port is free (a stale server
on it is one line naming it, exit 2, `training.cli.ports`). Then the process becomes
`bentoml serve` (same pid, so stopping it stops the server and its workers). It names its pid
to the workers (`serving.api.lifeline.SERVE_PID_VAR`), which then die with it even when it is
killed with SIGKILL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from serving.api.lifeline import SERVE_PID_VAR
from serving.settings import load_settings
from training.cli.common import console
from training.cli.ports import port_problem

REPO = Path(__file__).resolve().parents[2]
SERVICE = "serving.web.service:Regrade"
"""The API service with the pages mounted at /ui (`serving.web.service`)."""


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
) -> None:
    """Serve /grade, /price, /assess, the JSON routes, the pages at /ui and /docs."""
    from serving.runtime import StartupError, check_models

    settings = load_settings()
    settings.ensure_dirs()
    try:
        found = check_models(settings)
    except StartupError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from exc
    for role, model in found.items():
        console.print(f"{role}: {model.name or model.path} version {model.version or '-'}")
    _pin_paths(settings)
    problem = port_problem(host, port)  # a stale server still on it, say
    if problem is not None:
        console.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(2)
    console.print(f"serving on http://{host}:{port} (API docs at /docs)")
    command = [
        sys.executable, "-m", "bentoml", "serve", SERVICE,
        "--host", host, "--port", str(port), "--working-dir", str(REPO),
    ]  # fmt: skip
    os.environ[SERVE_PID_VAR] = str(os.getpid())  # the same pid after exec
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def _pin_paths(settings) -> None:
    """Hand the workers absolute paths: they run from the repository, not from this folder."""
    os.environ["REGRADE_HOME"] = str(settings.home.resolve())
    # BentoML wipes the Prometheus multiprocess folder under its home at every start: one per
    # regrade home, so a second `regrade serve` on the host keeps the first one's metrics.
    os.environ["BENTOML_HOME"] = str(settings.bentoml_home.resolve())
    for var in ("REGRADE_SETTINGS", "REGRADE_POLICY", "REGRADE_LEDGER"):
        value = os.environ.get(var)
        if value and not value.startswith(("models:/", "http://", "https://")):
            os.environ[var] = str(Path(value).resolve())
    os.environ.setdefault("REGRADE_DATABASE_URL", settings.resolved_database_url)
    os.environ.setdefault("REGRADE_MLFLOW_URI", settings.resolved_mlflow_uri)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(serve)

if __name__ == "__main__":
    app()
