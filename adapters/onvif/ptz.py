"""ONVIF PTZ with onvif-zeep-async: presets, goto, relative and continuous moves, stop, status.

`OnvifPtz` is the video gateway's `PtzDriver` for one camera: each method opens a short
session (`OnvifDevice`, every SOAP call bounded by ``timeout_s``), finds the profile to
move (the configured token, else the device's first profile with a PTZ configuration,
else its first), runs one PTZ operation and closes. Failures become `PtzError` with the
device named by host:port only. Moves use the generic spaces (pan/tilt -1..1, zoom 0..1
for positions; -1..1 for steps and speeds), which every ONVIF PTZ device supports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from adapters.onvif.device import OnvifDevice, OnvifError, _run
from gateway.video.ptz import PtzError, PtzPosition, PtzStatus

T = TypeVar("T")


def _vector(value: Any) -> PtzPosition | None:
    """Pure: a zeep ``tt:PTZVector`` (PanTilt x y, Zoom x); None when it has neither."""
    if value is None:
        return None
    pan_tilt = getattr(value, "PanTilt", None)
    zoom = getattr(value, "Zoom", None)
    if pan_tilt is None and zoom is None:
        return None
    return PtzPosition(
        pan=float(getattr(pan_tilt, "x", 0) or 0),
        tilt=float(getattr(pan_tilt, "y", 0) or 0),
        zoom=float(getattr(zoom, "x", 0) or 0),
    )


def status_from_zeep(status: Any) -> PtzStatus:
    """Pure: a zeep ``tt:PTZStatus``; moving when pan/tilt or zoom is not ``IDLE``."""
    move = getattr(status, "MoveStatus", None)
    states = [str(getattr(move, axis, "") or "").upper() for axis in ("PanTilt", "Zoom")]
    moving = any(state not in ("", "IDLE") for state in states)
    return PtzStatus(position=_vector(getattr(status, "Position", None)), moving=moving)


class OnvifPtz:
    """One camera's PTZ service (blocking calls; each bounded by a few ``timeout_s``)."""

    def __init__(
        self,
        url: str,
        username: str | None,
        password: str | None,
        *,
        profile: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self._username = username
        self._password = password
        self._profile = profile
        self._timeout_s = timeout_s

    def _call(self, what: str, operation: Callable[[Any, str], Awaitable[T]]) -> T:
        """Open a session, find the PTZ service and profile, run ``operation(ptz, token)``."""

        async def go() -> T:
            async with OnvifDevice(
                self._url, self._username, self._password, timeout_s=self._timeout_s
            ) as device:
                camera = device.camera
                assert camera is not None
                if not any("ptz" in namespace for namespace in camera.xaddrs):
                    raise OnvifError("unsupported", f"{device.address}: no PTZ service")
                ptz = await device.call(camera.create_ptz_service(), "ptz")
                token = self._profile or await self._ptz_profile(device)
                return await device.call(operation(ptz, token), what)

        try:
            return _run(go(), self._timeout_s * 4)
        except OnvifError as exc:
            raise PtzError(exc.reason) from None
        except TimeoutError:
            raise PtzError(f"{what}: no answer in time") from None

    @staticmethod
    async def _ptz_profile(device: OnvifDevice) -> str:
        camera = device.camera
        assert camera is not None
        media = await device.call(camera.create_media_service(), "media")
        profiles = await device.call(media.GetProfiles(), "GetProfiles") or []
        if not profiles:
            raise OnvifError("no_profile", f"{device.address} offers no media profile")
        with_ptz = [p for p in profiles if getattr(p, "PTZConfiguration", None) is not None]
        return str((with_ptz or profiles)[0].token)

    def goto_preset(self, preset: str) -> None:
        self._call(
            "GotoPreset", lambda ptz, token: ptz.GotoPreset(
                {"ProfileToken": token, "PresetToken": preset}
            )
        )  # fmt: skip

    def relative_move(self, pan: float, tilt: float, zoom: float) -> None:
        translation = {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}}
        self._call(
            "RelativeMove",
            lambda ptz, token: ptz.RelativeMove(
                {"ProfileToken": token, "Translation": translation}
            ),
        )

    def continuous_move(self, pan: float, tilt: float, zoom: float, timeout_s: float) -> None:
        velocity = {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}}
        request = {"Velocity": velocity, "Timeout": timedelta(seconds=timeout_s)}
        self._call(
            "ContinuousMove",
            lambda ptz, token: ptz.ContinuousMove({"ProfileToken": token, **request}),
        )

    def stop(self) -> None:
        self._call(
            "Stop",
            lambda ptz, token: ptz.Stop({"ProfileToken": token, "PanTilt": True, "Zoom": True}),
        )

    def status(self) -> PtzStatus:
        result = self._call("GetStatus", lambda ptz, token: ptz.GetStatus({"ProfileToken": token}))
        return status_from_zeep(result)

    def preset_position(self, preset: str) -> PtzPosition | None:
        presets = self._call(
            "GetPresets", lambda ptz, token: ptz.GetPresets({"ProfileToken": token})
        )
        for found in presets or []:
            if str(getattr(found, "token", "")) == preset:
                return _vector(getattr(found, "PTZPosition", None))
        raise PtzError(f"no preset {preset!r} on the device")
