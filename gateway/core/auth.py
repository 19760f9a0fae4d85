"""Users, passwords and API tokens of the core.

Passwords are hashed with scrypt (stdlib, salted, parameters stored with the hash) and
compared in constant time. A login returns a random bearer token; only its SHA-256 is
stored, with an expiry. Each request's token resolves to an `Actor` (name, role,
department) or is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from datetime import timedelta

from gateway.clock import Clock
from gateway.core.ports import UserStore
from gateway.core.workflow import USER_ROLES, Actor, Role

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
#: a token's user is looked up again after this long (expiry is checked on each lookup)
CACHE_SECONDS = 5.0
MIN_PASSWORD_LENGTH = 8


class AuthError(Exception):
    """Login refused or token unknown/expired; the message never says which part was wrong."""


class UserError(ValueError):
    """A user that cannot be created as given."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# a fixed hash to spend the same time on unknown users as on known ones
_DUMMY_HASH = hash_password("citygw-dummy-password")


class Authenticator:
    def __init__(
        self, users: UserStore, clock: Clock, *, token_ttl: timedelta, departments: set[str]
    ) -> None:
        self._users = users
        self._clock = clock
        self._ttl = token_ttl
        self._departments = departments
        # token hash -> (actor, valid until on the monotonic clock): spares a query per request
        self._cache: dict[str, tuple[Actor, float]] = {}
        self._cache_lock = threading.Lock()

    def add_user(self, name: str, role: str, password: str, department: str | None = None) -> None:
        """Create or update a user; raises `UserError` with the reason."""
        if (
            not name
            or len(name) > 64
            or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            raise UserError("a user name is 1-64 letters, digits, '-', '_' or '.'")
        try:
            parsed = Role(role)
        except ValueError as exc:
            raise UserError(f"unknown role {role!r}; roles: {', '.join(USER_ROLES)}") from exc
        if parsed is Role.SYSTEM:
            raise UserError("the system role is the core's own, not a user's")
        if parsed is Role.DEPARTMENT:
            if department not in self._departments:
                raise UserError(
                    f"a department user needs a known department, got {department!r}; "
                    f"known: {', '.join(sorted(self._departments))}"
                )
        elif department is not None:
            raise UserError("only department users belong to a department")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        self._users.add_user(
            name, str(parsed), department, hash_password(password), self._clock.now()
        )

    def login(self, name: str, password: str) -> tuple[str, Actor]:
        user = self._users.user(name)
        if user is None or not user["active"]:
            verify_password(password, _DUMMY_HASH)
            raise AuthError("wrong user name or password")
        if not verify_password(password, user["password_hash"]):
            raise AuthError("wrong user name or password")
        token = secrets.token_urlsafe(32)
        self._users.add_token(_token_hash(token), name, self._clock.now() + self._ttl)
        return token, _actor(user)

    def cached_actor(self, token: str) -> Actor | None:
        """The token's actor if it was verified less than `CACHE_SECONDS` ago, else None
        (no I/O: the API answers from here on its event loop and asks `actor_for` on a
        worker thread only when this says None)."""
        digest = _token_hash(token)
        with self._cache_lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > self._clock.monotonic():
            return cached[0]
        return None

    def actor_for(self, token: str) -> Actor:
        digest = _token_hash(token)
        now = self._clock.monotonic()
        with self._cache_lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        user = self._users.token_user(digest, self._clock.now())
        if user is None:
            raise AuthError("unknown or expired token")
        actor = _actor(user)
        with self._cache_lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (actor, now + CACHE_SECONDS)
        return actor

    def logout(self, token: str) -> None:
        self._users.delete_token(_token_hash(token))
        self._forget()

    def _forget(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def users(self) -> list[dict[str, object]]:
        return self._users.users()

    def deactivate(self, name: str) -> bool:
        """Stop a user from logging in; their tokens are revoked. False: no such user."""
        done = self._users.set_active(name, False)
        self._forget()
        return done

    @property
    def ttl(self) -> timedelta:
        return self._ttl


def _actor(user: dict[str, object]) -> Actor:
    return Actor(str(user["name"]), Role(str(user["role"])), user.get("department"))  # type: ignore[arg-type]
