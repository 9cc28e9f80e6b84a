"""A local emulator of the Stripe API for development, demos and tests.

Run it with `python -m stripe_emulator --port 12111`, or use `Emulator` in process.
Production code never imports this package.
"""

from __future__ import annotations

from .emulator import Emulator, Response
from .util import API_VERSION

__all__ = ["API_VERSION", "Emulator", "Response"]
