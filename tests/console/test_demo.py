"""The one-command demo, as a newcomer runs it: every part starts, a real camera detection
(test camera → YOLOX-Nano → no-parking zone over the parked van → MQTT → core: a 0505
illegal-parking candidate) reaches the console, and the operator confirms it there; the scripted hotline calls arrive with their recordings, one in each district's 待审核; the map shows the GIS demo area of
海州区 and 连云区 with the demo cameras where they stand and the camera's case where it
happened; the 海州区 district centre's dispatcher works at that level; the 连云区 district
desk sees only its own cases while the city sees both districts', and the city's
evaluation and the public daily ranking rank the two districts; Ctrl-C stops all."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
import shapely.geometry

from adapters.mqtt.broker import free_port
from gateway.demo import DEMO_PASSWORD
from gateway.demo_area import CALL_GRID, LY_CALL_GRID, MAIN_CORNER
from tests.conftest import REPO_ROOT
from tests.console.conftest import BYPASS_CSP, screenshot

CAMERA_CASE = re.compile(r"候选 square-n-\S+ \[新\] .*：事件 0505，.* -> 案件 (\d+)（new_case）")
#: the staged scene's true fall (a walker of vtest lying on the grass), on the second camera
FALL_CASE = re.compile(
    r"候选 lawn-s-\S+ \[新\] .*：事件 0497，.*，紧急（.* -> 案件 (\d+)（new_case）"
)
#: the scripted hotline calls' cases: 海州区's (in `CALL_GRID`) and 连云区's (`LY_CALL_GRID`)
CALL_CASE = re.compile(
    rf"候选 call-\S+ \[新\] .*，位置 {CALL_GRID}[，（].* -> 案件 (\d+)（new_case）"
)
LY_CALL_CASE = re.compile(
    rf"候选 call-\S+ \[新\] .*，位置 {LY_CALL_GRID}[，（].* -> 案件 (\d+)（new_case）"
)
#: the 连云区 sample candidate (its own sample camera, `gateway.demo_samples`)
LY_SAMPLE_CASE = re.compile(r"候选 demo-cam-2-\S+ \[新\] .* -> 案件 (\d+)（new_case）")


class DemoProcess:
    def __init__(self, state_dir: Path, http_port: int) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gateway.demo", "--state-dir", str(state_dir),
                "--http-port", str(http_port), "--samples", "1", "--exit-after", "280",
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name="demo-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    tail = "\n".join(self.lines[-40:])
                    raise AssertionError(f"the demo never printed /{regex.pattern}/:\n{tail}")
                self._cond.wait(min(left, 1.0))

    def interrupt(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise


@pytest.fixture
def demo(tmp_path: Path, browser: Any) -> Iterator[tuple[DemoProcess, str]]:
    port = free_port()
    process = DemoProcess(tmp_path / "demo", port)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.process.poll() is None:
            process.interrupt()


def api_get(base: str, path: str, token: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def api_login(base: str, name: str) -> str:
    body = json.dumps({"name": name, "password": DEMO_PASSWORD}).encode()
    request = urllib.request.Request(
        base + "/api/v1/auth/login", body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["token"])


def inside(bbox: list[float], lon: float, lat: float) -> bool:
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def test_the_demo_brings_a_real_detection_to_the_console_and_stops_on_ctrl_c(
    demo: tuple[DemoProcess, str], browser: Any
) -> None:
    process, base = demo
    process.wait_for(r"\[demo\] 控制台：http://127\.0\.0\.1:\d+/console/", timeout=150)
    process.wait_for(r"\[demo\] 登录账号：.*；密码 ", timeout=10)
    banner = "\n".join(process.lines)
    assert "NOT STARTED" not in banner, banner
    assert f"密码 {DEMO_PASSWORD}" in banner
    assert re.search(r"\[gis\] 已将海州区、连云区的演示区域.*单元网格 500 个", banner), banner
    assert re.search(r"\[demo\] 海州区、连云区昨天（\S+）的案件：已生成 6 件", banner)
    assert "hz-dispatcher（海州区区级中心 派遣员）" in banner
    assert "ly-operator（连云区区级中心 受理员）" in banner
    call_number = process.wait_for(CALL_CASE, timeout=60).group(1)
    camera_number = process.wait_for(CAMERA_CASE, timeout=150).group(1)
    fall_number = process.wait_for(FALL_CASE, timeout=60).group(1)

    context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=BYPASS_CSP)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{base}/console/")
    page.fill("#login-form input[name=name]", "operator")
    page.fill("#login-form input[name=password]", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    item = page.locator(f'.queue-item[data-number="{camera_number}"]')
    item.wait_for()
    item.click()
    page.wait_for_function(
        "n => document.querySelector('#detail-title')?.textContent.startsWith(n)",
        arg=camera_number,
    )
    # the video gateway's own snapshot (768x576, boxes drawn by it) and its clip
    page.wait_for_function("document.querySelector('img.snapshot')?.naturalWidth === 768")
    assert page.locator("video.clip").count() == 1
    assert "square-n" in page.inner_text("#queue-detail")
    screenshot(page, "20-demo-real-detection")
    page.keyboard.press("a")
    page.wait_for_selector(f'.queue-item[data-number="{camera_number}"]', state="detached")
    token = page.evaluate("sessionStorage.getItem('citygw.token')")
    confirmed = api_get(base, f"/api/v1/cases/by-number/{camera_number}", token)
    assert confirmed["state"] == "registered"
    assert confirmed["source_kind"] == "camera" and confirmed["camera_id"] == "square-n"
    assert confirmed["event_code"] == "0505"
    # in the demo area: the no-parking zone's grid by the zone's ground, drawn on it
    assert confirmed["grid_code"] == MAIN_CORNER
    assert confirmed["facts"]["grid_from"] == "zone_footprint"
    assert confirmed["facts"]["position_from"] == "zone_footprint"
    assert confirmed["lat"] is not None and confirmed["lon"] is not None
    fall = api_get(base, f"/api/v1/cases/by-number/{fall_number}", token)
    assert fall["camera_id"] == "lawn-s" and fall["event_code"] == "0497" and fall["urgent"]
    assert fall["grid_code"].startswith("320706") and fall["lat"] is not None
    call = api_get(base, f"/api/v1/cases/by-number/{call_number}", token)
    assert call["grid_code"] == CALL_GRID

    # the map: the demo area's grids, the cameras where they stand, the camera's case
    bbox = api_get(base, "/api/v1/gis/map", token)["bbox"]
    assert bbox is not None, "no unit grids imported"
    view = ",".join(str(v) for v in bbox)
    grids = api_get(base, f"/api/v1/gis/grids?bbox={view}", token)["features"]
    assert len(grids) == 500  # the map starts on both districts' pieces
    assert {g["properties"]["code"][:6] for g in grids} == {"320706", "320703"}
    cameras = {
        f["properties"]["id"]: f for f in api_get(base, "/api/v1/gis/cameras", token)["features"]
    }
    assert set(cameras) == {"square-n", "lawn-s"}
    for camera in cameras.values():
        assert inside(bbox, *camera["geometry"]["coordinates"]), camera
        assert camera["properties"]["footprint"], camera
        assert camera["properties"]["grid"]["code"][:6] == "320706", camera
    assert inside(bbox, confirmed["lon"], confirmed["lat"])
    [corner] = [g for g in grids if g["properties"]["code"] == MAIN_CORNER]
    spot = shapely.Point(confirmed["lon"], confirmed["lat"])
    assert shapely.geometry.shape(corner["geometry"]).contains(spot)  # its dot in its grid
    mapped = api_get(base, f"/api/v1/gis/cases?bbox={view}&open=false", token)["features"]
    assert camera_number in {f["properties"]["number"] for f in mapped}

    # the scripted call: its two recordings are playable in the page
    page.click(f'.queue-item[data-number="{call_number}"]')
    page.wait_for_function(
        "n => document.querySelector('#detail-title')?.textContent.startsWith(n)",
        arg=call_number,
    )
    assert page.locator("audio.recording").count() == 2
    assert "13800138000" in page.inner_text("#queue-detail")
    screenshot(page, "21-demo-hotline-call")

    # the camera wall: the video gateway's retained status of its camera, and its live view
    # (WebRTC, signalled cross-origin with the grant the core signs with this run's secret)
    page.click('#nav a[data-view="cameras"]')
    tile = page.locator('.tile[data-camera="square-n"]')
    tile.wait_for()
    page.wait_for_selector('.tile[data-camera="square-n"][data-health="online"]')
    assert tile.locator("header .health").inner_text().startswith("在线")
    tile.locator("footer button").click()
    page.wait_for_function(
        """() => {
            const tile = document.querySelector('.tile[data-camera="square-n"]');
            return tile.querySelector('video.live')?.videoWidth > 0
                || tile.querySelector('footer .error') !== null;
        }""",
        timeout=60_000,
    )
    footer = tile.locator("footer").inner_text()
    assert tile.locator("footer .error").count() == 0, footer
    assert "已授权" in footer
    screenshot(page, "22-demo-camera-wall-live")

    page.click("#nav a[data-view=map]")
    page.wait_for_selector("#map[data-cameras='2']")
    page.wait_for_selector("#map[data-cases]")
    assert page.locator("path.grid").count() == 500
    assert page.locator(".camera-icon").count() == 2
    assert page.locator("path.camera-footprint").count() == 2
    assert page.locator("path.zone-footprint").count() == 1  # the no-parking zone's ground
    assert page.locator("path.case-dot").count() >= 1
    screenshot(page, "23-demo-map")
    context.close()

    # the 海州区 district centre: its dispatcher sits there, sees the district's camera
    # case and dispatches to the district's departments and street offices
    hz = api_login(base, "hz-dispatcher")
    me = api_get(base, "/api/v1/organisation", hz)["me"]
    assert me["centre"]["id"] == "320706" and me["centre"]["name"] == "海州区"
    targets = {t["id"] for t in me["dispatch_targets"]}
    assert "hz-city-management" in targets and "street-320706001" in targets
    assert "city-management" not in targets
    seen = api_get(base, f"/api/v1/cases/by-number/{camera_number}", hz)
    assert seen["grid_code"] == MAIN_CORNER
    hz_cases = api_get(base, "/api/v1/cases?limit=500", hz)["items"]
    assert hz_cases and all(c["grid_code"].startswith("320706") for c in hz_cases)

    # the second district, 连云区: yesterday's cases and today's sample; the city desk sees
    # both districts' cases, the 连云区 desk only its own
    ly_sample = process.wait_for(LY_SAMPLE_CASE, timeout=60).group(1)
    city_cases = api_get(base, "/api/v1/cases?limit=500", token)["items"]
    assert {c["grid_code"][:6] for c in city_cases if c["grid_code"]} == {"320706", "320703"}
    ly = api_login(base, "ly-operator")
    ly_cases = api_get(base, "/api/v1/cases?limit=500", ly)["items"]
    assert len(ly_cases) >= 4  # three of yesterday, today's sample
    assert all(c["grid_code"].startswith("320703") for c in ly_cases), ly_cases
    assert ly_sample in {c["number"] for c in ly_cases}
    # the 连云区 hotline call: a case of 连云区, in ly-operator's 待审核, not in 海州区's
    ly_call = process.wait_for(LY_CALL_CASE, timeout=60).group(1)
    assert ly_call != call_number
    ly_call_case = api_get(base, f"/api/v1/cases/by-number/{ly_call}", ly)
    assert ly_call_case["grid_code"] == LY_CALL_GRID and ly_call_case["district"] == "连云区"
    assert ly_call_case["source_kind"] == "call", ly_call_case
    ly_queue = api_get(base, "/api/v1/cases?state=candidate&limit=200", ly)["items"]
    assert ly_call in {c["number"] for c in ly_queue}
    assert call_number not in {c["number"] for c in ly_queue}
    hz_operator = api_login(base, "hz-operator")
    hz_queue = api_get(base, "/api/v1/cases?state=candidate&limit=200", hz_operator)["items"]
    assert call_number in {c["number"] for c in hz_queue}
    assert ly_call not in {c["number"] for c in hz_queue}
    ly_context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=BYPASS_CSP)
    ly_context.set_default_timeout(20_000)
    ly_page = ly_context.new_page()
    ly_page.goto(f"{base}/console/")
    ly_page.fill("#login-form input[name=name]", "ly-operator")
    ly_page.fill("#login-form input[name=password]", DEMO_PASSWORD)
    ly_page.click("#login-form button[type=submit]")
    ly_page.locator(f'.queue-item[data-number="{ly_call}"]').wait_for()  # its 待审核
    assert ly_page.locator(f'.queue-item[data-number="{call_number}"]').count() == 0
    ly_context.close()
    assert {c["district"] for c in ly_cases} == {"连云区"}
    # the map starts on the user's centre: the city's on both pieces, a district's on its own
    hz_start = api_get(base, "/api/v1/gis/map", hz)["bbox"]
    ly_start = api_get(base, "/api/v1/gis/map", ly)["bbox"]
    assert bbox[0] < 119.2 and bbox[2] > 119.38, bbox
    assert hz_start[0] > 119.16 and hz_start[2] < 119.2, hz_start
    assert ly_start[0] > 119.38 and ly_start[2] < 119.4, ly_start
    with pytest.raises(urllib.error.HTTPError) as out_of_reach:
        api_get(base, f"/api/v1/cases/by-number/{camera_number}", ly)
    assert out_of_reach.value.code == 404
    # the city's evaluation ranks the two districts, each with figures
    lead = api_login(base, "lead")
    evaluation = api_get(base, "/api/v1/organisation/evaluation?node=city", lead)
    districts = {u["id"]: u for u in evaluation["units"] if u["kind"] == "district"}
    assert set(districts) == {"320706", "320703"}
    for unit in districts.values():
        assert unit["registered"] >= 3 and unit["closed"] >= 2, unit
        assert unit["score"] is not None, unit
    # the public daily ranking (up to the start of today: yesterday's cases) lists both
    with urllib.request.urlopen(f"{base}/api/v1/public/ranking", timeout=10) as response:
        ranking = json.loads(response.read())
    ranked = {row["name"]: row["rank"] for row in ranking["districts"]}
    assert set(ranked) == {"海州区", "连云区"} and None not in ranked.values(), ranking
    with urllib.request.urlopen(f"{base}/public/ranking", timeout=10) as response:
        page_text = response.read().decode()
    assert "海州区" in page_text and "连云区" in page_text

    assert process.interrupt() == 0
    assert process.lines[-1] == "[demo] 已停止"
