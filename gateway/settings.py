"""Frozen settings: the only place that reads the environment.

Values come from `GATEWAY_*` environment variables, optionally on top of a TOML
file named by `GATEWAY_CONFIG` (keys are the variable names without the prefix,
lower-cased: `database_url = "..."`). The environment wins over the file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB

# S3's multipart rules: every part but the last at least 5 MiB, at most 5 GiB.
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PART_SIZE = 5 * GiB

ENV_PREFIX = "GATEWAY_"
# Added to the upload timeout for the garbage collector's default minimum age:
# time for an upload's row to commit after its last byte.
GC_MARGIN = 600.0


class SettingsError(ValueError):
    """A setting is missing or wrong; the message is one line for the operator."""


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    addressing_style: str = "auto"
    # Seconds: to open a connection, and of silence while waiting for an answer.
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    # What S3 verifies of each part besides its length: "crc32" (x-amz-checksum-crc32,
    # a fifth of MD5's CPU), "md5" (Content-MD5) or "none". A file sent in one
    # request carries Content-MD5 unless "none": its MD5 is computed anyway.
    # Payloads are never SigV4-hashed.
    part_checksum: str = "crc32"


PART_CHECKSUMS = frozenset({"crc32", "md5", "none"})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("gateway-data")
    database_url: str | None = None
    s3: S3Settings | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    part_size: int = 8 * MiB
    part_concurrency: int = 4
    # Larger than GitLab's 5 GiB default; 0 means unlimited (S3's own 5 TiB cap).
    max_file_size: int = 50 * GiB
    upload_timeout: float = 4 * 3600.0
    # Part buffers of all uploads together; a part that does not fit waits.
    upload_buffer_bytes: int = 256 * MiB
    # An upload whose body sends nothing for this long is cut off (408).
    body_idle_timeout: float = 60.0
    db_pool_min: int = 1
    db_pool_max: int = 10
    migrate_on_start: bool = True
    log_level: str = "info"
    log_format: str = "auto"
    # Set: trust the embedding proxy's signed X-Gateway-Proxy-Auth header.
    trusted_proxy_secret: str | None = None
    # How clients reach us, for absolute URLs (Link headers, delete_api_path);
    # unset: the origin each request came to.
    external_url: str | None = None
    # Set: `/metrics` answers only requests with `Authorization: Bearer <token>`.
    metrics_token: str | None = None
    # Seconds between garbage collections in `serve`; 0 turns them off.
    gc_interval: float = 3600.0
    # Leftovers younger than this are left alone; unset: the upload timeout
    # plus GC_MARGIN, so no upload still running can lose its object.
    gc_min_age: float | None = None
    # On SIGTERM/SIGINT/SIGHUP, how long requests in flight may run before they are cancelled.
    shutdown_grace: float = 60.0
    # Package webhooks: URLs resolving to loopback or link-local addresses are
    # refused unless allowed; retries wait base * 2^n seconds (with jitter);
    # processes not woken by a commit look for due deliveries this often.
    allow_local_hooks: bool = False
    hook_backoff_base: float = 10.0
    hook_poll_interval: float = 5.0
    # "redirect": downloads of S3 files answer 302 to a presigned URL valid for
    # `download_url_ttl` seconds; "proxy": the gateway streams them.
    download_mode: str = "proxy"
    download_url_ttl: float = 300.0

    @property
    def effective_max_file_size(self) -> int:
        return self.max_file_size or 5 * TiB

    @property
    def effective_gc_min_age(self) -> float:
        return self.upload_timeout + GC_MARGIN if self.gc_min_age is None else self.gc_min_age

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.from_mapping({name: value for name, (value, _) in read_sources(environ).items()})

    @classmethod
    def from_mapping(cls, raw: Mapping[str, str]) -> Settings:
        known = {
            "data_dir", "database_url", "host", "port", "part_size", "part_concurrency",
            "max_file_size", "upload_timeout", "db_pool_min", "db_pool_max",
            "migrate_on_start", "log_level", "log_format", "trusted_proxy_secret", "external_url",
            "metrics_token",
            "s3_bucket", "s3_endpoint_url", "s3_region", "s3_prefix",
            "s3_access_key_id", "s3_secret_access_key", "s3_addressing_style",
            "s3_connect_timeout", "s3_read_timeout", "gc_interval", "gc_min_age",
            "upload_buffer_bytes", "body_idle_timeout", "shutdown_grace",
        }
        known |= {"s3_part_checksum", "download_mode", "download_url_ttl"}
        known |= {"allow_local_hooks", "hook_backoff_base", "hook_poll_interval"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(f"unknown setting {ENV_PREFIX}{unknown[0].upper()}")
        defaults = cls()
        get = raw.get
        settings = cls(
            data_dir=Path(get("data_dir") or defaults.data_dir),
            database_url=get("database_url") or None,
            s3=_s3_settings(raw),
            host=get("host") or defaults.host,
            port=_int("port", get("port"), defaults.port, minimum=0, maximum=65535),
            part_size=_size("part_size", get("part_size"), defaults.part_size),
            part_concurrency=_int("part_concurrency", get("part_concurrency"),
                                  defaults.part_concurrency, minimum=1, maximum=64),
            max_file_size=_size("max_file_size", get("max_file_size"), defaults.max_file_size),
            upload_timeout=_float("upload_timeout", get("upload_timeout"), defaults.upload_timeout),
            db_pool_min=_int("db_pool_min", get("db_pool_min"), defaults.db_pool_min, minimum=0),
            db_pool_max=_int("db_pool_max", get("db_pool_max"), defaults.db_pool_max, minimum=1),
            migrate_on_start=_bool("migrate_on_start", get("migrate_on_start"),
                                   defaults.migrate_on_start),
            log_level=(get("log_level") or defaults.log_level).lower(),
            log_format=(get("log_format") or defaults.log_format).lower(),
            trusted_proxy_secret=get("trusted_proxy_secret") or None,
            external_url=get("external_url") or None,
            metrics_token=get("metrics_token") or None,
            gc_interval=_float("gc_interval", get("gc_interval"), defaults.gc_interval),
            gc_min_age=_float("gc_min_age", get("gc_min_age"), 0.0) if get("gc_min_age") else None,
            upload_buffer_bytes=_size("upload_buffer_bytes", get("upload_buffer_bytes"),
                                      defaults.upload_buffer_bytes),
            body_idle_timeout=_float("body_idle_timeout", get("body_idle_timeout"),
                                     defaults.body_idle_timeout),
            shutdown_grace=_float("shutdown_grace", get("shutdown_grace"), defaults.shutdown_grace),
            allow_local_hooks=_bool("allow_local_hooks", get("allow_local_hooks"),
                                    defaults.allow_local_hooks),
            hook_backoff_base=_float("hook_backoff_base", get("hook_backoff_base"),
                                     defaults.hook_backoff_base),
            hook_poll_interval=_float("hook_poll_interval", get("hook_poll_interval"),
                                      defaults.hook_poll_interval),
            download_mode=(get("download_mode") or defaults.download_mode).lower(),
            download_url_ttl=_float("download_url_ttl", get("download_url_ttl"),
                                    defaults.download_url_ttl),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.s3 is not None and not (S3_MIN_PART_SIZE <= self.part_size <= S3_MAX_PART_SIZE):
            raise SettingsError(
                f"{ENV_PREFIX}PART_SIZE must be between 5MiB and 5GiB for S3, got {self.part_size}"
            )
        if self.part_size < 64 * 1024:
            raise SettingsError(f"{ENV_PREFIX}PART_SIZE must be at least 64KiB")
        if self.max_file_size < 0:
            raise SettingsError(f"{ENV_PREFIX}MAX_FILE_SIZE must be 0 (unlimited) or positive")
        if self.max_file_size > 5 * TiB:
            raise SettingsError(f"{ENV_PREFIX}MAX_FILE_SIZE cannot exceed 5TiB (S3's object limit)")
        if self.db_pool_min > self.db_pool_max:
            raise SettingsError(f"{ENV_PREFIX}DB_POOL_MIN is larger than {ENV_PREFIX}DB_POOL_MAX")
        if self.log_level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"{ENV_PREFIX}LOG_LEVEL must be debug, info, warning or error")
        if self.log_format not in {"auto", "json", "console"}:
            raise SettingsError(f"{ENV_PREFIX}LOG_FORMAT must be auto, json or console")
        if self.trusted_proxy_secret is not None and len(self.trusted_proxy_secret) < 32:
            raise SettingsError(f"{ENV_PREFIX}TRUSTED_PROXY_SECRET must be at least 32 characters")
        if not math.isfinite(self.upload_timeout) or self.upload_timeout <= 0:
            raise SettingsError(f"{ENV_PREFIX}UPLOAD_TIMEOUT must be positive (seconds)")
        if not math.isfinite(self.gc_interval) or self.gc_interval < 0:
            raise SettingsError(f"{ENV_PREFIX}GC_INTERVAL must be 0 (off) or positive (seconds)")
        if self.gc_min_age is not None and not (math.isfinite(self.gc_min_age)
                                                and self.gc_min_age >= 0):
            raise SettingsError(f"{ENV_PREFIX}GC_MIN_AGE must be 0 or positive (seconds)")
        if self.s3 is not None and not all(math.isfinite(t) and t > 0 for t in (
                self.s3.connect_timeout, self.s3.read_timeout)):
            raise SettingsError(
                f"{ENV_PREFIX}S3_CONNECT_TIMEOUT and {ENV_PREFIX}S3_READ_TIMEOUT must be positive")
        if self.upload_buffer_bytes <= 0:
            raise SettingsError(f"{ENV_PREFIX}UPLOAD_BUFFER_BYTES must be positive")
        if not math.isfinite(self.body_idle_timeout) or self.body_idle_timeout <= 0:
            raise SettingsError(f"{ENV_PREFIX}BODY_IDLE_TIMEOUT must be positive (seconds)")
        if self.s3 is not None and self.s3.endpoint_url is not None:
            endpoint = urlsplit(self.s3.endpoint_url)
            if endpoint.scheme not in {"http", "https"} or not endpoint.hostname:
                raise SettingsError(
                    f"{ENV_PREFIX}S3_ENDPOINT_URL must be an http:// or https:// URL with a host")
        if not math.isfinite(self.shutdown_grace) or self.shutdown_grace < 0:
            raise SettingsError(f"{ENV_PREFIX}SHUTDOWN_GRACE must be 0 or more (seconds)")
        if self.database_url is not None and not self.database_url.startswith(
            ("postgres://", "postgresql://")
        ):
            raise SettingsError(f"{ENV_PREFIX}DATABASE_URL must be a postgresql:// URL")
        if self.download_mode not in {"proxy", "redirect"}:
            raise SettingsError(f"{ENV_PREFIX}DOWNLOAD_MODE must be proxy or redirect")
        if not (math.isfinite(self.download_url_ttl) and 1 <= self.download_url_ttl <= 604800):
            raise SettingsError(
                f"{ENV_PREFIX}DOWNLOAD_URL_TTL must be between 1 and 604800 (seconds)")
        if self.s3 is not None and self.s3.part_checksum not in PART_CHECKSUMS:
            raise SettingsError(f"{ENV_PREFIX}S3_PART_CHECKSUM must be crc32, md5 or none")
        for name in ("hook_backoff_base", "hook_poll_interval"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be positive (seconds)")


def read_sources(environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Every setting that is set, lower-cased without the prefix, with where it came
    from: the environment variable, or the `GATEWAY_CONFIG` file (the environment wins)."""
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, tuple[str, str]] = {}
    config_path = env.get(ENV_PREFIX + "CONFIG")
    if config_path:
        raw.update({name: (value, f"file {config_path}")
                    for name, value in _read_toml(Path(config_path)).items()})
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and name != ENV_PREFIX + "CONFIG":
            raw[name[len(ENV_PREFIX):].lower()] = (value, f"environment {name}")
    return raw


