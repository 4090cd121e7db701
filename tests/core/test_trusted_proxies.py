"""Forwarded headers are believed only from configured proxies, given as addresses or networks."""

from __future__ import annotations

import pytest

from twostep.settings import Settings
from twostep.web.core.security import TrustedProxies, peer_ip


def test_by_default_only_loopback_proxies_are_believed() -> None:
    trusted = TrustedProxies(Settings.model_fields["trusted_proxies"].default)
    assert peer_ip("127.0.0.1", "203.0.113.7", trusted) == "203.0.113.7"
    assert peer_ip("::1", "203.0.113.7", trusted) == "203.0.113.7"
    assert peer_ip("198.51.100.2", "203.0.113.7", trusted) == "198.51.100.2"
    assert peer_ip("testclient", "203.0.113.7", trusted) == "testclient"


def test_networks_and_single_addresses_both_work_and_ipv4_mapped_peers_match() -> None:
    trusted = TrustedProxies("10.0.0.0/8, 192.0.2.1")
    assert "10.20.30.40" in trusted and "192.0.2.1" in trusted and "::ffff:10.1.1.1" in trusted
    assert "192.0.2.2" not in trusted and "11.0.0.1" not in trusted and "" not in trusted


def test_the_last_forwarded_address_is_taken_never_a_client_supplied_first_one() -> None:
    trusted = TrustedProxies("127.0.0.1")
    assert peer_ip("127.0.0.1", "6.6.6.6, 203.0.113.7", trusted) == "203.0.113.7"


def test_a_malformed_proxy_list_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="TWOSTEP_TRUSTED_PROXIES"):
        TrustedProxies("127.0.0.1, not-an-address")
