"""Is the port `regrade serve` was asked for free? If not, who holds it (a stale regrade server?).

A `regrade serve` killed with SIGKILL before its workers died with it (`serving.api.lifeline`)
left them listening; BentoML would then fail deep in start-up with "Address already in use".
`port_problem` binds the port the way the server will and, when that fails, names the holder
in one line: a regrade server (it answers `/readyz` with model versions) or another program,
with its pid where the system tells it.
"""

from __future__ import annotations

import errno
import socket

import httpx
import psutil

PROBE_TIMEOUT_S = 2.0
"""How long to wait for the holder's `/readyz`."""


def port_problem(host: str, port: int) -> str | None:
    """Why `regrade serve` cannot listen on `host:port`, in one line; None when it can.

    Args:
        host: The interface to listen on.
        port: The port.
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: {exc.strerror}"
        else:
            return None
    holder = _holder(port)
    if _is_regrade(host, port):
        return (
            f"port {port} is taken by a running regrade server{holder} (left over from a "
            "killed `regrade serve`?): stop it, or pass another --port"
        )
    return f"port {port} is taken by another program{holder}: stop it, or pass another --port"


def _is_regrade(host: str, port: int) -> bool:
    """Whether what listens on the port answers `/readyz` as a regrade server does."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in probe and not probe.startswith("["):
        probe = f"[{probe}]"
    try:
        answer = httpx.get(f"http://{probe}:{port}/readyz", timeout=PROBE_TIMEOUT_S)
        body = answer.json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(body, dict) and "models" in body


def _holder(port: int) -> str:
    """` (pid N, CMD)` of the process listening on `port`, when the system says; else ``."""
    try:
        listeners = [
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        ]
        if not listeners:
            return ""
        name = " ".join(psutil.Process(listeners[0]).cmdline()[:3])
    except (psutil.Error, OSError):
        return ""
    return f" (pid {listeners[0]}, {name})"
