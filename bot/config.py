"""Killwatch's configuration: a TOML file, overridden by KILLWATCH_* environment variables.

Built once by the CLI (never at import time). Secrets (the Discord token, the database
password) come only from the environment or from a file named in the config, never from the
config file itself, and show as ********** whenever settings are printed or logged.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.enrich.sde.check import SDE_VERSION_URL
from engine.esi.client import DEFAULT_ESI_URL
from engine.sources.r2z2 import DEFAULT_R2Z2_URL

__all__ = ["ConfigError", "Settings", "config_path", "load_settings"]

_SECRET_KEYS = (("discord", "token"), ("database", "password"), ("scale", "redis_password"))


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class DiscordSettings(_Section):
    token: SecretStr | None = None
    token_file: Path | None = None
    # Register slash commands in this one server only (instant, for testing) instead of
    # globally (which Discord takes up to an hour to show everywhere).
    test_guild_id: Annotated[int, Field(gt=0)] | None = None
    # Members with this role may manage a server's subscriptions, besides Manage Server.
    manager_role: str | None = None
    # Subscriptions a member may have in their DMs.
    dm_limit: Annotated[int, Field(ge=0, le=100)] = 10
    # Whether subscriptions may ping (@here, @everyone, a role): the invite then asks for
    # Mention Everyone, which is otherwise left out.
    pings: bool = False
    # Posts and edits per second across all channels; Discord allows 50 per bot.
    requests_per_second: Annotated[float, Field(gt=0, le=50)] = 45.0
    # A destination receiving more than `battle_threshold` kills within `battle_window_seconds`
    # gets one live summary, edited at most every `battle_edit_seconds`, until no kill has come
    # for `battle_quiet_seconds`.
    battle_threshold: Annotated[int, Field(ge=1, le=10_000)] = 30
    battle_window_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    battle_edit_seconds: Annotated[float, Field(gt=0, le=3600)] = 3.0
    battle_quiet_seconds: Annotated[float, Field(gt=0, le=86_400)] = 120.0
    # The weekly "top kills" digest (`/killwatch digest on`) goes out on this day at this hour
    # (UTC).
    digest_weekday: Weekday = "mon"
    digest_hour: Annotated[int, Field(ge=0, le=23)] = 12
    # Where Discord is: only tests and self-hosted gateways change these.
    api_base_url: str | None = None
    gateway_url: str | None = None


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./data/killwatch.db"
    password: SecretStr | None = None
    password_file: Path | None = None


class ReplaySourceSettings(_Section):
    kind: Literal["replay"] = "replay"
    name: str = "replay"
    path: Path | None = None  # None: the sample of real killmails shipped with Killwatch
    speed: Annotated[float, Field(gt=0)] | None = None
    max_gap_seconds: Annotated[float, Field(ge=0)] = 2.0


class R2Z2SourceSettings(_Section):
    kind: Literal["r2z2"] = "r2z2"
    name: str = "r2z2"
    url: str = DEFAULT_R2Z2_URL
    # zKillboard allows about 15-20 requests/s per address and bans abusers for up to an hour.
    requests_per_second: Annotated[float, Field(gt=0, le=20)] = 10.0
    poll_wait_seconds: Annotated[float, Field(gt=0, le=600)] = 6.0
    max_404s: Annotated[int, Field(ge=1, le=10_000)] = 10
    max_404_seconds: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    max_backlog: Annotated[int, Field(ge=1)] = 30_000


class RedisQSourceSettings(_Section):
    kind: Literal["redisq"] = "redisq"
    name: str = "redisq"
    url: str  # the mirror's base URL; listen.php is appended
    # The server keeps one queue per id: keep it stable so a restart resumes the same queue,
    # and never share it between two running bots (each would get half the kills).
    queue_id: str = Field(default_factory=lambda: f"killwatch-{socket.gethostname()}")
    ttw: Annotated[int, Field(ge=1, le=10)] = 10


class WandererSourceSettings(_Section):
    kind: Literal["wanderer"] = "wanderer"
    name: str = "wanderer"
    url: str  # the wanderer-kills server, e.g. "http://127.0.0.1:4004"
    systems: list[Annotated[int, Field(gt=0)]] = []
    characters: list[Annotated[int, Field(gt=0)]] = []
    # Its server sends a heartbeat every 30 s, so silence much longer than that is a hang.
    read_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 75.0


SourceSettings = Annotated[
    ReplaySourceSettings | R2Z2SourceSettings | RedisQSourceSettings | WandererSourceSettings,
    Field(discriminator="kind"),
]


class EsiSettings(_Section):
    # Off: names only from the static data, values only from zKillboard (fully offline).
    enabled: bool = True
    url: str = DEFAULT_ESI_URL
    # Stop calling while ESI's error budget (100 errors a minute) is down to this many.
    error_limit_floor: Annotated[int, Field(ge=0, le=99)] = 10
    # After this many failures in a row ESI is left alone for the cool-down (circuit breaker).
    breaker_threshold: Annotated[int, Field(ge=1, le=1000)] = 5
    breaker_cool_down_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # A kill waits at most this long for character/corporation/alliance names, then goes on
    # with the ids; the names still arrive for later kills.
    names_timeout_seconds: Annotated[float, Field(ge=0, le=60)] = 2.0
    # Market prices (for kills zKillboard has not valued) are refreshed this often.
    prices_refresh_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24.0
    # Stored names older than this are asked of ESI again, daily (corporations and alliances
    # get renamed), at most `names_refresh_per_run` a day.
    names_refresh_days: Annotated[float, Field(gt=0, le=365)] = 7.0
    names_refresh_per_run: Annotated[int, Field(ge=1, le=1_000_000)] = 20_000


class FeedSettings(_Section):
    """How Killwatch behaves towards the services it reads."""

    # zKillboard and ESI want to know who runs a client: an e-mail, a Discord handle or a URL.
    contact: str | None = None
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 15.0


class EngineSettings(_Section):
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 256
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    drain_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0
    recent_ids: Annotated[int, Field(ge=1_000, le=10_000_000)] = 50_000
    # Live kills older than this when they arrive are stored but not posted (0: no limit).
    max_age_minutes: Annotated[float, Field(ge=0)] = 60.0
    # How often the engine saves its status for `killwatch status` (seconds).
    status_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 15.0
    # Files Killwatch writes besides the database: the universe from `killwatch sde update`.
    data_dir: Path = Path("data")
    # Kills older than this many days (by killmail time) are deleted daily; 0 keeps them.
    retention_days: Annotated[int, Field(ge=0, le=36_500)] = 90
    # Finished outbox rows (posted, failed, skipped) are deleted after this many days; 0 keeps.
    outbox_retention_days: Annotated[int, Field(ge=0, le=3_650)] = 7
    # Daily: is CCP's SDE newer than the universe in use? Logged; installed into data_dir when
    # sde_auto_update is on (a restart loads it).
    sde_check: bool = True
    sde_auto_update: bool = False
    sde_version_url: str = SDE_VERSION_URL


class OpsSettings(_Section):
    """The /healthz and /metrics endpoint."""

    # 127.0.0.1 keeps it private to the host; in a container use "0.0.0.0" and publish it.
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 0  # 0: off
    # /healthz fails when a live feed has neither answered nor handed on a kill for this long.
    feed_stale_minutes: Annotated[float, Field(gt=0, le=1440)] = 10.0
    # ...or when the store does not answer a one-row read within this.
    store_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    # ...or, with Discord, when the gateway connection has been down for longer than this.
    discord_grace_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # ...or, in a `killwatch bot` process, when its stream consumer has not read from Redis
    # for this long (an idle read returns every second).
    stream_stale_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0


class ScaleSettings(_Section):
    """Scale-out (`killwatch ingest` + `killwatch bot`): the Redis Stream between them."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # A secret: from the environment (KILLWATCH_SCALE__REDIS_PASSWORD) or a file, never here.
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    stream: Annotated[str, Field(min_length=1, max_length=50)] = "killwatch:kills"
    # The stream is trimmed to about this many entries, and to entries younger than this
    # (0: no age limit). Bot processes down for longer than either lose what was trimmed.
    stream_maxlen: Annotated[int, Field(ge=100)] = 100_000
    stream_max_age_minutes: Annotated[float, Field(ge=0)] = 1440.0


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "keyvalue", "json"] = "text"
    kills: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KILLWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    discord: DiscordSettings = DiscordSettings()
    database: DatabaseSettings = DatabaseSettings()
    engine: EngineSettings = EngineSettings()
    logging: LoggingSettings = LoggingSettings()
    feeds: FeedSettings = FeedSettings()
    esi: EsiSettings = EsiSettings()
    ops: OpsSettings = OpsSettings()
    scale: ScaleSettings = ScaleSettings()
    sources: list[SourceSettings] = Field(default_factory=lambda: [R2Z2SourceSettings()])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: KILLWATCH_* variables, then DISCORD_TOKEN, then the config file.
        return env_settings, _DiscordTokenEnv(settings_cls), init_settings

    def discord_token(self) -> str | None:
        return _secret(self.discord.token, self.discord.token_file, "discord.token_file")

    def database_password(self) -> str | None:
        return _secret(self.database.password, self.database.password_file,
                       "database.password_file")

    def redis_password(self) -> str | None:
        return _secret(self.scale.redis_password, self.scale.redis_password_file,
                       "scale.redis_password_file")

    def secrets(self) -> list[str]:
        """Every secret value in effect, for scrubbing from logs."""
        found = (self.discord_token(), self.database_password(), self.redis_password())
        return [s for s in found if s]


