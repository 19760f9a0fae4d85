"""``citygw broker acl``: a deployment's access list from its daemons' configuration files,
tried on a real Mosquitto."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from adapters.mqtt.broker_security import make_certificates
from gateway.cli import cli
from gateway.contract import SourceKind
from tests.mqtt_security_harness import TOPICS, Watcher

CORE_YAML = "instance: main\nmqtt:\n  username: core-main\n"
EAST_YAML = """instance: east
video:
  cameras:
    - id: gate-3
      rtsp_url: rtsp://10.0.0.3/sub
    - id: gate-4
      rtsp_url: rtsp://10.0.0.4/sub
"""
WEST_YAML = """instance: west
video:
  cameras:
    - id: lawn-s
      rtsp_url: rtsp://10.0.1.9/sub
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_the_acl_gives_each_configured_daemon_its_own_user_and_topics(tmp_path: Path) -> None:
    core = write(tmp_path, "core.yaml", CORE_YAML)
    east = write(tmp_path, "east.yaml", EAST_YAML)
    west = write(tmp_path, "west.yaml", WEST_YAML)
    agi = write(tmp_path, "agi.yaml", "instance: hotline\n")
    ami = write(tmp_path, "ami.yaml", "instance: hotline\n")
    result = CliRunner().invoke(
        cli,
        [
            *("broker", "acl", "--core", str(core), "--agi", str(agi), "--ami", str(ami)),
            *("--video", str(east), "--video", str(west), "--observer", "ops"),
        ],
    )
    assert result.exit_code == 0, result.output
    blocks = {b.splitlines()[0]: b for b in result.output.split("\n\n")[1:]}
    assert list(blocks) == [
        "user core-main",
        "user agi-hotline",
        "user ami-hotline",
        "user video-east",
        "user video-west",
        "user ops",
    ]
    assert "topic write citygw/v1/candidates/camera/gate-4" in blocks["user video-east"]
    assert "lawn-s" not in blocks["user video-east"]
    assert "topic write citygw/v1/candidates/call/hotline" in blocks["user agi-hotline"]
    # the AMI side writes under the hotline's call source and reads what its IVR wrote there
    assert "topic readwrite citygw/v1/candidates/call/hotline" in blocks["user ami-hotline"]
    assert "topic write citygw/v1/agent-calls/hotline" in blocks["user ami-hotline"]
    assert "topic write citygw/v1/receipts/core" in blocks["user core-main"]


def test_a_username_that_is_not_the_daemons_or_a_camera_on_two_gateways_is_refused(
    tmp_path: Path,
) -> None:
    wrong = write(tmp_path, "core.yaml", "instance: main\nmqtt:\n  username: admin\n")
    result = CliRunner().invoke(cli, ["broker", "acl", "--core", str(wrong)])
    assert result.exit_code != 0
    assert "core-main" in result.output and "admin" in result.output
    east = write(tmp_path, "east.yaml", EAST_YAML)
    again = write(tmp_path, "east2.yaml", EAST_YAML.replace("instance: east", "instance: x"))
    result = CliRunner().invoke(cli, ["broker", "acl", "--video", str(east), "--video", str(again)])
    assert result.exit_code != 0 and "gate-3" in result.output
    assert CliRunner().invoke(cli, ["broker", "acl"]).exit_code != 0


def test_mosquitto_enforces_the_written_acl(tmp_path: Path) -> None:
    """The file as written, on the broker: west may not publish east's cameras."""
    from adapters.mqtt.broker import MosquittoBroker
    from adapters.mqtt.broker_security import write_password_file
    from tests.mqtt_security_harness import SecuredBroker

    east = write(tmp_path, "east.yaml", EAST_YAML)
    west = write(tmp_path, "west.yaml", WEST_YAML)
    acl = tmp_path / "acl"
    result = CliRunner().invoke(
        cli,
        [
            *("broker", "acl", "--video", str(east), "--video", str(west)),
            *("--observer", "ops", "-o", str(acl)),
        ],
    )
    assert result.exit_code == 0, result.output
    users = ["video-east", "video-west", "ops"]
    tls = make_certificates(tmp_path / "tls", users)
    passwords = {user: f"pw-{user}" for user in users}
    broker = MosquittoBroker(
        tmp_path / "mosquitto",
        listener_options=[
            *(f"cafile {tls.ca}", f"certfile {tls.server_cert}"),
            *(f"keyfile {tls.server_key}", "require_certificate true"),
        ],
        password_file=write_password_file(tmp_path / "passwd", passwords),
        acl_file=acl,
    )
    broker.start()
    secured = SecuredBroker(broker, tls, passwords, tmp_path / "state")
    try:
        ops = secured.connect(secured.config("ops"))
        thief = secured.connect(secured.config("video-west"))
        assert ops is not None and thief is not None
        seen = Watcher(ops, TOPICS.all_candidates)
        own = TOPICS.candidate(SourceKind.CAMERA, "lawn-s")
        seen.prove_active(thief, own)
        assert thief.publish_and_wait(
            TOPICS.candidate(SourceKind.CAMERA, "gate-3"), b"forged", timeout=10
        )
        assert thief.publish_and_wait(own, b"honest", timeout=10)
        assert seen.wait_for(lambda m: b"honest" in [x.payload for x in m])
        assert seen.payloads() == [b"honest"]
    finally:
        secured.close()
