"""Settings of the garbage collector and of S3's timeouts."""

from __future__ import annotations

import pytest

from gateway.settings import Settings, SettingsError


def test_gc_defaults_follow_the_upload_timeout() -> None:
    settings = Settings.from_env({"GATEWAY_UPLOAD_TIMEOUT": "3600"})
    assert settings.gc_interval == 3600
    assert settings.gc_min_age is None
    assert settings.effective_gc_min_age == 3600 + 600


def test_gc_and_s3_timeouts_from_the_environment() -> None:
    settings = Settings.from_env({
        "GATEWAY_GC_INTERVAL": "0", "GATEWAY_GC_MIN_AGE": "0",
        "GATEWAY_S3_BUCKET": "packages", "GATEWAY_S3_CONNECT_TIMEOUT": "1.5",
        "GATEWAY_S3_READ_TIMEOUT": "7",
    })
    assert settings.gc_interval == 0
    assert settings.effective_gc_min_age == 0
    assert settings.s3 is not None
    assert (settings.s3.connect_timeout, settings.s3.read_timeout) == (1.5, 7)
    assert Settings.from_env({"GATEWAY_S3_BUCKET": "b"}).s3.read_timeout == 20  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "value"), [
    ("GATEWAY_GC_INTERVAL", "-1"), ("GATEWAY_GC_MIN_AGE", "-5"), ("GATEWAY_GC_MIN_AGE", "soon"),
    ("GATEWAY_S3_READ_TIMEOUT", "0"), ("GATEWAY_S3_CONNECT_TIMEOUT", "nan"),
])
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"GATEWAY_S3_BUCKET": "packages", name: value})