def config_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """--config, else KILLWATCH_CONFIG, else ./config.toml, else ./config.example.toml."""
    if explicit:
        return Path(explicit)
    if environ.get("KILLWATCH_CONFIG"):
        return Path(environ["KILLWATCH_CONFIG"])
    for candidate in (Path("config.toml"), Path("config.example.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: Path | None) -> Settings:
    """Read the file (if any) and the environment. Raises ConfigError with a readable message."""
    file_data: dict[str, Any] = {}
    if path is not None:
        try:
            file_data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        for section, key in _SECRET_KEYS:
            if isinstance(file_data.get(section), dict) and key in file_data[section]:
                raise ConfigError(
                    f"{section}.{key} may not be written in the config file {path}: secrets "
                    f"come from the environment ({_env_hint(section, key)}) or from a file "
                    f"named by {section}.{key}_file"
                )
        url = file_data.get("database", {}).get("url") if isinstance(
            file_data.get("database"), dict) else None
        if isinstance(url, str) and _url_has_password(url):
            raise ConfigError(
                f"database.url in {path} contains a password: leave it out of the URL and set "
                "KILLWATCH_DATABASE__PASSWORD or database.password_file"
            )
    try:
        # The file's values go in as init arguments, which rank lowest (see below).
        return Settings(**file_data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _url_has_password(url: str) -> bool:
    try:
        return make_url(url).password is not None
    except ArgumentError:
        return False  # validation of the URL itself happens where it is used


def _env_hint(section: str, key: str) -> str:
    name = f"KILLWATCH_{section.upper()}__{key.upper()}"
    return "DISCORD_TOKEN or " + name if section == "discord" else name


class _DiscordTokenEnv(PydanticBaseSettingsSource):
    """DISCORD_TOKEN, the name every Discord bot's documentation uses."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        token = os.environ.get("DISCORD_TOKEN")
        return {"discord": {"token": token}} if token else {}


def _secret(value: SecretStr | None, path: Path | None, key: str) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None


def _describe(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        # A secret may sit under a misspelt key too: show no value from these sections.
        secret = key.startswith("discord") or "password" in key
        shown = "**********" if secret else repr(error.get("input"))
        if error["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key; check its spelling")
        elif error["type"] == "missing":
            lines.append(f"  {key}: required but not set")
        else:
            lines.append(f"  {key} = {shown}: {error['msg']}")
    return "\n".join(lines)
