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

Locking an account would let anyone who knows a name keep its owner out. So an account
counts failures, and locks, apart for its familiar and its unfamiliar addresses: an
address it logged in from within ``familiar_days`` is familiar to it. A guesser at an
address the account never used locks it for unfamiliar addresses only; its owner, at
the desk or phone they logged in from before, still logs in (a guesser there, on the
owner's own address, locks that side too). ``familiar_days: 0`` makes one lock for every
address. The address limit is there for one guessing many names.
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

    def familiar_until(self, account: str, address: str) -> float | None:
        """Until when ``address`` is familiar to ``account`` (epoch seconds), or None."""
        ...

    def mark_familiar(self, account: str, address: str, until: float) -> None:
        """``account`` logged in from ``address``: familiar to it until ``until``."""
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
        self._familiar: dict[tuple[str, str], float] = {}
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

    def familiar_until(self, account: str, address: str) -> float | None:
        with self._lock:
            return self._familiar.get((account, address))

    def mark_familiar(self, account: str, address: str, until: float) -> None:
        with self._lock:
            self._familiar.pop((account, address), None)
            self._familiar[(account, address)] = until  # most recently used last
            while len(self._familiar) > MAX_KEYS:
                del self._familiar[next(iter(self._familiar))]


#: the store's scope of an account's failures and lock at addresses familiar to it
#: (``account``: at the others)
FAMILIAR_ACCOUNT = "account-known"


class LoginLimits:
    def __init__(self, config: LoginLimitConfig, store: LoginFailureStore | None = None) -> None:
        self._config = config
        self._window = config.window_minutes * 60
        self._lockout = config.lockout_minutes * 60
        self._familiar_s = config.familiar_days * 86_400
        self._store: LoginFailureStore = store if store is not None else MemoryLoginFailures()

    def _account_scope(self, account: str, address: str, now: float) -> str:
        """Where this login's account failures count: its familiar or unfamiliar side."""
        if self._familiar_s <= 0:
            return "account"
        until = self._store.familiar_until(account, address)
        return FAMILIAR_ACCOUNT if until is not None and until > now else "account"

    def refusal(self, name: str, address: str, now: float) -> Lockout | None:
        """The lockout that refuses this login at ``now`` (epoch seconds), or None to go on
        checking it."""
        account = name.lower()
        keys = ((self._account_scope(account, address, now), account), ("address", address))
        for scope, key in keys:
            until = self._store.locked_until(scope, key)
            if until is not None and until > now:
                return Lockout(_said(scope), max(1, int(until - now + 0.999)))
        return None

    def failed(self, name: str, address: str, now: float) -> Lockout | None:
        """Count a failure; the lockout it starts, if it starts one."""
        account = name.lower()
        started: Lockout | None = None
        limits = (
            (self._account_scope(account, address, now), account, self._config.account_failures),
            ("address", address, self._config.address_failures),
        )
        for scope, key, limit in limits:
            count = self._store.count_failure(scope, key, now, now - self._window)
            if count >= limit:
                self._store.lock(scope, key, now + self._lockout)
                started = started or Lockout(_said(scope), int(self._lockout))
        return started

    def succeeded(self, name: str, address: str, now: float) -> None:
        """A login went through: its side of the account starts afresh (the other side's
        failures and lock stay: the owner's login does not reset a guesser's count), and
        the address is familiar to the account for ``familiar_days`` more."""
        account = name.lower()
        self._store.clear(self._account_scope(account, address, now), account)
        if self._familiar_s > 0:
            self._store.mark_familiar(account, address, now + self._familiar_s)


def _said(scope: str) -> str:
    """The scope a refusal names (``account`` for either side of an account)."""
    return "account" if scope == FAMILIAR_ACCOUNT else scope
