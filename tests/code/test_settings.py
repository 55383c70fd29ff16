"""Settings: defaults, the settings file, environment overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import Settings, SettingsError, load_settings


def test_defaults_live_under_var_and_nothing_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.home == Path("var")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'var' / 'regrade.db'}"
    assert settings.resolved_mlflow_uri == f"sqlite:///{tmp_path / 'var' / 'mlflow.db'}"
    assert settings.api_keys == {}
    assert settings.policy is None
    assert settings.photos_dir == Path("var") / "photos"
    assert list(tmp_path.iterdir()) == []
    settings.ensure_dirs()
    assert (tmp_path / "var" / "runs").is_dir()


def roles_of(settings) -> dict[str, tuple[str, ...]]:
    return {key: config.roles for key, config in settings.api_keys.items()}


def test_environment_overrides(tmp_path):
    env = {
        "REGRADE_HOME": str(tmp_path / "h"),
        "REGRADE_DATABASE_URL": "postgresql+psycopg://127.0.0.1:5432/test",
        "REGRADE_MLFLOW_URI": "http://127.0.0.1:5000",
        "REGRADE_API_KEYS": '{"k1": ["intake"], "k2": ["grader", "pricing"]}',
        "REGRADE_POLICY": "policy.toml",
        "REGRADE_PHOTO_STORE": str(tmp_path / "shared" / "photos"),
    }
    settings = load_settings(env)
    assert settings.home == tmp_path / "h"
    assert settings.resolved_database_url == env["REGRADE_DATABASE_URL"]
    assert settings.resolved_mlflow_uri == env["REGRADE_MLFLOW_URI"]
    assert roles_of(settings) == {"k1": ("intake",), "k2": ("grader", "pricing")}
    assert settings.policy == Path("policy.toml")
    assert settings.photos_dir == tmp_path / "shared" / "photos"  # replicas share it, not home


def test_settings_file_under_home_and_environment_wins(tmp_path):
    (tmp_path / "settings.toml").write_text(
        'database_url = "sqlite:///from-file.db"\n[api_keys]\nfilekey = ["admin"]\n'
    )
    settings = load_settings({"REGRADE_HOME": str(tmp_path)})
    assert settings.database_url == "sqlite:///from-file.db"
    assert roles_of(settings) == {"filekey": ("admin",)}
    settings = load_settings(
        {"REGRADE_HOME": str(tmp_path), "REGRADE_API_KEYS": '{"e": ["grader"]}'}
    )
    assert roles_of(settings) == {"e": ("grader",)}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REGRADE_API_KEYS": "{not json"}, "REGRADE_API_KEYS: not valid JSON"),
        (
            {"REGRADE_API_KEYS": '{"k": ["boss"]}'},
            "REGRADE_API_KEYS (api_keys.<key>.roles): Value error, unknown",
        ),
        ({"REGRADE_API_KEYS": '["k"]'}, "REGRADE_API_KEYS (api_keys)"),
        ({"REGRADE_SETTINGS": "/nonexistent/settings.toml"}, "REGRADE_SETTINGS: file not found"),
        (
            {"REGRADE_API_KEYS": '{"s3cret": {"roles": ["grader"], "name": "al ice"}}'},
            "REGRADE_API_KEYS (api_keys.<key>.name): Value error, bad key name 'al ice'",
        ),
        (
            {"REGRADE_API_KEYS": '{"s3cret": {"roles": ["grader"], "nick": "al"}}'},
            "REGRADE_API_KEYS (api_keys.<key>.nick)",
        ),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)


def test_a_key_carries_its_holders_name_and_the_bare_roles_form_still_works():
    keys = '{"k-alice": {"roles": ["grader"], "name": "alice"}, "k-team": ["pricing"]}'
    settings = load_settings({"REGRADE_API_KEYS": keys})
    assert settings.api_keys["k-alice"].roles == ("grader",)
    assert settings.api_keys["k-alice"].name == "alice"
    assert settings.api_keys["k-team"].roles == ("pricing",)
    assert settings.api_keys["k-team"].name is None


def test_bad_settings_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("home = [unclosed")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({"REGRADE_SETTINGS": str(path)})
    path.write_text('colour = "blue"\n')
    with pytest.raises(SettingsError, match="colour"):
        load_settings({"REGRADE_SETTINGS": str(path)})


def test_settings_read_the_process_environment_directly(tmp_path, monkeypatch):
    (tmp_path / "settings.toml").write_text("max_photos = 3\nmax_photo_bytes = 4096\n")
    monkeypatch.setenv("REGRADE_HOME", str(tmp_path))
    monkeypatch.setenv("REGRADE_MAX_PHOTOS", "5")
    monkeypatch.setenv("REGRADE_BATCHING", "0")
    settings = Settings()
    assert (settings.max_photos, settings.max_photo_bytes) == (5, 4096)
    assert settings.batching is False
    assert load_settings() == settings
