"""The one configuration loader of citygw.

One YAML file, validated by pydantic models (one model per concern, ``extra="forbid"``,
bounds and a description on each field). Strings may name environment variables as
``${NAME}`` or ``${NAME:-default}`` so secrets stay out of the file. `load_config`
reports every error at once with its key path and the line it came from.

Probing cameras or brokers is a start-up step of each daemon, never part of validation.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from gateway.contract import DEFAULT_TOPIC_ROOT, MAX_PAYLOAD_BYTES
from gateway.core.settings import CoreConfig
from gateway.telephony.settings import TelephonyConfig
from gateway.video.settings import VideoConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Section):
    ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate"
    )
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(default=None, description="client private key (mutual TLS)")
    insecure_skip_verify: bool = Field(
        default=False, description="accept any broker certificate (tests only)"
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(_Section):
    host: str = Field(default="127.0.0.1", min_length=1, description="broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(default=None, description="broker user; e.g. ${CITYGW_MQTT_USER}")
    password: SecretStr | None = Field(
        default=None, description="broker password; e.g. ${CITYGW_MQTT_PASSWORD}"
    )
    tls: TlsConfig | None = Field(default=None, description="TLS to the broker; absent = plain TCP")
    topic_root: str = Field(
        default=DEFAULT_TOPIC_ROOT, pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$"
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive")
    connect_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="timeout of one connect attempt"
    )
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60, description="first reconnect delay")
    reconnect_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="longest reconnect delay (backoff doubles)"
    )
    max_payload_bytes: int = Field(default=MAX_PAYLOAD_BYTES, ge=1024, le=64 * 1024 * 1024)

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self


class OutboxConfig(_Section):
    path: Path | None = Field(
        default=None,
        description="SQLite file of the durable outbox; default <state_dir>/outbox-<daemon>.sqlite3",
    )
    max_messages: int = Field(
        default=1_000_000, ge=10, description="refuse new messages beyond this many queued"
    )
    max_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024 * 1024,
        description="refuse new messages beyond this many bytes queued",
    )
    inflight_window: int = Field(
        default=200, ge=1, le=20_000, description="messages published and awaiting PUBACK at once"
    )
    fsync: bool = Field(
        default=False,
        description="fsync each commit (survives power loss, slower); WAL survives kill -9 either way",
    )
    receipt_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="resend a candidate the core has not confirmed after this long",
    )
    receipt_backoff_max_s: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        description="longest wait between resends of an unconfirmed candidate",
    )


class LoggingConfig(_Section):
    level: str = Field(
        default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="lowest level logged"
    )
    format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "text: one readable line per record; json: one JSON object per line (for "
            "journald/Loki) with a UTC timestamp in milliseconds and the camera, case, call "
            "and candidate ids a record carries; the CLI's --log-format overrides it"
        ),
    )


class MetricsConfig(_Section):
    """Prometheus metrics (``GET /metrics``) of each daemon."""

    core_on_api: bool = Field(
        default=True,
        description="serve /metrics on the core's HTTP server (beside /healthz, no user session)",
    )
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address the metrics listeners below bind (loopback: a local scraper only)",
    )
    core_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="a metrics listener of the core's own; off if unset",
    )
    video_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the video gateway's metrics listener; off if unset",
    )
    agi_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the telephony gateway's metrics listener; off if unset",
    )
    ami_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the hotline AMI side's (citygw ami) metrics listener; off if unset",
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "when set, every /metrics (the core's and the listeners') wants "
            "`Authorization: Bearer <token>`; e.g. ${CITYGW_METRICS_TOKEN}"
        ),
    )

    @model_validator(mode="after")
    def _ports_apart(self) -> MetricsConfig:
        ports = [
            p
            for p in (self.core_port, self.video_port, self.agi_port, self.ami_port)
            if p is not None
        ]
        if len(ports) != len(set(ports)):
            raise ValueError("core_port, video_port, agi_port and ami_port must differ")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError("token: at least 16 characters")
        return self


class Config(_Section):
    """The whole of citygw's configuration."""

    instance: str = Field(
        default_factory=lambda: (
            re.sub(r"[^A-Za-z0-9_\-]", "-", socket.gethostname())[:48] or "edge"
        ),
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,47}$",
        description="name of this gateway instance (MQTT client ids, status topics)",
    )
    state_dir: Path = Field(
        default=Path("var"), description="where daemons keep state (outboxes, databases, evidence)"
    )
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    core: CoreConfig = Field(default_factory=CoreConfig)
    telephony: TelephonyConfig = Field(default_factory=TelephonyConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)

    @model_validator(mode="after")
    def _case_number_issuers_apart(self) -> Config:
        """The core and a telephony gateway number cases under different 2-digit prefixes."""
        if self.core.case_number_prefix == self.telephony.case_number_prefix:
            raise ValueError(
                f"core.case_number_prefix and telephony.case_number_prefix are both "
                f"{self.core.case_number_prefix!r}: their case numbers would collide"
            )
        return self


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    line: int | None
    message: str
    #: pydantic's error type (``missing``, ``greater_than_equal``, ``value_error``…) and its
    #: context (``{"ge": 1}``), so that the command line can say it in Chinese; None: ours
    kind: str | None = None
    context: Mapping[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "line ?"
        return f"{self.path} ({where}): {self.message}"


class ConfigError(Exception):
    """Every problem found in one configuration file."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(
            f"{source}: {len(issues)} error(s)\n" + "\n".join(f"  {i}" for i in issues)
        )


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[str(key)] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    return _LineList(items, [child.start_mark.line + 1 for child in node.value])


class _LineList(list):  # type: ignore[type-arg]
    def __init__(self, items: list[Any], lines: list[int]) -> None:
        super().__init__(items)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _strip_and_expand(
    node: Any,
    path: str,
    env: Mapping[str, str],
    lines: dict[str, int],
    issues: list[ConfigIssue],
    line: int | None,
) -> Any:
    """Remove line bookkeeping, expand ``${ENV}`` references, record each path's line."""
    if isinstance(node, dict):
        key_lines = node.pop("__lines__", {})
        node.pop("__line__", None)
        result = {}
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            child_line = key_lines.get(str(key), line)
            if child_line is not None:
                lines[child] = child_line
            result[key] = _strip_and_expand(value, child, env, lines, issues, child_line)
        return result
    if isinstance(node, list):
        item_lines = getattr(node, "lines", [line] * len(node))
        result_list = []
        for index, item in enumerate(node):
            child = f"{path}.{index}"
            if item_lines[index] is not None:
                lines[child] = item_lines[index]
            result_list.append(
                _strip_and_expand(item, child, env, lines, issues, item_lines[index])
            )
        return result_list
    if isinstance(node, str) and "${" in node:

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            issues.append(
                ConfigIssue(
                    path,
                    line,
                    f"environment variable {name} is not set",
                    "env_unset",
                    {"name": name},
                )
            )
            return ""

        return _ENV_REF.sub(replace, node)
    return node


def _line_for(path: str, lines: dict[str, int]) -> int | None:
    """The line of a path, or of its nearest ancestor that is in the file."""
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return None


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate YAML text; raise `ConfigError` listing every problem with path and line."""
    env = os.environ if env is None else env
    try:
        raw = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            source,
            [
                ConfigIssue(
                    "(file)", line, f"not valid YAML: {problem}", "yaml", {"problem": problem}
                )
            ],
        ) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            source, [ConfigIssue("(file)", 1, "the top level must be a mapping", "not_mapping")]
        )
    issues: list[ConfigIssue] = []
    lines: dict[str, int] = {}
    document = _strip_and_expand(raw, "", env, lines, issues, 1)
    try:
        config = Config.model_validate(document)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = ".".join(str(p) for p in error["loc"]) or "(top)"
            context = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
            line = _line_for(path, lines)
            issues.append(ConfigIssue(path, line, error["msg"], error["type"], context))
        raise ConfigError(source, issues) from exc
    if issues:
        raise ConfigError(source, issues)
    return config


def load_config(path: Path | str | None, *, env: Mapping[str, str] | None = None) -> Config:
    """Load a configuration file; ``None`` gives the embedded defaults."""
    if path is None:
        return Config()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(file),
            [
                ConfigIssue(
                    "(file)",
                    None,
                    f"cannot read: {exc.strerror}",
                    "unreadable",
                    {"reason": exc.strerror},
                )
            ],
        ) from exc
    return parse_config(text, source=str(file), env=env)


def resolve_state_path(config: Config, path: Path) -> Path:
    """A path from config: absolute as given, relative ones under ``state_dir``."""
    return path if path.is_absolute() else config.state_dir / path


def outbox_path(config: Config, daemon: str) -> Path:
    """Each edge daemon has its own outbox file."""
    if config.outbox.path is not None:
        return resolve_state_path(config, config.outbox.path)
    return config.state_dir / f"outbox-{daemon}.sqlite3"
