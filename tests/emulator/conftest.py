"""Fixtures for the emulator's own tests: the real subprocess plus a stripe-python client."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The fixture module lives at tests/stripe_emulator_fixture.py; make the repo importable
# however pytest was started (plain `pytest` does not put the cwd on sys.path).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stripe_emulator_fixture import (  # noqa: E402
    StripeEmulatorProcess,
    stripe_emulator,
    stripe_emulator_clean,
)

__all__ = ["stripe_emulator", "stripe_emulator_clean"]


@pytest.fixture
def emu(stripe_emulator_clean: StripeEmulatorProcess) -> StripeEmulatorProcess:
    return stripe_emulator_clean


@pytest.fixture
def client(emu: StripeEmulatorProcess):
    """A stripe-python 16.1.0 StripeClient talking to the emulator subprocess."""
    return emu.client("sk_test_emulator", client_id="ca_emulator_test")
