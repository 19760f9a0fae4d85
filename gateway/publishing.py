"""Publishing contract messages: the one place that picks the topic for each message type."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.contract import (
    AgentCall,
    AgentQueues,
    CameraEventState,
    CameraStatus,
    CandidateCase,
    CaseEvent,
    CaseFeedback,
    DeadLetter,
    PtzCommand,
    Topics,
    VerificationResult,
)
from gateway.ports import BatchPublisher, MessagePublisher


class ContractPublisher:
    """Turns contract messages into (topic, payload) and hands them to a `MessagePublisher`."""

    def __init__(self, publisher: MessagePublisher, topics: Topics) -> None:
        self._publisher = publisher
        self.topics = topics

    def candidate(self, candidate: CandidateCase) -> int:
        topic = self.topics.candidate(candidate.source.kind, candidate.source.id)
        return self._publisher.publish(topic, candidate.to_json(), confirm_id=candidate.id)

    def case_event(self, event: CaseEvent) -> int:
        return self._publisher.publish(self.topics.case_events(event.case_id), event.to_json())

    def feedback(self, feedback: CaseFeedback) -> int:
        """Kept by the outbox until the core's receipt names it, as candidates are."""
        topic = self.topics.feedback(feedback.source.kind, feedback.source.id)
        return self._publisher.publish(topic, feedback.to_json(), confirm_id=feedback.id)

    def camera_status(self, status: CameraStatus) -> int:
        return self._publisher.publish(
            self.topics.camera_status(status.camera_id), status.to_json(), retain=True
        )

    def camera_event(self, state: CameraEventState) -> int:
        """Retained per camera, event topic and source: the alarm's state as it is now."""
        topic = self.topics.camera_event(state.camera_id, state.topic, state.source_items)
        return self._publisher.publish(topic, state.to_json(), retain=True)

    def dead_letter(self, letter: DeadLetter, consumer: str) -> int:
        return self._publisher.publish(self.topics.dead_letter(consumer), letter.to_json())

    def dead_letters(self, letters: Sequence[DeadLetter], consumer: str) -> None:
        """Several at once: one durable write when the publisher takes batches (a flood of
        poison must not cost a disk commit each)."""
        topic = self.topics.dead_letter(consumer)
        if isinstance(self._publisher, BatchPublisher):
            self._publisher.publish_many([(topic, letter.to_json()) for letter in letters])
            return
        for letter in letters:
            self._publisher.publish(topic, letter.to_json())

    def ptz_command(self, command: PtzCommand) -> int:
        """Not retained: a move is for someone watching now (the gateway drops old ones)."""
        topic = self.topics.ptz_command(command.camera_id)
        return self._publisher.publish(topic, command.to_json())

    def agent_call(self, call: AgentCall) -> int:
        """Not retained, not kept for a receipt: a screen pop is for the call going on now
        (the core drops late ones)."""
        return self._publisher.publish(self.topics.agent_call(call.source.id), call.to_json())

    def agent_queues(self, figures: AgentQueues) -> int:
        """Retained: the core (and a restarted core) reads how the queues stand now."""
        topic = self.topics.agent_queues(figures.source.id)
        return self._publisher.publish(topic, figures.to_json(), retain=True)

    def verification_result(self, result: VerificationResult) -> int:
        """Kept by the outbox until the core's receipt names it, as candidates are."""
        topic = self.topics.verification_result(result.camera_id)
        return self._publisher.publish(topic, result.to_json(), confirm_id=result.id)
