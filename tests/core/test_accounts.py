"""Accounts: creating and changing users, sessions that end with a change, login lockouts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.core.auth import UserConflict
from gateway.core.workflow import Actor, Role
from tests.core.api_harness import PASSWORD, Api, another_core, make_api

NEW_PASSWORD = "another long one"


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    yield harness
    harness.close()


def login(api: Api, name: str, password: str, address: str = "testclient") -> httpx.Response:
    client = api.client
    if address != "testclient":  # another client address
        client = TestClient(api.client.app, client=(address, 50000))
    return client.post("/api/v1/auth/login", json={"name": name, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def patch(api: Api, name: str, **body: object) -> httpx.Response:
    return api.client.patch(f"/api/v1/users/{name}", headers=api.headers("admin"), json=body)


def test_creating_a_user_that_exists_is_refused_and_changes_nothing(api: Api) -> None:
    again = api.client.post(
        "/api/v1/users",
        headers=api.headers("admin"),
        json={"name": "olga", "role": "admin", "password": "taken over!"},
    )
    assert again.status_code == 409 and again.json()["error"] == "user_exists"
    assert login(api, "olga", "taken over!").status_code == 401
    me = api.client.get("/api/v1/me", headers=api.headers("operator"))
    assert me.status_code == 200 and me.json()["role"] == "operator"


def test_a_user_is_changed_through_patch(api: Api) -> None:
    moved = patch(api, "sam", role="operator")
    assert moved.status_code == 200, moved.text
    # a department user made an operator leaves the department
    assert moved.json() == {
        "name": "sam",
        "role": "operator",
        "department": None,
        "active": True,
        "grids": [],
        "org_node": None,
    }
    bad = patch(api, "olga", role="department")
    assert bad.status_code == 422 and bad.json()["error"] == "bad_user"
    ok = patch(api, "olga", role="department", department="sanitation")
    assert ok.json()["department"] == "sanitation"
    assert patch(api, "nobody", active=False).status_code == 404


@pytest.mark.parametrize(
    ("role", "change"),
    [
        ("operator", {"password": NEW_PASSWORD}),
        ("dispatcher", {"role": "shift_lead"}),
        ("inspector", {"active": False}),
        ("department", {"department": "traffic"}),
    ],
)
def test_a_reset_role_change_or_deactivation_ends_the_users_sessions_at_once(
    api: Api, role: str, change: dict[str, object]
) -> None:
    headers = api.headers(role)
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200  # now cached
    name = api.client.get("/api/v1/me", headers=headers).json()["name"]
    assert patch(api, name, **change).status_code == 200
    refused = api.client.get("/api/v1/me", headers=headers)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
    # the other users' sessions go on
    assert api.client.get("/api/v1/me", headers=api.headers("admin")).status_code == 200


def test_a_reset_password_replaces_the_old_one_and_reactivation_lets_in_again(api: Api) -> None:
    assert patch(api, "olga", password=NEW_PASSWORD).status_code == 200
    assert login(api, "olga", PASSWORD).status_code == 401
    assert login(api, "olga", NEW_PASSWORD).status_code == 200
    assert patch(api, "olga", active=False).status_code == 200
    assert login(api, "olga", NEW_PASSWORD).status_code == 401
    assert patch(api, "olga", active=True).json()["active"] is True
    assert login(api, "olga", NEW_PASSWORD).status_code == 200


def test_an_admin_can_neither_demote_nor_deactivate_themself(api: Api) -> None:
    for change in ({"role": "operator"}, {"active": False}):
        refused = patch(api, "root", **change)
        assert refused.status_code == 409
        assert refused.json()["error"] == "cannot_change_self"
    deactivate = api.client.post("/api/v1/users/root/deactivate", headers=api.headers("admin"))
    assert deactivate.status_code == 409 and deactivate.json()["error"] == "cannot_change_self"
    assert api.client.get("/api/v1/me", headers=api.headers("admin")).json()["role"] == "admin"


def test_no_change_leaves_the_centre_without_an_active_admin(api: Api) -> None:
    other = Actor("someone-else", Role.ADMIN)  # e.g. a second admin acting at the same moment
    for change in ({"role": "operator"}, {"active": False}):
        with pytest.raises(UserConflict) as refused:
            api.auth.update_user("root", other, **change)  # type: ignore[arg-type]
        assert refused.value.code == "last_admin"
    assert api.users.user("root")["role"] == "admin"  # type: ignore[index]
    # with a second admin, the first may be demoted by them
    created = api.client.post(
        "/api/v1/users",
        headers=api.headers("admin"),
        json={"name": "ada", "role": "admin", "password": PASSWORD},
    )
    assert created.status_code == 201
    ada = bearer(login(api, "ada", PASSWORD).json()["token"])
    demoted = api.client.patch("/api/v1/users/root", headers=ada, json={"role": "operator"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "operator"


def test_only_inspectors_get_grids_and_only_known_ones(api: Api) -> None:
    ok = patch(api, "ivan", grids=["32070690100101"])
    assert ok.json()["grids"] == ["32070690100101"]
    unknown = patch(api, "ivan", grids=["99999999999999"])
    assert unknown.json()["error"] == "unknown_grid"
    not_inspector = patch(api, "olga", grids=["32070690100101"])
    assert not_inspector.json()["error"] == "bad_user"
    listed = api.client.get("/api/v1/users", headers=api.headers("admin")).json()
    assert {u["name"]: u["grids"] for u in listed}["ivan"] == ["32070690100101"]


def test_failed_logins_lock_the_account_with_retry_after_and_are_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.core.account_routes")
    for _ in range(4):
        assert login(api, "olga", "wrong password").status_code == 401
    fifth = login(api, "olga", "wrong password")
    assert fifth.status_code == 429 and fifth.json()["error"] == "login_locked"
    assert fifth.headers["Retry-After"] == str(15 * 60)
    # locked: the right password is refused too, from another address as well
    right = login(api, "olga", PASSWORD, address="10.0.0.9")
    assert right.status_code == 429
    assert 0 < int(right.headers["Retry-After"]) <= 15 * 60
    assert login(api, "lena", PASSWORD).status_code == 200
    api.clock.advance(minutes=15, seconds=1)
    assert login(api, "olga", PASSWORD).status_code == 200
    events = [r.getMessage() for r in caplog.records if "security event" in r.getMessage()]
    assert sum("login_failed user='olga' address=testclient" in e for e in events) == 5
    assert any("login_locked user='olga' address=10.0.0.9" in e for e in events)
    assert not any("wrong password" in e or PASSWORD in e for e in events)


def test_failed_logins_from_one_address_lock_that_address(api: Api) -> None:
    for n in range(19):
        response = login(api, f"guess{n}", "whatever1", address="10.0.0.7")
        assert response.status_code == 401
    twentieth = login(api, "guess19", "whatever1", address="10.0.0.7")
    assert twentieth.status_code == 429
    assert login(api, "olga", PASSWORD, address="10.0.0.7").status_code == 429
    assert login(api, "olga", PASSWORD, address="10.0.0.8").status_code == 200


def test_cores_on_one_database_share_failed_logins_and_a_lock_outlives_a_restart(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    # two cores behind one address: a guesser spreading tries over both gets 5, not 10
    second = another_core(api, db_url, tmp_path)
    try:
        for core in (api, second, api, second):
            assert login(core, "olga", "wrong password").status_code == 401
        fifth = login(second, "olga", "wrong password")
        assert fifth.status_code == 429 and fifth.json()["error"] == "login_locked"
        assert login(api, "olga", PASSWORD).status_code == 429  # the other core knows
    finally:
        second.close()
    # a core started again on the database still refuses until the lock ends
    restarted = another_core(api, db_url, tmp_path)
    try:
        assert login(restarted, "olga", PASSWORD).status_code == 429
        api.clock.advance(minutes=15, seconds=1)
        assert login(restarted, "olga", PASSWORD).status_code == 200
        # a success clears the account's failures on every core: four more are allowed
        for core in (api, restarted, api, restarted):
            assert login(core, "olga", "wrong password").status_code == 401
        assert login(api, "olga", PASSWORD).status_code == 200
    finally:
        restarted.close()


def test_a_guesser_elsewhere_cannot_keep_the_owner_out_of_the_address_they_use(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    """Smart lockout: the owner logged in at 10.0.0.5 before; a guesser at 10.0.0.66 locks
    the account for unfamiliar addresses only. Kept in the database: another core agrees."""
    assert login(api, "olga", PASSWORD, address="10.0.0.5").status_code == 200
    for _ in range(4):
        assert login(api, "olga", "guess", address="10.0.0.66").status_code == 401
    assert login(api, "olga", "guess", address="10.0.0.66").status_code == 429
    # an unfamiliar address is refused, the right password too
    assert login(api, "olga", PASSWORD, address="10.0.0.67").status_code == 429
    second = another_core(api, db_url, tmp_path)
    try:
        assert login(second, "olga", PASSWORD, address="10.0.0.5").status_code == 200
        # the owner's login does not reset the guesser's lock
        assert login(second, "olga", PASSWORD, address="10.0.0.66").status_code == 429
    finally:
        second.close()
    # a guesser at the owner's own address locks that side too
    for _ in range(4):
        assert login(api, "olga", "guess", address="10.0.0.5").status_code == 401
    assert login(api, "olga", "guess", address="10.0.0.5").status_code == 429
    assert login(api, "olga", PASSWORD, address="10.0.0.5").status_code == 429
    # familiar for familiar_days (30) after the last login there, not longer
    api.clock.advance(minutes=16)
    assert login(api, "olga", PASSWORD, address="10.0.0.5").status_code == 200
    api.clock.advance(days=31)
    for _ in range(5):
        login(api, "olga", "guess", address="10.0.0.66")
    assert login(api, "olga", PASSWORD, address="10.0.0.5").status_code == 429


def test_familiar_days_0_makes_one_lock_for_every_address(db_url: str, tmp_path: Path) -> None:
    api = make_api(db_url, tmp_path, login_limits={"familiar_days": 0})
    try:
        assert login(api, "olga", PASSWORD, address="10.0.0.5").status_code == 200
        for _ in range(5):
            login(api, "olga", "guess", address="10.0.0.66")
        assert login(api, "olga", PASSWORD, address="10.0.0.5").status_code == 429
    finally:
        api.close()
