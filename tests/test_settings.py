from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import GiB, MiB, Settings, SettingsError, parse_size


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.s3 is None
    assert settings.data_dir == Path("gateway-data")
    assert settings.max_file_size > 5 * GiB
    assert settings.shutdown_grace == 60
    assert Settings.from_env({"GATEWAY_SHUTDOWN_GRACE": "2.5"}).shutdown_grace == 2.5


def test_s3_settings_from_the_environment() -> None:
    settings = Settings.from_env({
        "GATEWAY_S3_BUCKET": "packages", "GATEWAY_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "GATEWAY_S3_REGION": "eu-west-1", "GATEWAY_S3_PREFIX": "/gw/",
        "GATEWAY_PART_SIZE": "16MiB", "GATEWAY_MAX_FILE_SIZE": "0",
        "GATEWAY_DATABASE_URL": "postgresql://u@localhost/db",
        "UNRELATED": "ignored",
    })
    assert settings.s3 is not None
    assert settings.s3.bucket == "packages"
    assert settings.s3.prefix == "gw/"
    assert settings.s3.region == "eu-west-1"
    assert settings.part_size == 16 * MiB
    assert settings.max_file_size == 0
    assert settings.effective_max_file_size == 5 * 1024 * GiB


def test_toml_file_under_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('data_dir = "/srv/gw"\nport = 9000\nmigrate_on_start = false\n')
    settings = Settings.from_env({"GATEWAY_CONFIG": str(config), "GATEWAY_PORT": "9100"})
    assert settings.data_dir == Path("/srv/gw")
    assert settings.port == 9100
    assert settings.migrate_on_start is False


@pytest.mark.parametrize(("env", "message"), [
    ({"GATEWAY_PART_SIZE": "lots"}, "GATEWAY_PART_SIZE must be a size"),
    ({"GATEWAY_S3_BUCKET": "b", "GATEWAY_PART_SIZE": "1MiB"}, "between 5MiB and 5GiB"),
    ({"GATEWAY_S3_ENDPOINT_URL": "http://x"}, "GATEWAY_S3_BUCKET is not"),
    ({"GATEWAY_PORT": "99999"}, "GATEWAY_PORT must be at most 65535"),
    ({"GATEWAY_DATABASE_URL": "mysql://x"}, "postgresql://"),
    ({"GATEWAY_MAX_FILE_SIZE": "6TiB"}, "5TiB"),
    ({"GATEWAY_LOG_LEVEL": "loud"}, "GATEWAY_LOG_LEVEL"),
    ({"GATEWAY_UPLOAD_TIMEOUT": "nan"}, "GATEWAY_UPLOAD_TIMEOUT must be positive"),
    ({"GATEWAY_UPLOAD_TIMEOUT": "inf"}, "GATEWAY_UPLOAD_TIMEOUT must be positive"),
    ({"GATEWAY_TRUSTED_PROXY_SECRET": "short"}, "at least 32 characters"),
    ({"GATEWAY_TYPO": "1"}, "unknown setting GATEWAY_TYPO"),
    ({"GATEWAY_CONFIG": "/nonexistent.toml"}, "not found"),
    ({"GATEWAY_S3_BUCKET": "b", "GATEWAY_S3_ACCESS_KEY_ID": "k"}, "set both"),
    ({"GATEWAY_S3_BUCKET": "b", "GATEWAY_S3_ENDPOINT_URL": "minio:9000"},
     "GATEWAY_S3_ENDPOINT_URL must be an http:// or https:// URL"),
    ({"GATEWAY_SHUTDOWN_GRACE": "-1"}, "GATEWAY_SHUTDOWN_GRACE must be 0 or more"),
    ({"GATEWAY_SHUTDOWN_GRACE": "soon"}, "GATEWAY_SHUTDOWN_GRACE must be a number"),
])
def test_wrong_settings_fail_with_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("text", "size"), [("5", 5), ("8MiB", 8 * MiB), ("8M", 8 * MiB),
                                            ("5GiB", 5 * GiB), ("5 gb", 5 * GiB), ("1k", 1024)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_upload_buffer_budget_and_idle_timeout() -> None:
    defaults = Settings.from_env({})
    assert (defaults.upload_buffer_bytes, defaults.body_idle_timeout) == (256 * MiB, 60.0)
    settings = Settings.from_env({"GATEWAY_UPLOAD_BUFFER_BYTES": "48MiB",
                                  "GATEWAY_BODY_IDLE_TIMEOUT": "2.5"})
    assert (settings.upload_buffer_bytes, settings.body_idle_timeout) == (48 * MiB, 2.5)
    for env, message in [
        ({"GATEWAY_UPLOAD_BUFFER_BYTES": "0"}, "GATEWAY_UPLOAD_BUFFER_BYTES must be positive"),
        ({"GATEWAY_UPLOAD_BUFFER_BYTES": "lots"}, "GATEWAY_UPLOAD_BUFFER_BYTES must be a size"),
        ({"GATEWAY_BODY_IDLE_TIMEOUT": "0"}, "GATEWAY_BODY_IDLE_TIMEOUT must be positive"),
        ({"GATEWAY_BODY_IDLE_TIMEOUT": "inf"}, "GATEWAY_BODY_IDLE_TIMEOUT must be positive"),
    ]:
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)


def test_download_mode_and_part_checksum() -> None:
    defaults = Settings.from_env({"GATEWAY_S3_BUCKET": "b"})
    assert (defaults.download_mode, defaults.download_url_ttl) == ("proxy", 300.0)
    assert defaults.s3 is not None and defaults.s3.part_checksum == "crc32"
    md5 = Settings.from_env({"GATEWAY_S3_BUCKET": "b", "GATEWAY_S3_PART_CHECKSUM": "MD5"})
    assert md5.s3 is not None and md5.s3.part_checksum == "md5"
    chosen = Settings.from_env({"GATEWAY_S3_BUCKET": "b", "GATEWAY_S3_PART_CHECKSUM": "none",
                                "GATEWAY_DOWNLOAD_MODE": "redirect",
                                "GATEWAY_DOWNLOAD_URL_TTL": "60"})
    assert chosen.s3 is not None and chosen.s3.part_checksum == "none"
    assert (chosen.download_mode, chosen.download_url_ttl) == ("redirect", 60.0)
    for env, message in [({"GATEWAY_DOWNLOAD_MODE": "sideways"}, "DOWNLOAD_MODE"),
                         ({"GATEWAY_DOWNLOAD_URL_TTL": "0"}, "DOWNLOAD_URL_TTL"),
                         ({"GATEWAY_S3_BUCKET": "b", "GATEWAY_S3_PART_CHECKSUM": "crc"},
                          "S3_PART_CHECKSUM")]:
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)
