"""Users, passwords and API tokens of the core.

Passwords are hashed with scrypt (stdlib, salted, parameters stored with the hash) and
compared in constant time. A login returns a random bearer token; only its SHA-256 is
stored, with an expiry. Each request's token resolves to an `Actor` (name, role,
department, an inspector's grids) or is refused.

A new password, another role or department, and deactivation end the user's sessions
at once: their tokens are deleted and the tokens verified recently are forgotten, on this
core and, through the store's announcement, on every other core (`forget_cached`; a core
that cannot hear the others, ``cache_while`` false, keeps nothing in memory). No
change may leave the centre without an active admin, and an admin cannot demote or
deactivate themself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gateway.clock import Clock
from gateway.core.organisation import NodeKind, Organisation
from gateway.core.ports import UserStore, UserUpdate
from gateway.core.workflow import USER_ROLES, Actor, Role

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
#: a token's user is looked up again after this long (expiry is checked on each lookup)
CACHE_SECONDS = 5.0
MIN_PASSWORD_LENGTH = 8


class AuthError(Exception):
    """Login refused or token unknown/expired; the message never says which part was wrong."""


class UserError(ValueError):
    """A user that cannot be created or changed as given (a bad value: the reason says).

    ``kind`` names the rule and ``params`` its values, for whoever says it to a person in
    their language (the command line: gateway/cli_texts.py); ``str()`` is the English reason.
    """

    def __init__(self, reason: str, kind: str = "", **params: object) -> None:
        super().__init__(reason)
        self.kind = kind
        self.params = params


class UserConflict(Exception):
    """A change refused by the state of the accounts: ``code`` is ``user_exists``,
    ``last_admin`` or ``cannot_change_self``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class UserNotFound(LookupError):
    pass


