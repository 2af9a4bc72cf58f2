"""The operator's view of the settings: `gateway config show` (each setting, masked,
with its source) and `config check` (reach the database and the bucket); and the
guard that keeps commands from creating a second, empty database by mistake."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.db.inventory import InventoryRepository
from gateway.db.migrate import load_migrations
from gateway.db.pool import open_database
from gateway.errors import GatewayError
from gateway.settings import ENV_PREFIX, S3Settings, Settings, SettingsError
from gateway.storage import open_object_store

MASK = "********"
_SECRET_WORDS = ("secret", "password", "token")


def _masked(name: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if any(word in name for word in _SECRET_WORDS):
        return MASK
    if name == "database_url":
        parts = urlsplit(str(value))
        if parts.password:
            netloc = f"{parts.username}:{MASK}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
    return str(value) if not isinstance(value, (int, float, bool)) else value


def describe(settings: Settings, sources: dict[str, tuple[str, str]],
             overrides: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per setting: `GATEWAY_` name, effective value (masked), and where it
    came from (command line, environment, config file, or default)."""
    overrides = overrides or {}
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any) -> None:
        if name in overrides:
            source = overrides[name]
        elif name in sources:
            source = sources[name][1]
        else:
            source = "default"
        rows.append({"setting": ENV_PREFIX + name.upper(), "value": _masked(name, value),
                     "source": source})

    for field in dataclasses.fields(Settings):
        if field.name == "s3":
            continue
        add(field.name, getattr(settings, field.name))
    s3 = settings.s3
    for field in dataclasses.fields(S3Settings):
        add(f"s3_{field.name}", getattr(s3, field.name) if s3 is not None else None)
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    width = max(len(row["setting"]) for row in rows)
    value_width = min(48, max(len(str(row["value"])) for row in rows))
    return "\n".join(
        f"{row['setting']:<{width}}  {'' if row['value'] is None else str(row['value']):<{value_width}}  "
        f"({row['source']})" for row in rows)


def describe_database(settings: Settings) -> str:
    """Which database, without its password: the embedded cluster's folder or the URL."""
    if settings.database_url is None:
        return f"embedded PostgreSQL in {settings.postgres_dir.resolve()}"
    return str(_masked("database_url", settings.database_url))


def require_embedded_cluster(settings: Settings, *, create: bool) -> None:
    """Stop a command pointed at the wrong folder before it makes a new, empty cluster."""
    if settings.database_url is not None or create:
        return
    if not (settings.postgres_dir / "PG_VERSION").exists():
        raise SettingsError(
            f"no gateway database in {settings.data_dir.resolve()} (looked for "
            f"{settings.postgres_dir.resolve()}); run `gateway init` to create one there, or "
            f"point --data-dir or GATEWAY_DATA_DIR at an existing one")


async def check_settings(settings: Settings) -> dict[str, Any]:
    """Settings are valid (they parsed); then reach the database and the store."""
    report: dict[str, Any] = {"settings": "ok"}
    try:
        require_embedded_cluster(settings, create=False)
        async with open_database(settings, migrate=False) as pool:
            version = await InventoryRepository(pool).schema_version()
        latest = load_migrations()[-1].version
        if version is None:
            report["database"] = "no gateway schema: run `gateway init` or `gateway migrate`"
        elif version > latest:
            report["database"] = (f"schema {version} is newer than this gateway knows ({latest}): "
                                  "upgrade the gateway")
        else:
            pending = f", {latest - version} migrations pending (run `gateway migrate`)" if version < latest else ""
            report["database"] = f"ok (schema {version}{pending})"
    except (GatewayError, SettingsError) as exc:
        report["database"] = exc.message if isinstance(exc, GatewayError) else str(exc)
    if settings.s3 is None and not settings.data_dir.exists():
        report["storage"] = f"ok (folder {settings.objects_dir.resolve()} is made at first start)"
        report["ok"] = all(str(v).startswith("ok") for v in report.values())
        return report
    try:
        async with open_object_store(settings):
            pass
        where = (f"s3 bucket {settings.s3.bucket}" if settings.s3 is not None
                 else f"folder {settings.objects_dir.resolve()}")
        report["storage"] = f"ok ({where})"
    except GatewayError as exc:
        report["storage"] = exc.message
    report["ok"] = all(str(value).startswith("ok") for key, value in report.items())
    return report