def _read_toml(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"{ENV_PREFIX}CONFIG file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{ENV_PREFIX}CONFIG {path} is not valid TOML: {exc}") from None
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            raise SettingsError(f"{ENV_PREFIX}CONFIG {path}: use flat keys such as s3_bucket, not [{key}]")
        flat[key.lower()] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


def _s3_settings(raw: Mapping[str, str]) -> S3Settings | None:
    bucket = raw.get("s3_bucket")
    if not bucket:
        stray = sorted(k for k in raw if k.startswith("s3_") and raw[k])
        if stray:
            raise SettingsError(f"{ENV_PREFIX}{stray[0].upper()} is set but {ENV_PREFIX}S3_BUCKET is not")
        return None
    prefix = (raw.get("s3_prefix") or "").strip("/")
    style = raw.get("s3_addressing_style") or "auto"
    if style not in {"auto", "path", "virtual"}:
        raise SettingsError(f"{ENV_PREFIX}S3_ADDRESSING_STYLE must be auto, path or virtual")
    key_id, secret = raw.get("s3_access_key_id"), raw.get("s3_secret_access_key")
    if bool(key_id) != bool(secret):
        raise SettingsError(
            f"set both {ENV_PREFIX}S3_ACCESS_KEY_ID and {ENV_PREFIX}S3_SECRET_ACCESS_KEY, or neither"
        )
    return S3Settings(
        bucket=bucket,
        endpoint_url=raw.get("s3_endpoint_url") or None,
        region=raw.get("s3_region") or None,
        prefix=prefix + "/" if prefix else "",
        access_key_id=key_id or None,
        secret_access_key=secret or None,
        addressing_style=style,
        connect_timeout=_float("s3_connect_timeout", raw.get("s3_connect_timeout"),
                               S3Settings.connect_timeout),
        read_timeout=_float("s3_read_timeout", raw.get("s3_read_timeout"),
                            S3Settings.read_timeout),
        part_checksum=(raw.get("s3_part_checksum") or S3Settings.part_checksum).lower(),
    )


_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": MiB, "g": GiB, "t": TiB}


def parse_size(text: str) -> int:
    """Parse `8388608`, `8MiB`, `8M`, `5GiB` (binary units) into bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(text)
    number, unit = match.groups()
    return int(number) * _SIZE_UNITS[(unit or "")[:1].lower()]


def _size(name: str, value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return parse_size(value)
    except ValueError:
        raise SettingsError(
            f"{ENV_PREFIX}{name.upper()} must be a size such as 8MiB or 5368709120, got {value!r}"
        ) from None


def _int(name: str, value: str | None, default: int, *, minimum: int | None = None,
         maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be at most {maximum}, got {number}")
    return number


def _float(name: str, value: str | None, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be a number, got {value!r}") from None


def parse_bool(text: str) -> bool:
    """`true/false`, `yes/no`, `on/off`, `1/0`, any case; ValueError otherwise."""
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


def _bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    try:
        return parse_bool(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be true or false, got {value!r}") from None
