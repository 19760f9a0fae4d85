"""Queue figures from the QueueStatus lists a real Asterisk 22.10.1 answered."""

from __future__ import annotations

import asyncio

from adapters.asterisk.ami_client import AmiClient
from adapters.asterisk.ami_fake import ReplayAmiServer
from adapters.asterisk.ami_protocol import AmiFrame, iter_frames
from adapters.asterisk.ami_queues import QueueFigures, QueuePoller, queue_figures
from tests.conftest import FIXTURES_DIR

AMI = FIXTURES_DIR / "asterisk-ami"
QUEUE = "citygw-12319-agents"


def recorded_list(scenario: str, action_id: str) -> list[AmiFrame]:
    frames = iter_frames((AMI / f"{scenario}.ami.bin").read_bytes())
    return [
        f
        for f in frames
        if f.event and f.action_id == action_id and f.get("EventList") != "Complete"
    ]


def test_idle_connected_and_after_a_call_as_recorded() -> None:
    before = queue_figures(recorded_list("queue-call", "qstat-before"))[QUEUE]
    during = queue_figures(recorded_list("queue-call", "qstat-connected"))[QUEUE]
    after = queue_figures(recorded_list("queue-call", "qstat-after"))[QUEUE]
    assert before == QueueFigures(QUEUE, agents_logged_in=1, agents_available=1)
    assert during.agents_available == 0 and during.agents_logged_in == 1  # the agent is in call
    assert after.answered == 1 and after.abandoned == 0 and after.agents_available == 1


def test_a_caller_waiting_before_a_paused_agent_through_the_client() -> None:
    async def scenario() -> tuple[dict[str, QueueFigures], list[str]]:
        server = ReplayAmiServer(AMI / "queue-abandon.ami.txt")
        await server.start()
        client = AmiClient(
            "127.0.0.1", server.port, "citygw", "citygw-ami-secret", ping_interval_s=3600
        )
        poller = QueuePoller(client, [QUEUE])
        async with client:
            assert await client.wait_ready(5)
            pause = {"Queue": QUEUE, "Interface": "Local/agent1@citygw-agent-sim/n"}
            await client.action("QueuePause", {**pause, "Paused": "true", "Reason": "lunch"})
            await client.action(
                "Originate",
                {
                    "Channel": "Local/s@citygw-agents",
                    "Application": "Wait",
                    "Data": "6",
                    "CallerID": '"Test Citizen" <13800138001>',
                    "Timeout": "30000",
                    "Async": "true",
                },
            )
            figures = await poller.poll_once()
            await client.action("QueuePause", {**pause, "Paused": "false"})
        await server.close()
        return figures, server.mismatches

    figures, mismatches = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert mismatches == []
    assert figures[QUEUE] == QueueFigures(
        QUEUE,
        waiting=1,
        longest_wait_s=1,
        answered=1,  # Asterisk counts since its start: the queue-call scenario ran before
        agents_logged_in=1,
        agents_available=0,
        agents_paused=1,
    )
