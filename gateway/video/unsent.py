"""The video gateway's candidates the outbox refused, kept in ``state_dir/unsent-video``.

One folder, and one thread offering it again, for every candidate the video gateway
makes: the analysis pipeline's firings (`gateway.video.analysis.firing_publisher`) and
the cameras' own (ONVIF) rule events with their end updates
(`gateway.video.camera_events`). Each goes through `SpillFolder.offer`: published, or
kept here and sent when the outbox has room again, or at the next start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from gateway.contract import CandidateCase, ContractError, Message
from gateway.spill import SpillFolder

FOLDER = "unsent-video"


class CandidatePort(Protocol):
    """Where candidates go (`gateway.publishing.ContractPublisher` over the outbox)."""

    def candidate(self, candidate: CandidateCase) -> int: ...


def unsent_candidates(state_dir: Path, candidates: CandidatePort) -> SpillFolder:
    """The spill folder of the video gateway's candidates, publishing to ``candidates``."""

    def publish(message: Message) -> None:
        if not isinstance(message, CandidateCase):
            raise ContractError("unexpected_schema", f"{message.SCHEMA} in the video spill")
        candidates.candidate(message)

    return SpillFolder(state_dir / FOLDER, publish)
