"""Client keys: one per address (one per /64 on IPv6), bounded whatever the host says."""

from __future__ import annotations

from typing import Any

import pytest

from tiered.ratelimit import client_address_key, principal_key, storage_key


def _scope(host: str | None) -> dict[str, Any]:
    return {"type": "http", "client": None if host is None else (host, 5000)}


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "ip:203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::7", "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "ip:2001:db8:1:3::/64"),
        ("fe80::1%eth0", "ip:fe80::/64"),
        ("::ffff:198.51.100.7", "ip:198.51.100.7"),
        ("testclient", "ip:testclient"),
        (None, "ip:unknown"),
    ],
)
def test_client_address_keys(host: str | None, key: str) -> None:
    assert client_address_key(_scope(host)) == key


@pytest.mark.parametrize("host", ["x" * 5000, "not:an:address:" + "9" * 100, "1:2:3:zz"])
def test_any_host_text_gives_a_bounded_printable_key(host: str) -> None:
    key = client_address_key(_scope(host))
    assert len(key) <= 128
    assert key.isascii()
    assert key.isprintable()
    assert key == client_address_key(_scope(host)), "stable"


def test_storage_keys_keep_short_plain_keys_and_digest_the_rest() -> None:
    assert storage_key("ip:203.0.113.9") == "ip:203.0.113.9"
    assert storage_key(principal_key("42")) == "principal:42"
    for odd in ("x" * 129, "ключ", "a\x00b", "\ud800", "tab\there"):
        stored = storage_key(odd)
        assert stored.startswith("sha256:")
        assert len(stored) == len("sha256:") + 64
    assert storage_key("a\x00b") != storage_key("a\x00c")
