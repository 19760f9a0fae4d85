"""Failed logins lock an account, or a client address, for a while (no I/O).

Each failed login counts against the account's name and against the client's address;
`core.login_limits.account_failures` (or ``address_failures``) failures within
``window_minutes`` lock that key for ``lockout_minutes``. While either key is locked a
login is refused before the password is checked, the right one included (so a guesser
learns nothing), with the seconds left for ``Retry-After``. A successful login clears
its account's failures, not its address's. Kept in memory: a restart forgets them; with
several cores each counts its own.

Locking an account lets anyone who knows a name keep its owner out for a while: the
price of stopping a guesser; the address limit is there for one guessing many names.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from gateway.core.settings import LoginLimitConfig

#: keys kept at most; the oldest idle ones go first beyond this (a flood of names)
MAX_KEYS = 100_000


@dataclass
class _Key:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


@dataclass(frozen=True)
class Lockout:
    """A refusal: which key is locked (``account`` or ``address``) and for how long."""

    scope: str
    retry_after_s: int


class LoginLimits:
    def __init__(self, config: LoginLimitConfig) -> None:
        self._config = config
        self._window = config.window_minutes * 60
        self._lockout = config.lockout_minutes * 60
        self._keys: dict[tuple[str, str], _Key] = {}
        self._lock = threading.Lock()

    def refusal(self, name: str, address: str, now: float) -> Lockout | None:
        """The lockout that refuses this login now, or None to go on checking it."""
        with self._lock:
            for scope, value in (("account", name.lower()), ("address", address)):
                key = self._keys.get((scope, value))
                if key is not None and key.locked_until > now:
                    return Lockout(scope, max(1, int(key.locked_until - now + 0.999)))
        return None

    def failed(self, name: str, address: str, now: float) -> Lockout | None:
        """Count a failure; the lockout it starts, if it starts one."""
        started: Lockout | None = None
        limits = (
            ("account", name.lower(), self._config.account_failures),
            ("address", address, self._config.address_failures),
        )
        with self._lock:
            for scope, value, limit in limits:
                key = self._keys.pop((scope, value), None) or _Key()
                self._keys[(scope, value)] = key  # most recently used last
                while key.failures and key.failures[0] <= now - self._window:
                    key.failures.popleft()
                key.failures.append(now)
                if len(key.failures) >= limit:
                    key.failures.clear()
                    key.locked_until = now + self._lockout
                    started = started or Lockout(scope, int(self._lockout))
            while len(self._keys) > MAX_KEYS:
                del self._keys[next(iter(self._keys))]
        return started

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._keys.pop(("account", name.lower()), None)
