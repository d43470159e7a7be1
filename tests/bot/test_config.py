"""Configuration: file plus environment, secrets kept secret, errors that say how to fix them."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from bot.config import (
    ConfigError,
    R2Z2SourceSettings,
    SourceSettings,
    config_path,
    load_settings,
)

TOKEN = "MTIzNDU2Nzg5.secret-token-for-tests"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("KILLWATCH_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)


def test_the_example_config_is_valid_and_documents_every_key():
    settings = load_settings(REPO / "config.example.toml")
    assert settings.database.url == "sqlite+aiosqlite:///./data/killwatch.db"
    assert [source.kind for source in settings.sources] == ["r2z2"]
    assert settings.sources[0] == R2Z2SourceSettings()  # it shows the defaults
    text = (REPO / "config.example.toml").read_text()
    for section, model in settings:
        if section == "sources":
            continue
        for key in type(model).model_fields:
            assert key in text, f"config.example.toml does not mention {section}.{key}"
    for kind in get_args(get_args(SourceSettings)[0]):
        for key in kind.model_fields:
            assert key in text, f"config.example.toml does not mention sources {kind}.{key}"


def test_environment_overrides_the_file_with_nested_keys(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[engine]\nbatch_size = 10\nqueue_size = 20\n[logging]\nlevel = "DEBUG"\n')
    monkeypatch.setenv("KILLWATCH_ENGINE__BATCH_SIZE", "99")
    settings = load_settings(path)
    assert settings.engine.batch_size == 99
    assert settings.engine.queue_size == 20
    assert settings.logging.level == "DEBUG"


def test_the_token_comes_from_discord_token_and_never_shows(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    settings = load_settings(None)
    assert settings.discord_token() == TOKEN
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert TOKEN not in text
    assert settings.secrets() == [TOKEN]


def test_the_prefixed_variable_wins_over_discord_token(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "plain")
    monkeypatch.setenv("KILLWATCH_DISCORD__TOKEN", "prefixed")
    assert load_settings(None).discord_token() == "prefixed"


def test_secrets_can_come_from_files(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "pw").write_text("hunter2\n")
    path = tmp_path / "c.toml"
    path.write_text(
        f'[discord]\ntoken_file = "{tmp_path / "token"}"\n'
        f'[database]\npassword_file = "{tmp_path / "pw"}"\n'
    )
    settings = load_settings(path)
    assert settings.discord_token() == TOKEN
    assert settings.database_password() == "hunter2"


def test_an_unreadable_secret_file_names_the_key_not_the_secret(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[discord]\ntoken_file = "{tmp_path / "missing"}"\n')
    with pytest.raises(ConfigError, match=r"discord\.token_file: cannot read"):
        load_settings(path).discord_token()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (f'[discord]\ntoken = "{TOKEN}"\n', "discord.token may not be written in the config"),
        ('[database]\npassword = "x"\n', "database.password may not be written"),
        ('[database]\nurl = "postgresql+asyncpg://kw:pw@db/kw"\n', "contains a password"),
    ],
)
def test_secrets_in_the_file_are_refused(tmp_path, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(path)
    assert TOKEN not in str(caught.value)
    assert "pw@" not in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[logging]\nlevel = "LOUD"\n',
         "logging.level = 'LOUD': Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("[engine]\nqueue_size = 0\n",
         "engine.queue_size = 0: Input should be greater than or equal to 1"),
        ("[engine]\nbatch_sise = 5\n", "engine.batch_sise: unknown key"),
        ('[[sources]]\nkind = "carrier-pigeon"\n', "sources.0"),
        ('[[sources]]\nkind = "replay"\nspeed = -2\n', "sources.0.replay.speed = -2"),
    ],
)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(tmp_path, toml, expected):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert expected in str(caught.value)


def test_a_bad_token_from_the_environment_is_masked_in_errors(monkeypatch):
    monkeypatch.setenv("KILLWATCH_DISCORD__TOKEN_FILE", "")
    monkeypatch.setenv("KILLWATCH_DISCORD__TOKEN", TOKEN)
    monkeypatch.setenv("KILLWATCH_DISCORD__NONSENSE", TOKEN)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert TOKEN not in str(caught.value)


def test_broken_toml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[engine\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_config_path_prefers_flag_then_environment_then_local_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_path(None, {}) is None
    (tmp_path / "config.example.toml").write_text("")
    assert config_path(None, {}) == Path("config.example.toml")
    (tmp_path / "config.toml").write_text("")
    assert config_path(None, {}) == Path("config.toml")
    assert config_path(None, {"KILLWATCH_CONFIG": "/etc/kw.toml"}) == Path("/etc/kw.toml")
    assert config_path("mine.toml", {"KILLWATCH_CONFIG": "/etc/kw.toml"}) == Path("mine.toml")
