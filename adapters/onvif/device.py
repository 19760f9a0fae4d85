"""ONVIF device access with onvif-zeep-async: probe a camera, resolve its streams.

`OnvifDevice` wraps `onvif.ONVIFCamera`; every SOAP call is bounded by ``timeout_s``
(`asyncio.wait_for` on top of the library's own aiohttp timeouts) and raises
`OnvifError` with a kind (``unauthorized``, ``timeout``, ``unreachable``, ``fault``,
``unsupported``: an empty HTTP 200, as some devices answer what they lack) and a
reason that names the device by host:port only: credentials never appear in errors or
logs. A device that answers 401 with an HTTP Digest challenge gets its requests again
with Digest (`adapters.onvif.http_auth`). `probe_device`/`resolve_stream_uri` are synchronous helpers for the CLI and the
camera readers (each runs a short event loop of its own).

Media: a device that lists Media2 (``ver20/media``, Profile T: where its H.265 profiles
live) gives its profiles and stream URIs through Media2 (`adapters.onvif.media2`: hand-built
SOAP, since onvif-zeep-async 4.3 ships no Media2 WSDL); where it has no Media2, or its
Media2 fails (a fault, an empty answer, a timeout), they come from Media1 (``ver10/media``,
which every Profile S and T device has); snapshot URIs likewise. Which one served is logged and probed
(`ProbeResult.media2`, `ProbeResult.media2_error`); `choose_analysis_profile` takes H.264
and H.265 profiles alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import zeep.exceptions
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError

from adapters.onvif.http_auth import DigestCamera
from adapters.onvif.media2 import NAMESPACE as MEDIA2_NAMESPACE
from adapters.onvif.media2 import Media2Client
from adapters.onvif.model import MEDIA2, OnvifError, Profile

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True)
class ProbeResult:
    address: str  # host:port (no credentials)
    info: DeviceInfo
    profiles: list[Profile]
    services: dict[str, str]
    media2: bool = False  # profiles and stream URIs came from Media2 (Profile T)
    media2_offered: bool = False  # the device lists a Media2 service
    media2_error: str | None = None  # why Media1 served although Media2 is offered


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise OnvifError("bad_url", "the ONVIF URL has no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _classify(exc: BaseException, where: str) -> OnvifError:
    if isinstance(exc, OnvifError):
        return exc
    if (
        isinstance(exc, zeep.exceptions.TransportError)
        and exc.status_code == 200
        and not (exc.content or b"").strip()
    ):
        # what a device we tried answers to an operation it does not have: no fault
        return OnvifError("unsupported", f"{where}: not supported by the device (empty answer)")
    if isinstance(exc, zeep.exceptions.TransportError) and exc.status_code == 401:
        # Basic, or a Digest challenge the credentials could not answer
        return OnvifError("unauthorized", f"{where}: the device refused the credentials (HTTP 401)")
    if isinstance(exc, ONVIFAuthError):
        return OnvifError("unauthorized", f"{where}: the device refused the credentials")
    if isinstance(exc, zeep.exceptions.Fault):
        message = str(exc.message or "")
        subcodes = " ".join(str(getattr(s, "text", s)) for s in (exc.subcodes or []))
        if "NotAuthorized" in subcodes or "password" in message.lower():
            return OnvifError("unauthorized", f"{where}: the device refused the credentials")
        return OnvifError("fault", f"{where}: {message[:200]}")
    if isinstance(exc, ONVIFTimeoutError | asyncio.TimeoutError | TimeoutError):
        return OnvifError("timeout", f"{where}: no answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionError | OSError):
        return OnvifError("unreachable", f"{where}: cannot connect")
    if isinstance(exc, ONVIFError):
        text = str(exc)
        if "Unauthorized" in text or "NotAuthorized" in text:
            return OnvifError("unauthorized", f"{where}: the device refused the credentials")
        if "connect" in text.lower():
            return OnvifError("unreachable", f"{where}: cannot connect")
        return OnvifError("error", f"{where}: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientError | zeep.exceptions.Error):
        return OnvifError("error", f"{where}: {type(exc).__name__}")
    return OnvifError("error", f"{where}: {type(exc).__name__}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def profile_from_zeep(profile: Any) -> Profile:
    """Pure: the fields we use from a zeep ``tt:Profile`` (tolerates missing parts)."""
    encoder = getattr(profile, "VideoEncoderConfiguration", None)
    resolution = getattr(encoder, "Resolution", None) if encoder is not None else None
    rate = getattr(encoder, "RateControl", None) if encoder is not None else None
    return Profile(
        token=_text(getattr(profile, "token", "")),
        name=_text(getattr(profile, "Name", "")),
        encoding=_text(getattr(encoder, "Encoding", None)) or None,
        width=getattr(resolution, "Width", None),
        height=getattr(resolution, "Height", None),
        fps=getattr(rate, "FrameRateLimit", None),
        bitrate_kbps=getattr(rate, "BitrateLimit", None),
    )


def choose_analysis_profile(profiles: Sequence[Profile], width: int) -> Profile | None:
    """Pure: the H.264/H.265 profile whose width is closest to ``width`` (ties: smaller).

    That is usually the camera's sub-stream: analysis decodes as little as it needs.
    """
    candidates = [
        p for p in profiles if (p.encoding or "").upper() in ("H264", "H265", "HEVC") and p.width
    ] or [p for p in profiles if p.width]
    if not candidates:
        return profiles[0] if profiles else None
    return min(candidates, key=lambda p: (abs((p.width or 0) - width), p.width or 0))


def choose_main_profile(profiles: Sequence[Profile], analysis: Profile) -> Profile | None:
    """Pure: the largest (by pixels) video profile that is bigger than ``analysis``.

    That is the camera's main stream, for evidence clips and live view; ``None`` when the
    analysis profile is already the largest (a one-profile camera: one pull serves all).
    """

    def pixels(profile: Profile) -> int:
        return (profile.width or 0) * (profile.height or 0)

    bigger = [
        p
        for p in profiles
        if p.token != analysis.token
        and (p.encoding or "").upper() in ("H264", "H265", "HEVC")
        and pixels(p) > pixels(analysis)
    ]
    return max(bigger, key=pixels) if bigger else None


class OnvifDevice:
    """An async session with one ONVIF device (use ``async with``)."""

    def __init__(
        self, url: str, username: str | None, password: str | None, *, timeout_s: float = 10.0
    ) -> None:
        self.host, self.port = host_port(url)
        self.address = f"{self.host}:{self.port}"
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self.camera: DigestCamera | None = None
        self._media2: Media2Client | None = None
        #: why the last `media_profiles` fell back from an offered Media2 to Media1
        self.media2_error: str | None = None
        # zeep dumps whole envelopes (the WS-Security token too) at DEBUG: never let it
        logging.getLogger("zeep.transports").setLevel(logging.INFO)

    async def __aenter__(self) -> OnvifDevice:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, awaitable: Awaitable[T], what: str, *, extra_s: float = 0.0) -> T:
        """Await one ONVIF call with the timeout (plus ``extra_s``: a long poll's own
        wait); library errors become `OnvifError`."""
        refused = self.camera.refused if self.camera is not None else 0
        try:
            return await asyncio.wait_for(awaitable, self._timeout_s + extra_s)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if self.camera is not None and self.camera.refused > refused:
                # an HTTP 401 that stayed (zeep reads its HTML page as a fault)
                raise OnvifError(
                    "unauthorized",
                    f"{self.address} {what}: the device refused the credentials (HTTP 401)",
                ) from None
            raise _classify(exc, f"{self.address} {what}") from None

    async def connect(self) -> None:
        self.camera = DigestCamera(
            self.host,
            self.port,
            self._username or "",
            self._password or "",
            no_cache=True,
            adjust_time=True,
            timeout_s=self._timeout_s,
        )
        try:
            await self.call(self.camera.update_xaddrs(), "GetServices")
        except BaseException:
            await self.close()  # never leak the library's HTTP sessions
            raise

    async def close(self) -> None:
        if self._media2 is not None:
            media2, self._media2 = self._media2, None
            await media2.close()
        if self.camera is not None:
            camera, self.camera = self.camera, None
            try:
                await asyncio.wait_for(camera.close(), self._timeout_s)
            except Exception as exc:
                log.debug("onvif %s: close: %s", self.address, type(exc).__name__)

    def _camera(self) -> DigestCamera:
        if self.camera is None:
            raise OnvifError("closed", f"{self.address}: not connected")
        return self.camera

    @property
    def offers_media2(self) -> bool:
        """Whether the device lists a Media2 (Profile T) service in GetServices."""
        return bool(self._camera().xaddrs.get(MEDIA2_NAMESPACE))

    def _media2_client(self) -> Media2Client:
        if self._media2 is None:
            camera = self._camera()
            self._media2 = Media2Client(
                camera.xaddrs[MEDIA2_NAMESPACE],
                self._username,
                self._password,
                address=self.address,
                timeout_s=self._timeout_s,
                clock_offset=camera.dt_diff,  # the device's clock minus ours (adjust_time)
            )
        return self._media2

    async def media_profiles(self) -> list[Profile]:
        """The profiles to stream from: Media2's where the device offers it (H.265
        profiles a Media1 does not list among them), else, or when Media2 fails, Media1's."""
        self.media2_error = None
        if self.offers_media2:
            try:
                profiles = await self.call(self._media2_client().profiles(), "Media2 GetProfiles")
                if not profiles:
                    raise OnvifError("fault", f"{self.address} Media2 GetProfiles: no profiles")
            except OnvifError as exc:
                self.media2_error = exc.reason
                log.warning("onvif %s: Media2 failed (%s); using Media1", self.address, exc)
            else:
                log.info("onvif %s: %d profiles from Media2", self.address, len(profiles))
                return profiles
        profiles = await self.profiles()
        log.info("onvif %s: %d profiles from Media1", self.address, len(profiles))
        return profiles

    async def profile_stream_uri(self, profile: Profile) -> str:
        """The RTSP URI of a profile, asked of the service that listed it (a Media2
        profile whose Media2 GetStreamUri fails is asked of Media1)."""
        if profile.media == MEDIA2:
            try:
                return await self.call(
                    self._media2_client().stream_uri(profile.token), "Media2 GetStreamUri"
                )
            except OnvifError as exc:
                log.warning(
                    "onvif %s: Media2 GetStreamUri %s failed (%s); asking Media1",
                    self.address,
                    profile.token,
                    exc,
                )
        return await self.stream_uri(profile.token)

    async def profile_snapshot_uri(self, profile: Profile) -> str | None:
        """A profile's JPEG snapshot address, asked of the service that listed it (a
        Media2 profile whose Media2 GetSnapshotUri fails is asked of Media1); None when
        the device has none for it."""
        if profile.media == MEDIA2:
            try:
                return await self.call(
                    self._media2_client().snapshot_uri(profile.token), "Media2 GetSnapshotUri"
                )
            except OnvifError as exc:
                if exc.kind in ("unauthorized", "timeout", "unreachable"):
                    raise
                log.info(
                    "onvif %s: Media2 GetSnapshotUri %s failed (%s); asking Media1",
                    self.address,
                    profile.token,
                    exc,
                )
        return await self.snapshot_uri(profile.token)

    async def device_info(self) -> DeviceInfo:
        devicemgmt = await self.call(self._camera().create_devicemgmt_service(), "devicemgmt")
        info = await self.call(devicemgmt.GetDeviceInformation(), "GetDeviceInformation")
        return DeviceInfo(
            manufacturer=_text(info.Manufacturer),
            model=_text(info.Model),
            firmware=_text(info.FirmwareVersion),
            serial=_text(info.SerialNumber),
            hardware_id=_text(info.HardwareId),
        )

    async def profiles(self) -> list[Profile]:
        media = await self.call(self._camera().create_media_service(), "media")
        result = await self.call(media.GetProfiles(), "GetProfiles")
        return [profile_from_zeep(p) for p in result or []]

    async def stream_uri(self, token: str) -> str:
        media = await self.call(self._camera().create_media_service(), "media")
        request = media.create_type("GetStreamUri")
        request.ProfileToken = token
        request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        result = await self.call(media.GetStreamUri(request), "GetStreamUri")
        return _text(result.Uri)

    async def snapshot_uri(self, token: str) -> str | None:
        media = await self.call(self._camera().create_media_service(), "media")
        request = media.create_type("GetSnapshotUri")
        request.ProfileToken = token
        try:
            result = await self.call(media.GetSnapshotUri(request), "GetSnapshotUri")
        except OnvifError as exc:
            if exc.kind in ("fault", "unsupported"):
                return None
            raise
        return _text(result.Uri) or None

    async def presets(self, token: str) -> list[tuple[str, str]]:
        camera = self._camera()
        if not any("ptz" in ns for ns in camera.xaddrs):
            return []
        ptz = await self.call(camera.create_ptz_service(), "ptz")
        try:
            result = await self.call(ptz.GetPresets({"ProfileToken": token}), "GetPresets")
        except OnvifError as exc:
            if exc.kind in ("fault", "unsupported"):
                return []
            raise
        return [(_text(p.token), _text(p.Name)) for p in result or []]

    async def probe(self) -> ProbeResult:
        info = await self.device_info()
        detailed = []
        for profile in await self.media_profiles():
            detailed.append(
                Profile(
                    **{
                        **profile.__dict__,
                        "stream_uri": await self.profile_stream_uri(profile),
                        "snapshot_uri": await self.profile_snapshot_uri(profile),
                        "presets": await self.presets(profile.token),
                    }
                )
            )
        return ProbeResult(
            address=self.address,
            info=info,
            profiles=detailed,
            services=dict(self._camera().xaddrs),
            media2=any(p.media == MEDIA2 for p in detailed),
            media2_offered=self.offers_media2,
            media2_error=self.media2_error,
        )


