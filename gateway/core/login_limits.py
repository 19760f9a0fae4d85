"""Failed logins lock an account, or a client address, for a while.

Each failed login counts against the account's name and against the client's address;
`core.login_limits.account_failures` (or ``address_failures``) failures within
``window_minutes`` lock that key for ``lockout_minutes``. While either key is locked a
login is refused before the password is checked, the right one included (so a guesser
learns nothing), with the seconds left for ``Retry-After``. A successful login clears
its account's failures, not its address's.

The counts live in a `LoginFailureStore`: the core's database (``login_failures`` and
``login_locks``, `adapters.storage.login_failure_store`), so every core on one database
counts the same failures and a lock outlives a restart; `MemoryLoginFailures` keeps them
in one process (a core without a database of its own, the unit tests). Times are wall
clock seconds (epoch), the one time several cores share.

Locking an account lets anyone who knows a name keep its owner out for a while: the
price of stopping a guesser; the address limit is there for one guessing many names.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from gateway.core.settings import LoginLimitConfig

#: keys kept at most in memory; the oldest idle ones go first beyond this (a flood of names)
MAX_KEYS = 100_000


@dataclass(frozen=True)
class Lockout:
    """A refusal: which key is locked (``account`` or ``address``) and for how long."""

    scope: str
    retry_after_s: int


class LoginFailureStore(Protocol):
    """Failed logins and locks by (scope, key); ``scope`` is ``account`` or ``address``."""

    def locked_until(self, scope: str, key: str) -> float | None:
        """When the key's lock ends (epoch seconds), or None when it never was locked."""
        ...

    def count_failure(self, scope: str, key: str, at: float, since: float) -> int:
        """Record a failure at ``at``; how many the key has after ``since``, this one
        included (older ones may be forgotten)."""
        ...

    def lock(self, scope: str, key: str, until: float) -> None:
        """Lock the key until ``until`` and forget its failures."""
        ...

    def clear(self, scope: str, key: str) -> None:
        """Forget the key's failures and lock."""
        ...


@dataclass
class _Key:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class MemoryLoginFailures:
    """A `LoginFailureStore` in this process only: a restart forgets it, and each process
    counts its own."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], _Key] = {}
        self._lock = threading.Lock()

    def locked_until(self, scope: str, key: str) -> float | None:
        with self._lock:
            found = self._keys.get((scope, key))
            return found.locked_until if found is not None and found.locked_until else None

    def count_failure(self, scope: str, key: str, at: float, since: float) -> int:
        with self._lock:
            found = self._keys.pop((scope, key), None) or _Key()
            self._keys[(scope, key)] = found  # most recently used last
            while found.failures and found.failures[0] <= since:
                found.failures.popleft()
            found.failures.append(at)
            while len(self._keys) > MAX_KEYS:
                del self._keys[next(iter(self._keys))]
            return len(found.failures)

    def lock(self, scope: str, key: str, until: float) -> None:
        with self._lock:
            found = self._keys.setdefault((scope, key), _Key())
            found.failures.clear()
            found.locked_until = until

    def clear(self, scope: str, key: str) -> None:
        with self._lock:
            self._keys.pop((scope, key), None)


class LoginLimits:
    def __init__(self, config: LoginLimitConfig, store: LoginFailureStore | None = None) -> None:
        self._config = config
        self._window = config.window_minutes * 60
        self._lockout = config.lockout_minutes * 60
        self._store: LoginFailureStore = store if store is not None else MemoryLoginFailures()

    def refusal(self, name: str, address: str, now: float) -> Lockout | None:
        """The lockout that refuses this login at ``now`` (epoch seconds), or None to go on
        checking it."""
        for scope, key in (("account", name.lower()), ("address", address)):
            until = self._store.locked_until(scope, key)
            if until is not None and until > now:
                return Lockout(scope, max(1, int(until - now + 0.999)))
        return None

    def failed(self, name: str, address: str, now: float) -> Lockout | None:
        """Count a failure; the lockout it starts, if it starts one."""
        started: Lockout | None = None
        limits = (
            ("account", name.lower(), self._config.account_failures),
            ("address", address, self._config.address_failures),
        )
        for scope, key, limit in limits:
            count = self._store.count_failure(scope, key, now, now - self._window)
            if count >= limit:
                self._store.lock(scope, key, now + self._lockout)
                started = started or Lockout(scope, int(self._lockout))
        return started

    def succeeded(self, name: str) -> None:
        self._store.clear("account", name.lower())
