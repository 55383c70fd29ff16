"""Session cookies: signed with the secret, tied to a configured key, never carrying the key."""

from __future__ import annotations

import json
import stat

from serving.settings import load_settings
from serving.web.session import Sessions, session_secret


def settings_for(home, keys, **extra):
    return load_settings({"REGRADE_HOME": str(home), "REGRADE_API_KEYS": json.dumps(keys), **extra})


def test_a_cookie_reads_back_as_its_key_roles_and_name(tmp_path):
    sessions = Sessions(settings_for(tmp_path, {"k-g": ["grader"]}))
    cookie, viewer = sessions.sign_in("k-g", "ann")
    assert "k-g" not in cookie
    read = sessions.read(cookie)
    assert read == viewer and read.roles == ("grader",) and read.name == "ann"
    assert read.may("grader") and not read.may("pricing")
    assert sessions.sign_in("k-unknown", None) is None


def test_a_forged_cookie_or_another_secret_is_refused(tmp_path):
    keys = {"k-g": ["grader"]}
    sessions = Sessions(settings_for(tmp_path, keys))
    cookie, _ = sessions.sign_in("k-g", None)
    assert sessions.read(cookie[:-3] + "xyz") is None
    other = Sessions(settings_for(tmp_path, keys, REGRADE_SESSION_SECRET="s" * 32))
    assert other.read(cookie) is None


def test_removing_the_key_signs_its_sessions_out_and_new_roles_apply(tmp_path):
    cookie, _ = Sessions(settings_for(tmp_path, {"k-g": ["grader"]})).sign_in("k-g", None)
    assert Sessions(settings_for(tmp_path, {"k-other": ["grader"]})).read(cookie) is None
    promoted = Sessions(settings_for(tmp_path, {"k-g": ["grader", "pricing"]})).read(cookie)
    assert promoted is None  # the audit name holds the roles: a key given new roles signs in again


def test_the_generated_secret_is_kept_private_and_reused(tmp_path):
    settings = settings_for(tmp_path, {})
    first = session_secret(settings)
    path = settings.session_secret_file
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(settings) == first
    named = settings_for(tmp_path, {}, REGRADE_SESSION_SECRET="x" * 20)
    assert session_secret(named) == "x" * 20
