"""Small pieces: settings, backoff, signatures, local addresses."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from gateway.events.delivery import MAX_BACKOFF, backoff, signature
from gateway.events.destinations import local_address
from gateway.settings import Settings, SettingsError


def test_hook_settings() -> None:
    settings = Settings.from_mapping({"allow_local_hooks": "true", "hook_backoff_base": "0.5",
                                      "hook_poll_interval": "2"})
    assert (settings.allow_local_hooks, settings.hook_backoff_base,
            settings.hook_poll_interval) == (True, 0.5, 2.0)
    defaults = Settings.from_mapping({})
    assert defaults.allow_local_hooks is False and defaults.hook_backoff_base == 10.0
    for bad in ({"hook_backoff_base": "0"}, {"hook_poll_interval": "-1"},
                {"hook_backoff_base": "nan"}, {"allow_local_hooks": "maybe"}):
        with pytest.raises(SettingsError):
            Settings.from_mapping(bad)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt in range(1, 8):
        delay = backoff(attempt, 10.0, rng)
        full = 10.0 * 2 ** (attempt - 1)
        assert full / 2 <= delay <= full
    assert backoff(40, 10.0, rng) <= MAX_BACKOFF
    assert len({backoff(3, 10.0, rng) for _ in range(20)}) > 1  # jittered


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"kind":"package_file_pushed"}'
    assert signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("169.254.169.254", True),
    ("fe80::1", True), ("0.0.0.0", True), ("::ffff:127.0.0.1", True), ("10.0.0.1", False),
    ("93.184.216.34", False), ("2606:2800::1", False), ("example.com", False),
])
def test_local_addresses(host: str, local: bool) -> None:
    assert local_address(host) is local
