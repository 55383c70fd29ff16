"""API-key auth: `Authorization: Bearer <key>`, keys mapped to roles in the settings.

Keys come from the settings file or `REGRADE_API_KEYS` (`{"key": ["intake", ...]}`, or
`{"key": {"roles": [...], "name": "alice"}}` to name who holds it). A request without a known
key gets 401, a key without a role the route allows 403; `admin` may call every route; two
`Authorization` headers are refused (400) rather than one of them picked. `/livez`, `/readyz`,
`/metrics`, `/docs` (and the Swagger UI it points to) are open. A route not in `ROUTE_ROLES`
needs a valid key of any role. The caller's identity (`Actor`: the key's name and a short hash
of the key, never the key) is put in the ASGI scope as `regrade.actor` for the audit trail,
which records it whatever id a request body names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping

from serving.api.state import RuntimeSlot
from serving.settings import ApiKey
from serving.store.records import Actor

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/docs", "/docs.json", "/"})
OPEN_PREFIXES = ("/static_content/",)
"""Served without a key: probes, metrics and the API documentation."""
WEB_PREFIX = "/ui"
"""The people's pages (`serving.web`): signed in by a session cookie, which they check."""

ROUTE_ROLES: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = tuple(
    (method, re.compile(pattern), frozenset(roles))
    for method, pattern, roles in (
        ("POST", r"/grade", {"intake"}),
        ("POST", r"/price", {"intake", "pricing"}),
        ("POST", r"/assess", {"intake"}),
        ("GET", r"/reviews", {"grader"}),
        ("POST", r"/reviews/[^/]+/resolve", {"grader"}),
        ("GET", r"/pricing/pending", {"pricing"}),
        ("POST", r"/pricing/[^/]+/decision", {"pricing"}),
        ("POST", r"/outcomes", {"intake"}),
        ("GET", r"/photos/[^/]+", {"intake", "grader", "pricing"}),
        ("GET", r"/cases/[^/]+", {"intake", "grader", "pricing"}),
        ("GET", r"/second-gradings", {"grader"}),
        ("POST", r"/second-gradings/[^/]+/grade", {"grader"}),
        ("GET", r"/listings(\.csv)?", {"pricing"}),
        ("POST", r"/admin/reload", set()),
    )
)
"""(method, path, roles allowed besides admin)."""

ACTOR_KEY = "regrade.actor"


def needs_key(path: str) -> bool:
    """Whether a request to `path` needs an API key (the open paths and the pages do not)."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return False
    return not (path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/"))


def roles_for(method: str, path: str) -> frozenset[str] | None:
    """The roles that may call `method path` (admin always may); None when any key will do."""
    for wanted, pattern, roles in ROUTE_ROLES:
        if wanted == method and pattern.fullmatch(path):
            return roles
    return None


def actor_of(key: str, config: ApiKey) -> Actor:
    """How a caller appears in the audit trail: the key's name (else its roles) and a short
    hash of the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    if config.name is not None:
        return Actor(digest, config.name, personal=True)
    return Actor(digest, "+".join(sorted(config.roles)))


def _deny(status: int, message: str, field: str | None = None):
    answer = {"error": message} if field is None else {"error": message, "field": field}
    body = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="regrade"'))
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class ApiKeyAuth:
    """ASGI middleware enforcing the key-to-role table on every route, mounted apps included."""

    def __init__(self, app, slot: RuntimeSlot):
        """Wrap `app`; the keys are those of the settings of the runtime in `slot`."""
        self.app = app
        self.slot = slot

    def _keys(self) -> Mapping[str, ApiKey]:
        settings = self.slot.settings
        return settings.api_keys if settings is not None else {}

    def _lookup(self, header: bytes | None) -> tuple[str, ApiKey] | None:
        if not header:
            return None
        scheme, _, token = header.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        for key, config in self._keys().items():  # compare every key in constant time
            if hmac.compare_digest(key.encode(), token.encode()):
                return key, config
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if not needs_key(path):  # probes, docs; the pages check their own session
            return await self.app(scope, receive, send)
        given = [v for k, v in scope.get("headers") or [] if k.lower() == b"authorization"]
        found = self._lookup(given[0]) if len(given) == 1 else None
        if len(given) > 1:
            events = _deny(400, "send one Authorization header, not several", "Authorization")
        elif found is None:
            events = _deny(401, "missing or unknown API key: send Authorization: Bearer <key>")
        else:
            key, config = found
            roles = set(config.roles)
            allowed = roles_for(method, path)
            if allowed is None or "admin" in roles or allowed & roles:
                scope.setdefault("state", {})[ACTOR_KEY] = actor_of(key, config)
                return await self.app(scope, receive, send)
            events = _deny(
                403, f"{method} {path} needs one of the roles {sorted(allowed | {'admin'})}"
            )
        for event in events:
            await send(event)
        return None


def actor_in(scope: Mapping) -> Actor | None:
    """The caller `ApiKeyAuth` put in a request's ASGI scope (None on an open route)."""
    return (scope.get("state") or {}).get(ACTOR_KEY)
