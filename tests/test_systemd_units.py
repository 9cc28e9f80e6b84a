"""deploy/systemd: units systemd accepts, that run the Procfile's commands, as one target."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("mrrx-release", "mrrx-web", "mrrx-worker", "mrrx-beat")
# Processes that run until stopped, and the Procfile entry each one is.
LONG_RUNNING = {"mrrx-web": "web", "mrrx-worker": "worker", "mrrx-beat": "beat"}
INSTALL_DIR = "/srv/mrrx"


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value): keys may repeat (ExecStart)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, equals, value = line.partition("=")
        assert current is not None and equals and re.fullmatch(r"[A-Za-z]+", key), (
            f"{path.name}:{number}: {raw!r}"
        )
        current.append((key, value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for k, value in unit.get(section, []) if k == key]


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        entries[name.strip()] = command.strip()
    return entries


def without_shell_defaults(command: str) -> str:
    """``${NAME:-default}`` (defaults may nest) as ``${NAME}``: systemd has no defaults in
    command lines; the units give theirs with Environment=."""
    out, i = [], 0
    while i < len(command):
        match = re.compile(r"\$\{(\w+):-").match(command, i)
        if not match:
            out.append(command[i])
            i += 1
            continue
        depth, j = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(command[j], 0)
            j += 1
        out.append(f"${{{match.group(1)}}}")
        i = j
    return "".join(out)


def argv(command: str) -> list[str]:
    words = shlex.split(without_shell_defaults(command).removeprefix("exec "))
    return [Path(words[0]).name, *words[1:]]


@pytest.fixture(scope="module")
def units() -> dict[str, dict[str, list[tuple[str, str]]]]:
    return {path.stem: read_unit(path) for path in sorted(UNITS.glob("mrrx*.service"))} | {
        "mrrx": read_unit(UNITS / "mrrx.target")
    }


def test_the_target_starts_every_service(units):
    assert set(units) == {"mrrx", *SERVICES}
    wanted = " ".join(values(units["mrrx"], "Unit", "Wants")).split()
    assert sorted(wanted) == sorted(f"{name}.service" for name in SERVICES)
    assert values(units["mrrx"], "Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_part_of_the_target_and_reads_the_environment_file(units, name):
    unit = units[name]
    assert values(unit, "Unit", "PartOf") == ["mrrx.target"]
    assert values(unit, "Service", "EnvironmentFile") == ["/etc/mrrx/mrrx.env"]
    assert values(unit, "Service", "WorkingDirectory") == [INSTALL_DIR]
    assert values(unit, "Service", "User") == ["mrrx"]
    for command in values(unit, "Service", "ExecStart"):
        assert command.startswith(f"{INSTALL_DIR}/.venv/bin/"), command
    if name in LONG_RUNNING:
        assert values(unit, "Service", "Restart") == ["always"]
        assert values(unit, "Unit", "Requires") == ["mrrx-release.service"]
        assert values(unit, "Unit", "After") == ["mrrx-release.service"]
    else:
        assert values(unit, "Service", "Type") == ["oneshot"]
        assert values(unit, "Service", "RemainAfterExit") == ["yes"]


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_a_long_running_service_runs_its_procfile_command(units, name):
    (command,) = values(units[name], "Service", "ExecStart")
    assert argv(command) == argv(procfile()[LONG_RUNNING[name]])


def test_the_release_service_runs_the_procfile_release_steps(units):
    commands = values(units["mrrx-release"], "Service", "ExecStart")
    steps = procfile()["release"].split(" && ")
    assert [argv(c) for c in commands] == [argv(s) for s in steps]
    assert argv(steps[-1]) == ["python", "manage.py", "metrics_reset"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_a_command_uses_has_a_default_and_is_in_the_example(units, name):
    unit = units[name]
    defaults = {
        pair.split("=", 1)[0]
        for line in values(unit, "Service", "Environment")
        for pair in shlex.split(line)
    }
    example = (UNITS / "mrrx.env.example").read_text()
    for command in values(unit, "Service", "ExecStart"):
        for variable in re.findall(r"\$\{(\w+)\}", command):
            assert variable in defaults, (name, variable)
            assert re.search(rf"^{variable}=", example, re.MULTILINE), variable


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    # As installed, with this checkout standing in for /srv/mrrx (verify checks that each
    # command exists) and the current user for mrrx.
    env_file = tmp_path / "mrrx.env"
    env_file.write_text((UNITS / "mrrx.env.example").read_text())
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout
    for source in UNITS.glob("mrrx*.*"):
        if source.suffix not in (".service", ".target"):
            continue
        text = source.read_text().replace(INSTALL_DIR, str(ROOT))
        text = text.replace("/etc/mrrx/mrrx.env", str(env_file))
        text = re.sub(r"^(User|Group)=mrrx$", rf"\1={user.strip()}", text, flags=re.MULTILINE)
        (tmp_path / source.name).write_text(text)
    names = sorted(str(path) for path in tmp_path.glob("mrrx*") if path.suffix != ".env")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify prints what it ignores (unknown keys, bad values) without failing: both count.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
