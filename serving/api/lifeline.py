"""Service workers die with `regrade serve`, so a killed server leaves no orphan on its port.

`regrade serve` becomes `bentoml serve` (same pid), whose arbiter starts each service worker as
its child. Killed with SIGKILL, the arbiter cannot stop them: they would keep the port and go
on answering, and the next start would fail with "Address already in use". `regrade serve`
names its pid in `SERVE_PID_VAR`; a worker whose parent is that process asks the kernel for
SIGKILL when the parent dies (Linux `prctl(PR_SET_PDEATHSIG)`), or, where there is no such
call, watches its parent pid from a daemon thread. A worker started by anything else (an
in-process test client, a plain `bentoml serve`) is left alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping

SERVE_PID_VAR = "REGRADE_SERVE_PID"
"""The environment variable in which `regrade serve` names its own pid for its workers."""
PR_SET_PDEATHSIG = 1
"""`prctl` option: the signal this process gets when its parent dies (linux/prctl.h)."""
WATCH_EVERY_S = 1.0
"""How often the watchdog (no prctl) looks at the parent pid."""

logger = logging.getLogger(__name__)


def die_with_parent(environ: Mapping[str, str] | None = None) -> str | None:
    """Make this worker die when the `regrade serve` that started it does.

    Args:
        environ: The environment to read `SERVE_PID_VAR` from; `os.environ` by default.

    Returns:
        How: "prctl" or "watchdog"; None when this process was not started by `regrade serve`.
    """
    named = (os.environ if environ is None else environ).get(SERVE_PID_VAR, "")
    parent = os.getppid()
    if not named.isdigit() or int(named) != parent:
        if named.isdigit() and os.getpid() != int(named):
            # started by regrade serve, which is gone already (we were re-parented)
            logger.error("regrade serve (pid %s) is gone; this worker exits", named)
            os.kill(os.getpid(), signal.SIGKILL)
        return None
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGKILL)
        return "prctl"
    threading.Thread(target=_watch, args=(parent,), name="regrade-lifeline", daemon=True).start()
    return "watchdog"


def _watch(parent: int) -> None:
    """Kill this process once its parent is no longer `parent`."""
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY_S)
    os.kill(os.getpid(), signal.SIGKILL)
