"""ONVIF PullPoint events: subscribe, pull, renew before expiry, re-subscribe after errors.

`PullPointSubscriber` keeps one subscription on one device alive for as long as it runs
and always tries to ``Unsubscribe`` when it ends or gives a subscription up (a device
holds only a few; leaking them locks the camera's events out). `EventThread` runs the
subscribers of all cameras on one asyncio loop in its own thread; cameras are added and
removed as the configuration changes. Notification XML is read by pure functions.

A subscriber tells its health (``on_health(camera_id, fault)``): ``""`` once a
subscription is established, else why not, led by what failed (`SUBSCRIBE_FAILED`,
`PULLPOINT_GONE`, `RENEW_FAILED`, `SUBSCRIPTION_LOST`) and then the call's reason (the
device by host:port only); the camera's health shows it as its ``events`` part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from adapters.onvif.device import OnvifDevice, OnvifError
from gateway.video.camera_events import CameraEvent

log = logging.getLogger(__name__)

#: subscriptions set up at once on one loop (the others wait their turn)
SETUP_AT_ONCE = 8
#: told a camera's subscription health: "" (subscribed) or why it is not
HealthCallback = Callable[[str, str], None]

_TT = "{http://www.onvif.org/ver10/schema}"

#: what failed, the first words of an ``events`` fault: no subscription could be made (the
#: web server or its event service down, the subscription table full, credentials refused)
SUBSCRIBE_FAILED = "cannot subscribe"
#: the device answers, but no longer knows our pull point (its event service restarted)
PULLPOINT_GONE = "pull point gone"
#: the device refused or did not answer a Renew: the subscription would run out
RENEW_FAILED = "renew failed"
#: a pull got no answer (the web server down, the network)
SUBSCRIPTION_LOST = "subscription lost"


def _simple_items(element: Any) -> dict[str, str]:
    if element is None:
        return {}
    return {
        str(item.get("Name")): str(item.get("Value", ""))
        for item in element.iter(f"{_TT}SimpleItem")
        if item.get("Name") is not None
    }


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _zeep_items(holder: Any) -> dict[str, str]:
    items = getattr(holder, "SimpleItem", None) or []
    return {
        str(item.Name): str(item.Value if item.Value is not None else "")
        for item in items
        if getattr(item, "Name", None) is not None
    }


def event_from_notification(camera_id: str, notification: Any) -> CameraEvent | None:
    """Pure: a zeep ``wsnt:NotificationMessage``; its ``tt:Message`` arrives either typed
    (zeep knows the ONVIF schema) or as a raw XML element (vendor extensions)."""
    topic_holder = getattr(notification, "Topic", None)
    topic = getattr(topic_holder, "_value_1", None) or ""
    holder = getattr(notification, "Message", None)
    message = getattr(holder, "_value_1", None)
    if not topic or message is None:
        return None
    if hasattr(message, "find") and hasattr(message, "iter"):  # an lxml element
        return CameraEvent(
            camera_id=camera_id,
            topic=str(topic).strip(),
            source=_simple_items(message.find(f"{_TT}Source")),
            data=_simple_items(message.find(f"{_TT}Data")),
            utc=_parse_time(message.get("UtcTime")),
            operation=str(message.get("PropertyOperation") or ""),
        )
    utc = getattr(message, "UtcTime", None)
    return CameraEvent(
        camera_id=camera_id,
        topic=str(topic).strip(),
        source=_zeep_items(getattr(message, "Source", None)),
        data=_zeep_items(getattr(message, "Data", None)),
        utc=utc if isinstance(utc, datetime) else _parse_time(str(utc) if utc else None),
        operation=str(getattr(message, "PropertyOperation", "") or ""),
    )


class PullPointSubscriber:
    """One device's PullPoint subscription, kept alive until ``stop`` is set."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        username: str | None,
        password: str | None,
        on_event: Callable[[CameraEvent], None],
        *,
        timeout_s: float = 10.0,
        termination_s: float = 60.0,
        pull_timeout_s: float = 5.0,
        retry_s: float = 10.0,
        retry_max_s: float = 300.0,
        on_health: HealthCallback | None = None,
        setup_slots: asyncio.Semaphore | None = None,
    ) -> None:
        """``setup_slots``: shared by the subscribers of one loop, bounds how many set up
        a session (connect, subscribe) at once."""
        self.camera_id = camera_id
        self._setup_slots = setup_slots
        self._on_health = on_health
        self._url = url
        self._username = username
        self._password = password
        self._on_event = on_event
        self._timeout_s = timeout_s
        self._termination_s = termination_s
        self._pull_timeout_s = pull_timeout_s
        self._retry_s = retry_s
        self._retry_max_s = retry_max_s
        self.subscriptions = 0  # created
        self.unsubscribed = 0
        self.renewals = 0
        self.events = 0
        self.active = False
        self.last_error: str = ""
        self.fault: str | None = None  # None: not known yet; "": subscribed
        self._step = SUBSCRIBE_FAILED  # what a failure now means (set as the session goes)

    def _health(self, fault: str) -> None:
        if fault == self.fault:
            return
        self.fault = fault
        if self._on_health is None:
            return
        try:
            self._on_health(self.camera_id, fault)
        except Exception:
            log.exception("camera %s: event health callback failed", self.camera_id)

    async def run(self, stop: asyncio.Event) -> None:
        delay = self._retry_s
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = self._retry_s
            except OnvifError as exc:
                self.last_error = str(exc)
                if not stop.is_set():
                    self._health(f"{self._failed(exc)}: {exc.reason}"[:300])
                log.warning(
                    "camera %s: ONVIF events: %s; re-subscribing in %.0fs",
                    self.camera_id,
                    exc,
                    delay,
                )
            except Exception as exc:  # a malformed answer: the subscription is as good as gone
                self.last_error = f"{type(exc).__name__}"
                if not stop.is_set():
                    self._health(f"{self._step}: {type(exc).__name__}")
                log.exception("camera %s: ONVIF events failed", self.camera_id)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(self._retry_max_s, delay * 2)

    def _failed(self, exc: OnvifError) -> str:
        """What a failure of the current step means: a pull the device answers with a
        fault (or an empty answer) is a pull point it no longer knows."""
        if self._step == SUBSCRIPTION_LOST and exc.kind in ("fault", "unsupported"):
            return PULLPOINT_GONE
        return self._step

    async def _session(self, stop: asyncio.Event) -> None:
        self._step = SUBSCRIBE_FAILED
        async with contextlib.AsyncExitStack() as stack:
            # a few set-ups at a time: a hundred at once (each loading WSDLs) timed out
            async with self._setup_slots or contextlib.nullcontext():
                device = await stack.enter_async_context(
                    OnvifDevice(
                        self._url, self._username, self._password, timeout_s=self._timeout_s
                    )
                )
                camera = device.camera
                assert camera is not None
                events = await device.call(camera.create_events_service(), "events")
                created = await device.call(
                    events.CreatePullPointSubscription(
                        {"InitialTerminationTime": f"PT{int(self._termination_s)}S"}
                    ),
                    "CreatePullPointSubscription",
                )
            self.subscriptions += 1
            self.active = True
            address = created.SubscriptionReference.Address._value_1
            camera.xaddrs["http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"] = address
            try:
                manager = await device.call(
                    camera.create_subscription_service("PullPointSubscription"), "subscription"
                )
                pullpoint = await device.call(camera.create_pullpoint_service(), "pullpoint")
                expires = self._expiry(created)
                log.info("camera %s: ONVIF events subscribed", self.camera_id)
                self._health("")
                while not stop.is_set():
                    now = asyncio.get_running_loop().time()
                    if expires - now < max(self._pull_timeout_s * 2, self._termination_s * 0.2):
                        self._step = RENEW_FAILED
                        renewed = await device.call(
                            manager.Renew(f"PT{int(self._termination_s)}S"), "Renew"
                        )
                        self.renewals += 1
                        expires = self._expiry(renewed)
                    self._step = SUBSCRIPTION_LOST
                    pulled = await device.call(
                        pullpoint.PullMessages(
                            {"Timeout": f"PT{int(self._pull_timeout_s)}S", "MessageLimit": 100}
                        ),
                        "PullMessages",
                        # the device holds the pull up to its Timeout: the answer may come
                        # that late, and a pull given up loses what the device took out
                        extra_s=self._pull_timeout_s,
                    )
                    for notification in getattr(pulled, "NotificationMessage", None) or []:
                        event = event_from_notification(self.camera_id, notification)
                        if event is not None:
                            self.events += 1
                            self._deliver(event)
            finally:
                self.active = False
                try:
                    manager_for_cleanup = await device.call(
                        camera.create_subscription_service("PullPointSubscription"),
                        "subscription",
                    )
                    await device.call(manager_for_cleanup.Unsubscribe(), "Unsubscribe")
                    self.unsubscribed += 1
                    log.info("camera %s: ONVIF events unsubscribed", self.camera_id)
                except OnvifError as exc:
                    log.info("camera %s: could not unsubscribe: %s", self.camera_id, exc)

    def _expiry(self, result: Any) -> float:
        """Loop time at which the subscription ends (from the device's own clock pair)."""
        now = asyncio.get_running_loop().time()
        current = getattr(result, "CurrentTime", None)
        termination = getattr(result, "TerminationTime", None)
        if isinstance(current, datetime) and isinstance(termination, datetime):
            remaining = (termination - current).total_seconds()
        else:
            remaining = self._termination_s
        return now + max(1.0, remaining)

    def _deliver(self, event: CameraEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("camera %s: event handler failed on %s", self.camera_id, event.topic)


class EventThreadState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class EventSource:
    camera_id: str
    url: str
    username: str | None
    password: str | None


class EventThread:
    """All cameras' PullPoint subscribers on one asyncio loop in thread ``onvif.events``."""

    def __init__(
        self,
        on_event: Callable[[CameraEvent], None],
        *,
        timeout_s: float = 10.0,
        termination_s: float = 60.0,
        pull_timeout_s: float = 5.0,
        retry_s: float = 10.0,
        retry_max_s: float = 300.0,
        on_health: HealthCallback | None = None,
    ) -> None:
        """``retry_s``: the first re-subscription's delay after a failure, doubling up to
        ``retry_max_s``; ``on_health``: told each camera's subscription health."""
        self._on_event = on_event
        self._options = {
            "timeout_s": timeout_s,
            "termination_s": termination_s,
            "pull_timeout_s": pull_timeout_s,
            "retry_s": retry_s,
            "retry_max_s": retry_max_s,
        }
        self._on_health = on_health
        self._setup_slots: asyncio.Semaphore | None = None  # made on the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: dict[str, tuple[EventSource, asyncio.Task[None], asyncio.Event]] = {}
        self.subscribers: dict[str, PullPointSubscriber] = {}
        self._ready = threading.Event()
        self.state = EventThreadState.NEW

    def _set_state(self, state: EventThreadState) -> None:
        if state != self.state:
            log.info("ONVIF event thread %s -> %s", self.state, state)
            self.state = state

    def start(self) -> None:
        if self.state != EventThreadState.NEW:
            return
        self._thread = threading.Thread(target=self._main, name="onvif.events", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the ONVIF event thread did not start")
        self._set_state(EventThreadState.RUNNING)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _submit(self, coro: Any) -> Future[Any]:
        if self._loop is None:
            raise RuntimeError("the ONVIF event thread is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def apply(self, sources: list[EventSource], timeout: float = 60.0) -> bool:
        """Subscribe the cameras in ``sources``; unsubscribe the others.

        Waits up to ``timeout`` for the change (unsubscribing may wait on slow devices);
        False when it is still going on in the background.
        """
        future = self._submit(self._apply(sources))
        try:
            future.result(timeout)
        except FuturesTimeout:
            log.warning("ONVIF events: reconfiguration still running after %.0fs", timeout)
            return False
        return True

    async def _apply(self, sources: list[EventSource]) -> None:
        if self._setup_slots is None:
            self._setup_slots = asyncio.Semaphore(SETUP_AT_ONCE)
        wanted = {s.camera_id: s for s in sources}
        for camera_id in list(self._tasks):
            source, _task, _stop = self._tasks[camera_id]
            if wanted.get(camera_id) != source:
                await self._cancel(camera_id)
        for camera_id, source in wanted.items():
            if camera_id in self._tasks:
                continue
            subscriber = PullPointSubscriber(
                source.camera_id,
                source.url,
                source.username,
                source.password,
                self._on_event,
                on_health=self._on_health,
                setup_slots=self._setup_slots,
                **self._options,
            )
            stop = asyncio.Event()
            task = asyncio.get_running_loop().create_task(
                subscriber.run(stop), name=f"onvif[{camera_id}].pullpoint"
            )
            self._tasks[camera_id] = (source, task, stop)
            self.subscribers[camera_id] = subscriber

    async def _cancel(self, camera_id: str) -> None:
        """End a subscriber now: an in-flight pull is cancelled, Unsubscribe still runs."""
        _source, task, stop = self._tasks.pop(camera_id)
        stop.set()
        task.cancel()
        grace = float(self._options["timeout_s"]) * 2
        done, _pending = await asyncio.wait({task}, timeout=grace)
        if not done:
            log.warning("camera %s: ONVIF event task did not end in %.0fs", camera_id, grace)
        self.subscribers.pop(camera_id, None)

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread is None or self._loop is None:
            self._set_state(EventThreadState.STOPPED)
            return

        async def cancel_all() -> None:
            await asyncio.gather(*(self._cancel(c) for c in list(self._tasks)))

        try:
            self._submit(cancel_all()).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._thread = None
            self._set_state(EventThreadState.STOPPED)


def renewal_margin(termination_s: float, pull_timeout_s: float) -> timedelta:
    """How long before expiry a subscription is renewed (for docs and tests)."""
    return timedelta(seconds=max(pull_timeout_s * 2, termination_s * 0.2))
