"""The TypeScript client and the Express and Next.js examples, by their own tests.

``make node`` installs each package from its lock file and builds it; the client's test
runner then starts the product as ``make run`` does (the embedded default, a fresh var
directory, free ports) and runs every Node test file against it with ``node --test``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrrx.api.errors import ERROR_STATUS

ROOT = Path(__file__).resolve().parents[2]
TEST_DIRS = ("clients/node/build/test", "examples/express/build/test", "examples/nextjs/build/test")
RUNNER = "clients/node/build/test/support/run.js"
# The build, npm ci and the tests together; make run alone takes about 20 s.
TIMEOUT = 900


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    """Two runs of this test on one checkout (two developers' pytest) would reinstall and
    rebuild under each other's feet: the second waits."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"mrrx-node-{checkout}.lock"
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _env() -> dict[str, str]:
    # Not the make variables of a `make test` around us: `make node` is a make of its own.
    return {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}


def _run(command: list[str], cwd: Path = ROOT) -> tuple[int, str]:
    """``command``'s status and output; on a timeout it is asked to stop first, so that the
    test runner stops the product it started."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        return -1, f"timed out after {TIMEOUT} s\n{output}"
    return process.returncode, output


@pytest.mark.node
def test_the_node_client_and_examples_pass_their_tests_against_the_product():
    with _one_at_a_time():
        status, output = _run(["make", "--no-print-directory", "node"])
        assert status == 0, f"make node failed:\n{output}"
        # Prettier's, as ruff format's for Python: `npm run format` in clients/node fixes it.
        status, output = _run(["npm", "run", "--silent", "format:check"], ROOT / "clients/node")
        assert status == 0, f"TypeScript not formatted:\n{output}"
        files = [str(f.relative_to(ROOT)) for d in TEST_DIRS for f in (ROOT / d).glob("*.test.js")]
        assert {f.rsplit("/build/", 1)[0] for f in files} == {
            d.rsplit("/build/", 1)[0] for d in TEST_DIRS
        }, files

        status, output = _run(["node", RUNNER, *sorted(files)])

    # node --test's own summary, shown with the result whether it passed or not.
    print(output)
    assert status == 0, f"node --test failed (exit {status}):\n{output[-30_000:]}"
    assert re.search(r"^ℹ fail 0$", output, re.MULTILINE), output[-5_000:]


def test_the_node_client_has_a_class_for_every_error_code():
    """A code the API gains needs its class in clients/node/src/errors.ts (and the
    Python client's): the Node tests cannot reach every code, this check can."""
    source = (ROOT / "clients/node/src/errors.ts").read_text()
    mapped = dict(re.findall(r"^  (\w+): (\w+Error),$", source, re.MULTILINE))
    declared = set(re.findall(r"^export class (\w+) extends MrrxError", source, re.MULTILINE))
    assert set(mapped) == set(ERROR_STATUS)
    assert set(mapped.values()) <= declared
    for code, cls in mapped.items():
        name = "".join(part.title() for part in code.split("_"))
        assert cls == (name if name.endswith("Error") else f"{name}Error"), (code, cls)
