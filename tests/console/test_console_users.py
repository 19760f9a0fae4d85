"""用户管理 in the console: the admin lists, creates and changes accounts in Chinese, and a
reset password or a deactivation ends the user's session at once; under the core's
Content-Security-Policy the console runs without a single violation."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import PASSWORD, RunningCore, screenshot, sign_in


def open_page(browser: Any, core: RunningCore, role: str) -> tuple[Any, list[str]]:
    """A page logged in as ``role``; the list collects page errors and CSP violations."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # the browser logs each refused request ("Failed to load resource: ... 409"): those
    # are the refusals the test asks for; anything else logged as an error is a problem
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if "Content Security Policy" in msg.text
            or (msg.type == "error" and not msg.text.startswith("Failed to load resource"))
            else None
        ),
    )
    sign_in(page, core.url, role)
    return page, problems


def toast_after(page: Any, action: Any) -> str:
    before = page.locator("#toasts .toast").count()
    action()
    toast = page.locator("#toasts .toast").nth(before)
    toast.wait_for()
    return str(toast.inner_text())


def row(page: Any, name: str) -> Any:
    return page.locator(f'#users-rows tr[data-name="{name}"]')


def can_log_in(core: RunningCore, name: str, password: str) -> bool:
    response = httpx.post(
        f"{core.url}/api/v1/auth/login", json={"name": name, "password": password}, timeout=10
    )
    return response.status_code == 200


def test_the_admin_manages_users_and_a_reset_ends_the_session(
    browser: Any, core: RunningCore
) -> None:
    operator, operator_problems = open_page(browser, core, "operator")
    admin, problems = open_page(browser, core, "admin")
    admin.click("#nav a[data-view=users]")
    admin.wait_for_selector("#users-rows tr")
    assert admin.locator("#users-rows tr").count() == 6
    assert row(admin, "insp").locator(".user-role").inner_text() == "监督员"
    assert (
        row(admin, "insp").locator(".user-grid-list").inner_text() == "320703901, 320706901, 320722"
    )
    assert row(admin, "dept").locator(".user-dept").inner_text() == "城管执法"

    # a new inspector with a grid
    form = admin.locator("#user-create")
    form.locator("[name=name]").fill("newinsp")
    form.locator("[name=role]").select_option("inspector")
    assert form.locator(".user-department").is_hidden()
    form.locator("[name=grids]").fill("32070390100101")
    form.locator("[name=password]").fill("new-inspector-1")
    said = toast_after(admin, lambda: form.locator("button[type=submit]").click())
    assert said == "已创建用户 newinsp"
    row(admin, "newinsp").wait_for()
    assert row(admin, "newinsp").locator(".user-grid-list").inner_text() == "32070390100101"
    assert can_log_in(core, "newinsp", "new-inspector-1")

    # an existing name is refused, not overwritten
    form.locator("[name=name]").fill("oper")
    form.locator("[name=role]").select_option("admin")
    form.locator("[name=password]").fill("taken-over-1")
    said = toast_after(admin, lambda: form.locator("button[type=submit]").click())
    assert said == "该用户名已存在，请在列表中修改该用户"
    assert row(admin, "oper").locator(".user-role").inner_text() == "受理员"
    assert not can_log_in(core, "oper", "taken-over-1")

    # the operator's password is reset: their open console is signed out at once
    oper = row(admin, "oper")
    oper.locator("summary").click()
    oper.locator(".user-reset [name=password]").fill("fresh-pass-22")
    said = toast_after(admin, lambda: oper.locator(".user-reset-submit").click())
    assert said == "已重置 oper 的密码，该用户需用新密码重新登录"
    operator.reload()
    operator.wait_for_selector("#login-form")
    assert not can_log_in(core, "oper", PASSWORD)
    assert can_log_in(core, "oper", "fresh-pass-22")

    # a department user becomes an operator: the department goes
    dept = row(admin, "dept")
    dept.locator("summary").click()
    dept.locator(".user-edit [name=role]").select_option("operator")
    assert dept.locator(".user-edit .user-department").is_hidden()
    said = toast_after(admin, lambda: dept.locator(".user-save").click())
    assert said == "已保存用户 dept"
    row(admin, "dept").locator(".user-role", has_text="受理员").wait_for()
    assert row(admin, "dept").locator(".user-dept").inner_text() == "—"

    # deactivate and reactivate
    said = toast_after(admin, lambda: row(admin, "disp").locator(".user-deactivate").click())
    assert said == "已停用用户 disp，其会话已失效"
    admin.wait_for_selector('#users-rows tr[data-name="disp"][data-active="false"]')
    assert row(admin, "disp").locator(".user-state").inner_text() == "已停用"
    assert not can_log_in(core, "disp", PASSWORD)
    said = toast_after(admin, lambda: row(admin, "disp").locator(".user-activate").click())
    assert said == "已启用用户 disp"
    admin.wait_for_selector('#users-rows tr[data-name="disp"][data-active="true"]')
    assert can_log_in(core, "disp", PASSWORD)

    # the admin cannot lock themself out
    said = toast_after(admin, lambda: row(admin, "admin").locator(".user-deactivate").click())
    assert said == "不能更改自己的角色，也不能停用自己的账号"
    screenshot(admin, "70-users")
    assert problems == [], problems
    assert operator_problems == [], operator_problems


