"""The Asterisk snippets citygw ships (``config/asterisk/``) against the configuration that
a real Asterisk 22.10.1 ran while the AMI transcripts were recorded
(``tests/fixtures/asterisk-ami/config/``): what the recorded server did, the shipped one
must be set up to do too.

Asterisk's config files are INI-like: ``[section]``, ``key = value`` or ``key => value``,
``;`` comments. Read here with a few lines of parsing (not configparser: repeated keys
such as ``member =>`` and values with ``;`` comments)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FIXTURES_DIR, REPO_ROOT

SHIPPED = REPO_ROOT / "config" / "asterisk"
RECORDED = FIXTURES_DIR / "asterisk-ami" / "config"


def sections(path: Path) -> dict[str, dict[str, list[str]]]:
    """Each active section's keys and their values, in file order (comments dropped)."""
    out: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            current = out.setdefault(line[1 : line.index("]")], {})
            continue
        assert current is not None, f"{path.name}: {raw!r} outside a section"
        key, _sep, value = line.replace("=>", "=").partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return out


def classes(value: str) -> set[str]:
    return {c.strip() for c in value.split(",") if c.strip()}


def test_the_ami_user_asks_only_for_classes_the_recorded_user_had() -> None:
    shipped = sections(SHIPPED / "manager-citygw.conf")["citygw"]
    recorded = sections(RECORDED / "manager.conf")["citygw"]
    read, write = classes(shipped["read"][0]), classes(shipped["write"][0])
    assert read <= classes(recorded["read"][0]), read - classes(recorded["read"][0])
    assert write <= classes(recorded["write"][0]), write - classes(recorded["write"][0])
    # what the code listens for: Cdr (cdr), AgentConnect and queue events (agent),
    # OriginateResponse/Hangup (call), VarSet of the survey key (dialplan), FullyBooted
    # (system); what it sends: Originate (originate), QueueStatus (agent)
    assert {"cdr", "agent", "call", "dialplan", "system"} <= read
    assert {"originate", "agent"} <= write
    assert shipped["permit"] and shipped["deny"] == ["0.0.0.0/0.0.0.0"]


def test_the_manager_snippet_does_not_bring_a_general_section_of_its_own() -> None:
    """Included after manager.conf's own [general], a second one would change nothing:
    AMI is switched on in manager.conf itself, which the README and the snippet say."""
    assert "general" not in sections(SHIPPED / "manager-citygw.conf")
    assert sections(RECORDED / "manager.conf")["general"]["enabled"] == ["yes"]
    text = (SHIPPED / "manager-citygw.conf").read_text(encoding="utf-8")
    assert ";   enabled = yes" in text


def test_cdr_events_reach_ami_as_they_did_when_recorded() -> None:
    recorded = sections(RECORDED / "cdr_manager.conf")["general"]
    shipped = sections(SHIPPED / "cdr_manager-citygw.conf")["general"]
    assert recorded["enabled"] == shipped["enabled"] == ["yes"]
    cdr = sections(SHIPPED / "cdr-citygw.conf")
    assert cdr["general"]["enable"] == ["yes"] and cdr["general"]["batch"] == ["no"]
    assert cdr["csv"]["loguniqueid"] == ["yes"]


def test_the_queue_keeps_callers_waiting_as_the_recorded_one_did() -> None:
    [recorded] = [s for name, s in sections(RECORDED / "queues.conf").items() if name != "general"]
    shipped = sections(SHIPPED / "queues-citygw.conf")["citygw-12319-agents"]
    for key in ("joinempty", "leavewhenempty", "retry"):
        assert shipped[key] == recorded[key], key
    # options Asterisk 12 removed (the member events come without them)
    assert not {"eventwhencalled", "eventmemberstatus"} & set(shipped)
    assert shipped["member"], "no agent in the queue"
