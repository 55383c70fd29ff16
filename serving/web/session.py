"""Signing in to the pages: an API key becomes a signed session cookie with CSRF protection.

The cookie (`regrade_session`, HttpOnly, SameSite=Strict, path `/ui`) carries the key's roles,
the audit identity of the caller (`serving.api.auth.actor_of`: the key's configured name, else
its roles, and a hash of the key, never the key), the name the person gave, and the session's
CSRF token; it is signed with the session secret (`Settings.session_secret`, else a random
one generated once and kept in `REGRADE_HOME/session-secret`). Every request re-checks that
the key behind the cookie is still configured, so removing a key signs its sessions out.
Every form POST carries the CSRF token in a `csrf` field; the sign-in form, before there is a
session, carries the token of a short-lived `regrade_signin` cookie instead (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from serving.api.auth import actor_of
from serving.settings import Settings
from serving.store.records import Actor

COOKIE = "regrade_session"
SIGNIN_COOKIE = "regrade_signin"
MAX_AGE_S = 12 * 3600
"""A session lasts a working day."""
SALT = "regrade-web-session"


class SignInNeeded(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class RoleNeeded(Exception):
    """Signed in, but without a role the page needs."""

    def __init__(self, needed: tuple[str, ...], have: list[str]):
        self.needed, self.have = needed, have
        super().__init__(f"needs one of the roles {list(needed)}")


class CsrfRefused(Exception):
    """A form POST without the session's CSRF token."""


@dataclass(frozen=True)
class Viewer:
    """Who is signed in.

    Attributes:
        actor: The key's audit identity, recorded with what the viewer does.
        roles: The key's roles.
        name: The name the person gave at sign-in (their grader or analyst id, kept as a label
            with their decisions), else the key's name.
        csrf: The session's CSRF token.
    """

    actor: Actor
    roles: tuple[str, ...]
    name: str
    csrf: str

    def may(self, *roles: str) -> bool:
        """Whether the viewer has one of `roles` (admin has them all)."""
        return "admin" in self.roles or bool(set(roles) & set(self.roles))


def session_secret(settings: Settings) -> str:
    """The secret that signs cookies: the setting, else the one kept under the home (made once).

    Several workers may start at once: the file is created exclusively, the losers read it.
    """
    if settings.session_secret:
        return settings.session_secret
    path: Path = settings.session_secret_file
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    for _ in range(50):  # another worker may be writing it this instant
        secret = path.read_text().strip()
        if secret:
            return secret
    raise RuntimeError(f"the session secret file {path.name} under the home is empty")


class Sessions:
    """Makes and reads session cookies for the keys of `settings`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._signer = URLSafeTimedSerializer(session_secret(settings), salt=SALT)

    def _keys_by_actor(self) -> dict[str, tuple[Actor, tuple[str, ...]]]:
        found = {}
        for key, config in self.settings.api_keys.items():
            actor = actor_of(key, config)
            found[str(actor)] = (actor, config.roles)
        return found

    def sign_in(self, key: str, name: str | None) -> tuple[str, Viewer] | None:
        """The cookie value and viewer for an API key, or None for a key not configured."""
        for known, config in self.settings.api_keys.items():  # constant time per key
            if hmac.compare_digest(known.encode(), key.encode()):
                actor = actor_of(known, config)
                label = name or actor.name
                viewer = Viewer(actor, config.roles, label, secrets.token_urlsafe(24))
                payload = {"a": str(actor), "n": label, "c": viewer.csrf, "r": list(config.roles)}
                return self._signer.dumps(payload), viewer
        return None

    def read(self, cookie: str | None) -> Viewer | None:
        """The viewer of a cookie, or None when it is missing, forged, expired or revoked."""
        if not cookie:
            return None
        try:
            payload = self._signer.loads(cookie, max_age=MAX_AGE_S)
        except BadSignature:
            return None
        found = self._keys_by_actor().get(payload.get("a"))
        if found is None:  # the key was removed from the settings (or renamed)
            return None
        actor, roles = found
        return Viewer(actor, roles, str(payload.get("n")), str(payload.get("c")))


def signin_token() -> str:
    """A fresh token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(24)


def same_token(given: str | None, expected: str | None) -> bool:
    """Whether a posted CSRF token matches (constant time)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )
