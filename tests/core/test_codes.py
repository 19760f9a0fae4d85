"""The CJ/T 214 event table the core names cases by (config/core/cjt214-events.csv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.codes import DEFAULT_EVENT_TABLE, load_event_names
from tests.core.api_harness import make_api


def test_the_table_names_every_code_the_demo_and_the_models_readme_use() -> None:
    names = load_event_names()
    assert names["0497"] == "倒地人员"  # the fall rule's local extension of 突发事件
    assert names["0409"] == "群发性事件"
    assert names["0505"] == "机动车乱停放"


def test_no_name_in_the_repository_reads_the_misspelt_群发行事件() -> None:
    root = DEFAULT_EVENT_TABLE.parents[2]
    for path in [DEFAULT_EVENT_TABLE, root / "models" / "README.md", root / "README.md"]:
        assert "群发行" not in path.read_text(encoding="utf-8"), path


def test_a_bad_row_is_refused_with_its_line(tmp_path: Path) -> None:
    table = tmp_path / "events.csv"
    table.write_text("code,name\n0505,机动车乱停放\n97,倒地人员\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":3:"):
        load_event_names(table)


def test_open311_names_the_fall_service_in_chinese(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    try:
        services = api.client.get("/open311/v2/services.json").json()
        fall = next(s for s in services if s["service_code"] == "0497")
        assert fall["service_name"] == "倒地人员"
    finally:
        api.close()
