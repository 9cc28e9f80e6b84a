"""What an entry keeps of a value and of an address."""

from __future__ import annotations

import pytest

from audit.changes import changes_masked
from audit.context import ip_network_of


@pytest.mark.parametrize(
    "address, network",
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("2001:db8:abcd:12:34:56:78:9a", "2001:db8:abcd::"),
        ("::1", "::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),  # an IPv4 client on a dual-stack socket
        (" 192.0.2.1 ", "192.0.2.0"),
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_only_the_network_of_an_address_is_kept(address, network):
    assert ip_network_of(address) == network


def test_secret_named_fields_are_masked_at_any_depth_and_empty_ones_stay_empty():
    masked = changes_masked(
        {
            "fields": {
                "password": {"before": "pbkdf2$old", "after": "pbkdf2$new"},
                "encrypted_key": {"before": "", "after": "gAAAAAB..."},
                "hashed_key": "abc123",
                "api_token": None,
                "name": {"before": "Old", "after": "New"},
            },
            "params": {"webhook_secret": "whsec_abc", "coupon_id": "SAVE25"},
        }
    )
    assert masked == {
        "fields": {
            "password": {"before": "[REDACTED]", "after": "[REDACTED]"},
            "encrypted_key": {"before": "", "after": "[REDACTED]"},
            "hashed_key": "[REDACTED]",
            "api_token": None,
            "name": {"before": "Old", "after": "New"},
        },
        "params": {"webhook_secret": "[REDACTED]", "coupon_id": "SAVE25"},
    }


def test_a_secret_pasted_into_any_text_is_masked_and_long_text_is_cut():
    masked = changes_masked(
        {
            "description": "ours is sk_live_abcdef0123456789 and whsec_zzz",
            "notes": ["mrrx_live_" + "a" * 40],
            "feedback": "x" * 5000,
        }
    )
    assert masked["description"] == "ours is sk_live_[REDACTED] and whsec_[REDACTED]"
    assert masked["notes"] == ["mrrx_live_[REDACTED]"]
    assert len(masked["feedback"]) == 2001 and masked["feedback"].endswith("…")
