"""docs/asyncapi.yaml is the contract as the code says it: regenerated and compared, valid
AsyncAPI 3.0, every topic and message of gateway/contract/ in it, examples that parse."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gateway import contract
from gateway.contract_asyncapi import (
    CHANNELS,
    DEFAULT_PATH,
    asyncapi_document,
    main,
    render,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asyncapi"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def asyncapi_schema() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs 6.11.1, Apache-2.0)."""
    with gzip.open(FIXTURES / "asyncapi-3.0.0.schema.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def test_the_committed_document_is_what_the_contract_generates() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: run python -m gateway.contract_asyncapi"
    )


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(asyncapi_schema())
    problems = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert not problems, problems
    broken = {**document, "channels": {"x": {"address": 7}}}  # the schema does catch errors
    assert list(validator.iter_errors(broken))


def test_every_topic_and_every_message_of_the_contract_has_a_channel() -> None:
    called: set[str] = set()

    class Recording(contract.Topics):
        def __getattribute__(self, name: str) -> Any:
            if not name.startswith("_") and name != "root":
                called.add(name)
            return super().__getattribute__(name)

    for channel in CHANNELS:
        channel.topic(Recording())
    builders = {
        name
        for name, value in vars(contract.Topics).items()
        if not name.startswith("_") and callable(value) and not isinstance(value, staticmethod)
    }
    assert builders and called == builders
    assert {channel.message for channel in CHANNELS} == set(contract.MESSAGE_TYPES.values())


def test_each_example_parses_and_fits_its_payload_schema(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    assert len(messages) == len(CHANNELS)
    for name, message in messages.items():
        [example] = message["examples"]
        payload = example["payload"]
        parsed = contract.parse_message(json.dumps(payload).encode("utf-8"))
        assert parsed.SCHEMA == message["name"] == payload["schema"], name
        validator = jsonschema.Draft7Validator(
            {"$ref": message["payload"]["$ref"], "components": document["components"]}
        )
        assert not list(validator.iter_errors(payload)), name
        for wrong in (
            {k: v for k, v in payload.items() if k != "id"},
            {**payload, "schema": "citygw.something_else"},
            {**payload, "ts": 5},
        ):
            assert list(validator.iter_errors(wrong)), (name, wrong)


def test_channels_say_who_sends_and_who_receives_with_retained_state(
    document: dict[str, Any],
) -> None:
    operations = document["operations"]
    sent = {
        (op["channel"]["$ref"].rsplit("/", 1)[1], op["tags"][0]["name"]): op
        for op in operations.values()
        if op["action"] == "send"
    }
    assert sent[("candidates", "video")]["bindings"]["mqtt"] == {
        "qos": 1,
        "bindingVersion": "0.2.0",
        "retain": False,
    }
    assert sent[("cameraStatus", "video")]["bindings"]["mqtt"]["retain"] is True
    received = {
        (op["channel"]["$ref"].rsplit("/", 1)[1], op["tags"][0]["name"])
        for op in operations.values()
        if op["action"] == "receive"
    }
    assert {("candidates", "core"), ("verificationRequests", "video")} <= received
    address = document["channels"]["cameraEvents"]["address"]
    assert address == "citygw/v1/cameras/{cameraId}/events/{topicPath}/{source}"


def test_an_address_that_topics_would_not_make_is_refused() -> None:
    wrong = dataclasses.replace(CHANNELS[0], address="candidate/{sourceKind}/{sourceId}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gateway.contract_asyncapi.CHANNELS", (wrong, *CHANNELS[1:]))
        with pytest.raises(ValueError, match="Topics makes"):
            asyncapi_document()


def test_the_check_command_fails_on_a_stale_document(tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.yaml"
    assert main([str(path), "--check"]) == 1
    assert main([str(path)]) == 0 and main([str(path), "--check"]) == 0
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["asyncapi"] == "3.0.0"
    path.write_text(path.read_text(encoding="utf-8").replace("citygw/v1", "citygw/v2"))
    assert main([str(path), "--check"]) == 1
