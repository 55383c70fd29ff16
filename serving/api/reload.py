"""The optional poll of the registry aliases: a new `@champion` is swapped in without a call.

With `REGRADE_RELOAD_S` above zero, a daemon thread of each API worker checks every that many
seconds whether the models the settings name (the `@champion`s by default) are still those
loaded (`serving.runtime.champions_moved`) and, when not, reloads through the runtime slot, the
same way `POST /admin/reload` does. A failed check or load is logged; the old models keep
answering and the next poll tries again.
"""

from __future__ import annotations

import logging
import threading

from serving.api.state import RuntimeSlot
from serving.runtime import champions_moved

log = logging.getLogger("regrade.reload")


class AliasPoller:
    """Polls the champion aliases every `interval_s` seconds (0: never) and reloads on a move."""

    def __init__(self, slot: RuntimeSlot, interval_s: float) -> None:
        self.slot = slot
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread (nothing when the interval is 0)."""
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="regrade-alias-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def poll_once(self) -> bool:
        """Reload when the champions moved; returns whether a reload swapped the runtime."""
        runtime = self.slot.runtime
        if runtime is None:
            return False
        try:
            moved = champions_moved(runtime)
        except Exception as exc:  # registry unreachable, model gone: keep serving, retry later
            log.warning("alias poll: cannot check the champions: %s", exc)
            return False
        if not moved:
            return False
        outcome = self.slot.reload()
        if not outcome.ok:
            log.warning("alias poll: reload failed, old models keep answering: %s", outcome.error)
        else:
            log.info("alias poll: now serving %s", outcome.models)
        return outcome.ok

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll_once()