def _run(coro: Awaitable[T], timeout_s: float) -> T:
    """Run ``coro`` to completion on a fresh event loop in a short-lived thread of its own.

    A thread of its own, because the caller's thread may already run a loop (an async
    application, or a test session with a browser driver) where ``asyncio.run`` refuses.
    """

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onvif.call") as executor:
        return executor.submit(asyncio.run, bounded()).result()


def probe_device(
    url: str, username: str | None, password: str | None, *, timeout_s: float = 10.0
) -> ProbeResult:
    """Everything `citygw cameras probe` shows (blocking; bounded by a few timeouts)."""

    async def go() -> ProbeResult:
        async with OnvifDevice(url, username, password, timeout_s=timeout_s) as device:
            return await device.probe()

    return _run(go(), timeout_s * 8)


def resolve_stream_uri(
    url: str,
    username: str | None,
    password: str | None,
    *,
    profile: str | None,
    analysis_width: int,
    timeout_s: float = 10.0,
) -> tuple[Profile, str]:
    """The profile to analyse (configured token, else closest to ``analysis_width``) and its URI."""

    async def go() -> tuple[Profile, str]:
        async with OnvifDevice(url, username, password, timeout_s=timeout_s) as device:
            profiles = await device.media_profiles()
            if profile is not None:
                chosen = next((p for p in profiles if p.token == profile), None)
                if chosen is None:
                    tokens = ", ".join(p.token for p in profiles) or "none"
                    raise OnvifError(
                        "no_profile", f"{device.address} has no profile {profile!r} ({tokens})"
                    )
            else:
                chosen = choose_analysis_profile(profiles, analysis_width)
                if chosen is None:
                    raise OnvifError("no_profile", f"{device.address} offers no media profile")
            return chosen, await device.profile_stream_uri(chosen)

    return _run(go(), timeout_s * 4)


