"""The systemd units: `systemd-analyze verify` clean, hardened as deploy.md promises, and
each ExecStart naming a `citygw` command that exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

UNITS = REPO_ROOT / "systemd"
SERVICES = [
    "citygw-core.service",
    "citygw-video.service",
    "citygw-agi.service",
    "citygw-ami.service",
]
TEMPLATE = "citygw-video@.service"
INSTALLED_CITYGW = "/opt/citygw/.venv/bin/citygw"


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return tool


def verify(tool: str, directory: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, "verify", "--man=no", *[f"./{n}" for n in names]],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )


def staged(tmp_path: Path) -> Path:
    """The units with /opt/citygw's venv replaced by this checkout's (verify checks ExecStart)."""
    citygw = Path(sys.executable).with_name("citygw")
    assert citygw.exists(), f"{citygw} missing: pip install -e . into the venv"
    for unit in UNITS.glob("citygw*"):
        if unit.suffix in (".service", ".target"):
            text = unit.read_text().replace(INSTALLED_CITYGW, str(citygw))
            (tmp_path / unit.name).write_text(text)
    return tmp_path


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(
        "\n".join(line for line in (UNITS / name).read_text().splitlines() if line.strip())
    )
    return parser


def test_the_units_and_target_verify_without_a_single_warning(tmp_path: Path) -> None:
    tool = analyze()
    directory = staged(tmp_path)
    shutil.copy(directory / TEMPLATE, directory / "citygw-video@east.service")
    result = verify(tool, directory, [*SERVICES, "citygw.target", "citygw-video@east.service"])
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""


def test_the_check_catches_a_broken_unit(tmp_path: Path) -> None:
    tool = analyze()
    directory = staged(tmp_path)
    unit = directory / "citygw-core.service"
    unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=on-failur"))
    result = verify(tool, directory, ["citygw-core.service"])
    assert "on-failur" in result.stdout + result.stderr


@pytest.mark.parametrize("name", [*SERVICES, TEMPLATE])
def test_each_daemon_is_hardened_restarted_and_watched(name: str) -> None:
    service = read_unit(name)["Service"]
    assert service["Type"] == "notify"
    assert service["User"] == "citygw" and service["Group"] == "citygw"
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "citygw"
    assert service["WorkingDirectory"] == "/var/lib/citygw"
    assert service["Restart"] == "on-failure"
    assert int(service["WatchdogSec"]) > 0
    assert service["NoNewPrivileges"] == "true"
    assert service["CapabilityBoundingSet"] == ""
    assert service["ExecStart"].startswith(INSTALLED_CITYGW + " ")
    assert read_unit(name)["Install"]["WantedBy"] == "citygw.target"


def test_the_target_pulls_in_every_daemon() -> None:
    wants = read_unit("citygw.target")["Unit"]["Wants"].split()
    assert sorted(wants) == sorted(SERVICES)


def test_the_dedicated_user_is_declared_for_sysusers() -> None:
    lines = [
        line.split()
        for line in (UNITS / "citygw.sysusers.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and lines[0][:2] == ["u", "citygw"]


@pytest.mark.parametrize("name", [*SERVICES, TEMPLATE])
def test_each_exec_start_names_a_citygw_command_that_exists(name: str) -> None:
    arguments = read_unit(name)["Service"]["ExecStart"].split()[1:]
    command = [a for a in arguments if not a.startswith("-")]
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    for option in (a for a in arguments if a.startswith("--")):
        assert option in result.stdout, f"{name}: `citygw {' '.join(command)}` has no {option}"


@pytest.mark.parametrize(("enabled", "exit_code"), [(True, 0), (False, 1)])
def test_the_ami_unit_runs_only_where_its_host_has_an_ami_side(
    tmp_path: Path, enabled: bool, exit_code: int
) -> None:
    """citygw.target may be enabled on a host without AMI: the unit's ExecCondition
    (systemd: exit 1-254 skips the unit as "condition failed", no failure, no restarts)
    says whether the configuration runs the AMI side."""
    condition = read_unit("citygw-ami.service")["Service"]["ExecCondition"].split()
    assert condition[0] == INSTALLED_CITYGW
    config = tmp_path / "citygw.yaml"
    config.write_text(
        "instance: t\ntelephony:\n  callbacks:\n"
        f"    enabled: {'true' if enabled else 'false'}\n    ami:\n      secret: s\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *condition[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env={"CITYGW_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == exit_code, result.stderr
    said = result.stdout + result.stderr
    assert ("已启用" if enabled else "未启用") in said