def test_the_admin_places_a_district_dispatcher_who_then_sees_only_their_district(
    browser: Any, core: RunningCore
) -> None:
    """所属中心: the admin picks 海州区 for a new dispatcher from the organisation tree; the
    list says so, and the dispatcher, signing in, opens 分级考核 on 海州区, not the city."""
    admin, problems = open_page(browser, core, "admin")
    admin.click("#nav a[data-view=users]")
    admin.wait_for_selector("#users-rows tr")
    assert row(admin, "disp").locator(".user-centre").inner_text() == "连云港市"
    assert row(admin, "dept").locator(".user-centre").inner_text() == "连云港市"
    form = admin.locator("#user-create")
    form.locator("[name=role]").select_option("dispatcher")
    centres = form.locator("[name=org_node] option").all_inner_texts()
    assert [c.strip("\u3000") for c in centres] == ["连云港市", "海州区", "连云区"]
    form.locator("[name=role]").select_option("inspector")  # also streets and communities
    assert "海州街道" in [
        c.strip("\u3000") for c in form.locator("[name=org_node] option").all_inner_texts()
    ]
    form.locator("[name=role]").select_option("department")
    assert form.locator(".user-node").is_hidden()  # at its department's node
    form.locator("[name=role]").select_option("dispatcher")
    form.locator("[name=name]").fill("hz-new")
    form.locator("[name=org_node]").select_option("320706")
    form.locator("[name=password]").fill("district-pass-1")
    said = toast_after(admin, lambda: form.locator("button[type=submit]").click())
    assert said == "已创建用户 hz-new"
    row(admin, "hz-new").wait_for()
    assert row(admin, "hz-new").locator(".user-centre").inner_text() == "海州区"
    assert core.daemon.auth.user("hz-new")["org_node"] == "320706"  # type: ignore[index]
    # the edit form opens on the user's centre
    new = row(admin, "hz-new")
    new.locator("summary").click()
    assert new.locator(".user-edit [name=org_node]").input_value() == "320706"
    screenshot(admin, "71-users-centre")

    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(f"{core.url}/console/")
    page.fill("#login-form input[name=name]", "hz-new")
    page.fill("#login-form input[name=password]", "district-pass-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#who-name")
    page.click("#nav a[data-view=levels]")
    page.wait_for_selector("#levels-table[data-node='320706']")
    assert page.inner_text("#levels-trail") == "海州区"
    assert page.locator('#levels-trail a[data-node="city"]').count() == 0
    context.close()
    assert problems == [], problems


def test_the_login_page_says_a_lockout_in_minutes(browser: Any, core: RunningCore) -> None:
    context = browser.new_context(locale="zh-CN")  # under the core's policy
    page = context.new_page()
    page.goto(f"{core.url}/console/")
    statuses = []
    for _ in range(5):
        page.fill("#login-form input[name=name]", "lead")
        page.fill("#login-form input[name=password]", "wrong-password")
        with page.expect_response("**/api/v1/auth/login") as answer:
            page.click("#login-form button[type=submit]")
        statuses.append(answer.value.status)
    assert statuses == [401, 401, 401, 401, 429]
    locked = page.locator("#login-error", has_text="锁定")
    locked.wait_for()
    assert locked.inner_text() == "登录失败次数过多，已暂时锁定，请 15 分钟后再试"
    context.close()


def test_the_api_docs_render_under_their_policy(browser: Any, core: RunningCore) -> None:
    context = browser.new_context(locale="zh-CN")  # not bypassed
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{core.url}/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert page.locator(".opblock").count() > 20  # the operations are listed
    assert violations == []
    context.close()