_GRID = re.compile(r"^\d{6,14}$")
#: `update_user`'s "leave as it is"
KEEP: Any = object()


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
        self,
        users: UserStore,
        clock: Clock,
        *,
        token_ttl: timedelta,
        departments: set[str],
        organisation: Organisation | None = None,
        cache_while: Callable[[], bool] = lambda: True,
    ) -> None:
        self._users = users
        #: whether a verified token may be answered from memory now: with other cores on
        #: the database, only while this core hears their session changes
        self.cache_while = cache_while
        #: where users sit (两级指挥); None: one centre, every user at the city
        self.organisation = organisation
        self._clock = clock
        self._ttl = token_ttl
        self._departments = departments
        # token hash -> (actor, valid until on the monotonic clock): spares a query per request
        self._cache: dict[str, tuple[Actor, float]] = {}
        self._cache_lock = threading.Lock()
        # bumped by every forget: a lookup that began before one is not kept
        self._generation = 0

    def add_user(
        self,
        name: str,
        role: str,
        password: str,
        department: str | None = None,
        grids: tuple[str, ...] = (),
        org_node: str | None = None,
    ) -> None:
        """Create a user, or replace every field of an existing one and end their sessions
        (``citygw core add-user``, the demo); raises `UserError` with the reason."""
        values = self._checked(name, role, department, grids, password)
        node = self._node(values[1], values[2], org_node)
        if self._users.replace_user(*values, self._clock.now(), org_node=node):
            self.forget_cached()

    def create_user(
        self,
        name: str,
        role: str,
        password: str,
        department: str | None = None,
        grids: tuple[str, ...] = (),
        org_node: str | None = None,
    ) -> None:
        """A new user; `UserConflict` ``user_exists`` when the name is taken."""
        values = self._checked(name, role, department, grids, password)
        node = self._node(values[1], values[2], org_node)
        if not self._users.insert_user(*values, self._clock.now(), org_node=node):
            raise UserConflict("user_exists", f"a user {name} exists; change it instead")

    def update_user(
        self,
        name: str,
        by: Actor,
        *,
        role: str | None = None,
        department: str | None = KEEP,
        grids: tuple[str, ...] | None = None,
        active: bool | None = None,
        password: str | None = None,
        org_node: str | None = KEEP,
    ) -> dict[str, Any]:
        """Change what is given; returns the user as stored. A role that has no department
        (or grids) drops the old one unless given. Raises `UserNotFound`, `UserError`,
        `UserConflict` (``cannot_change_self``, ``last_admin``)."""
        user = self._users.user(name)
        if user is None:
            raise UserNotFound(name)
        new_role = role if role is not None else str(user["role"])
        if department is KEEP:
            department = user["department"] if new_role == Role.DEPARTMENT else None
        if grids is None:
            grids = tuple(user["grids"] or ()) if new_role == Role.INSPECTOR else ()
        if name == by.name and (new_role != user["role"] or active is False):
            raise UserConflict(
                "cannot_change_self", "an admin cannot demote or deactivate themself"
            )
        _, parsed_role, department, grid_list, _ = self._checked(
            name, new_role, department, grids, None
        )
        if org_node is KEEP:
            org_node = user.get("org_node") if department == user["department"] else None
        node = self._node(parsed_role, department, org_node)
        values: dict[str, Any] = {
            "role": parsed_role,
            "department": department,
            "grids": grid_list,
            "org_node": node,
        }
        if active is not None:
            values["active"] = active
        if password is not None:
            _check_password(password)
            values["password_hash"] = hash_password(password)
        end_sessions = (
            password is not None
            or active is False
            or parsed_role != user["role"]
            or department != user["department"]
            or node != user.get("org_node")
        )
        outcome = self._users.update_user(name, values, end_sessions=end_sessions)
        self.forget_cached()
        if outcome is UserUpdate.NOT_FOUND:
            raise UserNotFound(name)
        if outcome is UserUpdate.LAST_ADMIN:
            raise UserConflict("last_admin", "the centre would be left without an active admin")
        updated = self._users.user(name)
        if updated is None:
            raise UserNotFound(name)
        return updated

    def _checked(
        self,
        name: str,
        role: str,
        department: str | None,
        grids: tuple[str, ...] | list[str],
        password: str | None,
    ) -> tuple[str, str, str | None, list[str], str]:
        """(name, role, department, grids, password hash) or `UserError` with the reason."""
        if (
            not name
            or len(name) > 64
            or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
            or not name.isascii()
        ):
            raise UserError("a user name is 1-64 letters, digits, '-', '_' or '.'", "bad_name")
        try:
            parsed = Role(role)
        except ValueError as exc:
            raise UserError(
                f"unknown role {role!r}; roles: {', '.join(USER_ROLES)}",
                "unknown_role",
                role=role,
                roles=", ".join(USER_ROLES),
            ) from exc
        if parsed is Role.SYSTEM:
            raise UserError("the system role is the core's own, not a user's", "system_role")
        if parsed is Role.DEPARTMENT:
            if department not in self._departments:
                raise UserError(
                    f"a department user needs a known department, got {department!r}; "
                    f"known: {', '.join(sorted(self._departments))}",
                    "unknown_department",
                    department=department,
                    known=", ".join(sorted(self._departments)),
                )
        elif department is not None:
            raise UserError(
                "only department users belong to a department", "department_not_allowed"
            )
        grid_list = sorted(set(grids))
        if grid_list and parsed is not Role.INSPECTOR:
            raise UserError("only inspectors are assigned grids", "grids_not_allowed")
        if len(grid_list) > 200 or not all(_GRID.fullmatch(g) for g in grid_list):
            raise UserError(
                "grids are up to 200 unit grid codes or code prefixes (6-14 digits)", "bad_grids"
            )
        if password is None:
            return name, str(parsed), department, grid_list, ""
        _check_password(password)
        return name, str(parsed), department, grid_list, hash_password(password)

    def _node(self, role: str, department: str | None, org_node: str | None) -> str | None:
        """The organisation node a user of ``role`` sits at: a department user at their
        department's; the desk, admins and inspectors at a centre (an inspector also at a
        street or community); None: the city centre. `UserError` otherwise."""
        org = self.organisation
        if org is None:
            if org_node is not None:
                raise UserError(
                    "no organisation is configured: users sit at the city centre",
                    "no_organisation",
                )
            return None
        if role == Role.DEPARTMENT:
            node = org.node_of_department(department)
            if org_node is not None and (node is None or node.id != org_node):
                raise UserError(
                    f"a department user sits at its department's node, not {org_node}",
                    "department_node",
                    node=org_node,
                )
            return node.id if node is not None else None
        found = org.get(org_node)
        if org_node is None or (found is not None and found.kind is NodeKind.CITY):
            return None
        allowed = {NodeKind.DISTRICT} | (
            {NodeKind.STREET, NodeKind.COMMUNITY} if role == Role.INSPECTOR else set()
        )
        if found is None or found.kind not in allowed:
            raise UserError(
                f"unknown organisation node {org_node!r} for a {role}: "
                "the city or a district centre (inspectors also a street or community)",
                "unknown_node",
                node=org_node,
                role=role,
            )
        return found.id

    def login(self, name: str, password: str) -> tuple[str, Actor]:
        user = self._users.user(name)
        if user is None or not user["active"]:
            verify_password(password, _DUMMY_HASH)
            raise AuthError("wrong user name or password")
        if not verify_password(password, user["password_hash"]):
            raise AuthError("wrong user name or password")
        token = secrets.token_urlsafe(32)
        self._users.add_token(_token_hash(token), name, self._clock.now() + self._ttl)
        return token, self._actor(user)

    def cached_actor(self, token: str) -> Actor | None:
        """The token's actor if it was verified less than `CACHE_SECONDS` ago, else None
        (no I/O: the API answers from here on its event loop and asks `actor_for` on a
        worker thread only when this says None)."""
        if not self.cache_while():
            return None
        digest = _token_hash(token)
        with self._cache_lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > self._clock.monotonic():
            return cached[0]
        return None

    def actor_for(self, token: str) -> Actor:
        digest = _token_hash(token)
        now = self._clock.monotonic()
        caching = self.cache_while()
        with self._cache_lock:
            cached = self._cache.get(digest) if caching else None
            generation = self._generation
        if cached is not None and cached[1] > now:
            return cached[0]
        user = self._users.token_user(digest, self._clock.now())
        if user is None:
            raise AuthError("unknown or expired token")
        actor = self._actor(user)
        with self._cache_lock:
            # a change heard while the user was read may be newer than what was read
            if caching and generation == self._generation:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (actor, now + CACHE_SECONDS)
        return actor

    def logout(self, token: str) -> None:
        self._users.delete_token(_token_hash(token))
        self.forget_cached()

    def forget_cached(self) -> None:
        """Forget every token verified so far: sessions changed (here or on another core)."""
        with self._cache_lock:
            self._cache.clear()
            self._generation += 1

    def users(self) -> list[dict[str, Any]]:
        return self._users.users()

    def user(self, name: str) -> dict[str, Any] | None:
        return self._users.user(name)

    def deactivate(self, name: str, by: Actor) -> bool:
        """Stop a user from logging in; their sessions end. False: no such user. Raises
        `UserConflict` as `update_user`."""
        try:
            self.update_user(name, by, active=False)
        except UserNotFound:
            return False
        return True

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def _actor(self, user: dict[str, Any]) -> Actor:
        grids = tuple(user.get("grids") or ()) if user["role"] == Role.INSPECTOR else ()
        node = user.get("org_node")
        reach = self.organisation.reach(node) if self.organisation is not None else ()
        role = Role(str(user["role"]))
        return Actor(str(user["name"]), role, user.get("department"), grids, node, reach)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"a password has at least {MIN_PASSWORD_LENGTH} characters",
            "short_password",
            length=MIN_PASSWORD_LENGTH,
        )