def resolve_main_stream_uri(
    url: str,
    username: str | None,
    password: str | None,
    *,
    profile: str | None,
    main_profile: str | None,
    analysis_width: int,
    timeout_s: float = 10.0,
) -> tuple[Profile, str] | None:
    """The main-stream profile (configured token, else the largest profile bigger than
    the analysis one) and its URI; ``None`` when the camera has no bigger profile."""

    async def go() -> tuple[Profile, str] | None:
        async with OnvifDevice(url, username, password, timeout_s=timeout_s) as device:
            profiles = await device.media_profiles()
            if main_profile is not None:
                chosen = next((p for p in profiles if p.token == main_profile), None)
                if chosen is None:
                    tokens = ", ".join(p.token for p in profiles) or "none"
                    raise OnvifError(
                        "no_profile",
                        f"{device.address} has no profile {main_profile!r} ({tokens})",
                    )
            else:
                analysis = next((p for p in profiles if p.token == profile), None)
                if analysis is None:
                    analysis = choose_analysis_profile(profiles, analysis_width)
                if analysis is None:
                    raise OnvifError("no_profile", f"{device.address} offers no media profile")
                chosen = choose_main_profile(profiles, analysis)
                if chosen is None:
                    return None
            return chosen, await device.profile_stream_uri(chosen)

    return _run(go(), timeout_s * 4)
