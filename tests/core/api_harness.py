"""An API on a real database with one user per role, for the API tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from adapters.reports import ReportFileWriter
from adapters.storage.call_record_store import SqlCallRecords
from adapters.storage.dead_letter_store import SqlDeadLetters
from adapters.storage.login_failure_store import SqlLoginFailures
from adapters.storage.patrol_store import SqlPatrols
from adapters.storage.user_store import SqlUsers
from gateway.clock import FakeClock
from gateway.core import auth as auth_module
from gateway.core.api import ApiContext, create_app
from gateway.core.auth import Authenticator
from gateway.core.codes import load_event_names
from gateway.core.service import CaseService
from gateway.core.settings import CoreConfig
from tests.core.helpers import MONDAY_10, core_config, make_service

PASSWORD = "correct horse battery"
#: the inspector's reach: the grids of 海州区 新海街道 (the test cases' grids are there; the
#: GIS demo area's streets of 海州区 are 001-004, none of them)
INSPECTOR_GRIDS = ("320706901",)
USERS = {
    "inspector": ("ivan", None),
    "operator": ("olga", None),
    "shift_lead": ("lena", None),
    "dispatcher": ("dan", None),
    "department": ("sam", "sanitation"),
    "admin": ("root", None),
}


@dataclass
class Api:
    client: TestClient
    service: CaseService
    auth: Authenticator
    clock: FakeClock
    tokens: dict[str, str]
    users: SqlUsers

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def close(self) -> None:
        self.client.close()
        self.service.store.close()  # type: ignore[attr-defined]


def make_api(db_url: str, tmp_path: Path, **config_overrides: Any) -> Api:
    auth_module._SCRYPT_N = 2**4  # fast hashes in tests; the hash records its parameters
    config = core_config(**config_overrides)
    clock = FakeClock(MONDAY_10)
    api = _core(db_url, tmp_path / "evidence", config, clock)
    for role, (name, department) in USERS.items():
        api.auth.add_user(
            name, role, PASSWORD, department, INSPECTOR_GRIDS if role == "inspector" else ()
        )
        api.tokens[role] = api.auth.login(name, PASSWORD)[0]
    return api


def another_core(api: Api, db_url: str, tmp_path: Path, **config_overrides: Any) -> Api:
    """A second core on ``api``'s database and clock (its users and tokens, its own
    process state: caches, the app), as several cores behind one address run."""
    config = core_config(**config_overrides)
    second = _core(db_url, tmp_path / "evidence-2", config, api.clock)
    second.tokens.update(api.tokens)
    return second


def _core(db_url: str, evidence: Path, config: CoreConfig, clock: FakeClock) -> Api:
    service = make_service(db_url, evidence, clock, config)
    users = SqlUsers.for_store(service.store)
    auth = Authenticator(
        users,
        clock,
        token_ttl=timedelta(hours=8),
        departments={d.id for d in config.departments},
    )
    context = ApiContext(
        service,
        auth,
        config,
        clock,
        load_event_names(),
        call_records=SqlCallRecords.for_store(service.store),
        dead_letters=SqlDeadLetters.for_store(service.store),
        report_files=ReportFileWriter(),
        patrols=SqlPatrols.for_store(service.store),
        login_failures=SqlLoginFailures.for_store(service.store),
    )
    app = create_app(context)
    return Api(TestClient(app), service, auth, clock, {}, users)
