"""Node.js and Ruby, which the integrator's kit tests run, and what to tell whoever lacks
them. Like the browser (``tests/browser.py``), a missing one is reported at the end of the
run rather than failing it, unless its ``MRRX_REQUIRE_*`` variable is set (CI sets them)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

NODE_MIN_MAJOR = 20
REQUIRE_NODE = "MRRX_REQUIRE_NODE"
REQUIRE_RUBY = "MRRX_REQUIRE_RUBY"
# MRRX_RUBY exists so the suite can check its own report of a missing Ruby without one
# having to be missing.
RUBY = os.environ.get("MRRX_RUBY") or "ruby"


def _apt_hint(package: str) -> str:
    if shutil.which("apt-get") is None:
        return f"install {package}"
    if os.geteuid() == 0:
        return f"install it with: apt-get install {package}"
    return f"install it with: sudo apt-get install {package}"


@functools.cache
def node_missing_reason() -> str | None:
    """Why the Node tests cannot run here, or None when they can."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        return f"{missing} not found; {_apt_hint('nodejs npm')} (Node.js {NODE_MIN_MAJOR} or later)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    if major < NODE_MIN_MAJOR:
        wanted = f"Node.js {NODE_MIN_MAJOR} or later"
        return f"Node.js {version} is older than {NODE_MIN_MAJOR}; install {wanted}"
    return None


def ruby_missing_reason() -> str | None:
    """Why the Ruby checks cannot run here, or None when they can."""
    if shutil.which(RUBY) is not None:
        return None
    return f"{RUBY} not found; {_apt_hint('ruby')}"


def required(variable: str) -> bool:
    return os.environ.get(variable, "").strip() not in ("", "0")
