"""Where the browser tests find Chromium, and what to tell whoever has none."""

from __future__ import annotations

import os
import shutil

# MRRX_CHROMIUM exists so the suite can check its own report of a missing browser without
# one having to be missing; `make test` installs and looks only at Debian's path.
CHROMIUM = os.environ.get("MRRX_CHROMIUM") or "/usr/bin/chromium"
# CI sets this: there, browser tests that cannot run are a failure, not a note.
REQUIRE = "MRRX_REQUIRE_BROWSER"


def install_hint() -> str:
    if shutil.which("apt-get") is None:
        return "install Chromium as /usr/bin/chromium (Debian's package: apt-get install chromium)"
    if os.geteuid() == 0:
        return "install it with: apt-get install chromium"
    return "install it with: sudo apt-get install chromium"


def missing_reason() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    if os.access(CHROMIUM, os.X_OK):
        return None
    return f"{CHROMIUM} not found; {install_hint()}"


def required() -> bool:
    return os.environ.get(REQUIRE, "").strip() not in ("", "0")
