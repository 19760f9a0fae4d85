"""CLI of the video gateway: ``citygw video``, ``citygw cameras discover|probe|test-camera``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.cli_texts import MESSAGES, NONE, onvif_error

if TYPE_CHECKING:
    from gateway.video.camera_credentials import CredentialBook
    from gateway.video.camera_snippet import CredentialSource


def register(cli: click.Group) -> None:
    from gateway.cli import CliContext, pass_cli

    @cli.command("video")
    @pass_cli
    def video(ctx: CliContext) -> None:
        """Run the video gateway: ingest, health, evidence, analysis, live view (SIGHUP reloads)."""
        from gateway import bootstrap
        from gateway.video.daemon import run_video

        config = ctx.config
        bootstrap.setup_logging(config)
        with bootstrap.stop_on_signals() as stop:
            run_video(config, stop, ctx.config_path)

    @cli.group("cameras")
    def cameras() -> None:
        """Find and inspect ONVIF cameras; run a test camera."""

    @cameras.command("discover")
    @click.option("--timeout", type=float, default=None, help="seconds to wait for replies")
    @click.option("--address", default=None, help="local IPv4 address to probe from")
    @click.option(
        "--target",
        default=None,
        metavar="HOST:PORT",
        help="send a directed (unicast) probe to one device instead of multicast",
    )
    @click.option(
        "--add", "add_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="write the devices found into this video.cameras snippet (new ones appended)",
    )  # fmt: skip
    @click.option("--username", default=None, help="camera user for the added entries")
    @click.option(
        "--password-env", default=None, metavar="VARIABLE",
        help="the added entries read their password from this environment variable",
    )  # fmt: skip
    @click.option(
        "--credentials", "credentials_file", default=None, metavar="FILE",
        type=click.Path(path_type=Path),
        help="per-device user and password (env variable or as such): YAML list or CSV "
        "of match,username,password_env,password; first match wins over --username",
    )  # fmt: skip
    @click.option(
        "--prompt/--no-prompt", "ask", default=None,
        help="ask for the user and password of each new device no credential covers "
        "(default: when stdin is a terminal)",
    )  # fmt: skip
    @pass_cli
    def discover(
        ctx: CliContext,
        timeout: float | None,
        address: str | None,
        target: str | None,
        add_to: Path | None,
        username: str | None,
        password_env: str | None,
        credentials_file: Path | None,
        ask: bool | None,
    ) -> None:
        """WS-Discovery probe for ONVIF devices; lists what answered (--add: and writes
        them as camera entries of a configuration snippet, passwords given as such into
        an environment file beside it, SNIPPET.env, readable by its owner only)."""
        from adapters.onvif.discovery import DiscoveryError, discover_devices

        if add_to is None and (credentials_file is not None or ask):
            raise click.UsageError(MESSAGES["credentials_without_add"])
        book = _read_credentials(credentials_file) if credentials_file is not None else None
        if ask is None:
            ask = sys.stdin.isatty()
        settings = ctx.config.video.discovery
        host, port = None, None
        if target:
            host, _, port_text = target.rpartition(":")
            if not host or not port_text.isdigit():
                raise click.BadParameter(MESSAGES["discover_target"], param_hint="--target")
            port = int(port_text)
        try:
            devices = discover_devices(
                timeout_s=timeout or settings.timeout_s,
                address=address or settings.address,
                target_host=host,
                target_port=port,
            )
        except DiscoveryError as exc:
            raise click.ClickException(MESSAGES["discover_failed"].format(reason=exc)) from exc
        if not devices:
            click.echo(MESSAGES["discover_none"])
            return
        for device in devices:
            click.echo(
                MESSAGES["discover_device"].format(
                    endpoint=device.endpoint, responder=device.responder
                )
            )
            for xaddr in device.xaddrs:
                click.echo(MESSAGES["discover_xaddr"].format(xaddr=xaddr))
            for scope in device.scopes:
                click.echo(MESSAGES["discover_scope"].format(scope=scope))
        if add_to is not None:
            credential_for = _credential_source(book, username, password_env, ask)
            _write_snippet(add_to, devices, credential_for)

    @cameras.command("probe")
    @click.argument("url", required=False)
    @click.option(
        "--camera",
        "camera_id",
        default=None,
        help="probe this configured camera (its ONVIF URL and credentials from the config)",
    )
    @click.option(
        "--user", envvar="CITYGW_CAMERA_USER", default=None, help="env CITYGW_CAMERA_USER"
    )
    @click.option(
        "--password-env",
        default="CITYGW_CAMERA_PASSWORD",
        show_default=True,
        help="environment variable holding the password (never pass it on the command line)",
    )
    @click.option("--timeout", type=float, default=None, help="seconds per ONVIF call")
    @pass_cli
    def probe(
        ctx: CliContext,
        url: str | None,
        camera_id: str | None,
        user: str | None,
        password_env: str,
        timeout: float | None,
    ) -> None:
        """Show an ONVIF device: information, profiles, stream/snapshot URIs, PTZ presets.

        URL is the device service, e.g. http://10.0.0.5/onvif/device_service; or name a
        configured camera with --camera.
        """
        from adapters.onvif.device import OnvifError, probe_device

        password = os.environ.get(password_env)
        if camera_id is not None:
            camera = next((c for c in ctx.config.video.cameras if c.id == camera_id), None)
            if camera is None or camera.onvif is None:
                raise click.BadParameter(
                    MESSAGES["probe_no_camera"].format(camera=camera_id),
                    param_hint="--camera",
                )
            url = camera.onvif.url
            user = camera.username
            password = camera.password.get_secret_value() if camera.password else None
        if url is None:
            raise click.UsageError(MESSAGES["probe_what"])
        try:
            result = probe_device(
                url, user, password, timeout_s=timeout or ctx.config.video.onvif_timeout_s
            )
        except OnvifError as exc:
            reason = onvif_error(exc.kind, exc.reason)
            click.echo(MESSAGES["probe_failed"].format(reason=reason), err=True)
            sys.exit(1)
        except TimeoutError:
            click.echo(MESSAGES["probe_timeout"], err=True)
            sys.exit(1)
        info = result.info
        click.echo(MESSAGES["probe_device"].format(address=result.address))
        click.echo(
            MESSAGES["probe_info"].format(
                manufacturer=info.manufacturer, model=info.model, firmware=info.firmware
            )
        )
        click.echo(MESSAGES["probe_serial"].format(serial=info.serial, hardware=info.hardware_id))
        for namespace, xaddr in sorted(result.services.items()):
            click.echo(MESSAGES["probe_service"].format(namespace=namespace, xaddr=xaddr))
        if result.media2:
            click.echo(MESSAGES["probe_media2"])
        elif result.media2_offered:
            click.echo(MESSAGES["probe_media2_failed"].format(reason=result.media2_error))
        else:
            click.echo(MESSAGES["probe_media1"])
        for profile in result.profiles:
            click.echo(
                MESSAGES["probe_profile"].format(
                    token=profile.token,
                    name=profile.name,
                    encoding=profile.encoding,
                    width=profile.width,
                    height=profile.height,
                    fps=profile.fps,
                    kbps=profile.bitrate_kbps,
                )
            )
            click.echo(MESSAGES["probe_stream"].format(uri=profile.stream_uri))
            click.echo(MESSAGES["probe_snapshot"].format(uri=profile.snapshot_uri))
            presets = ", ".join(f"{token}={name}" for token, name in profile.presets) or NONE
            click.echo(MESSAGES["probe_presets"].format(presets=presets))

    cameras.add_command(test_camera_command(), "test-camera")


def _read_credentials(path: Path) -> CredentialBook:
    from gateway.video.camera_credentials import CredentialsError, parse_credentials

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise click.ClickException(MESSAGES["credentials_missing"].format(path=path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = MESSAGES[
            "credentials_denied" if isinstance(exc, PermissionError)
            else "credentials_directory" if isinstance(exc, IsADirectoryError)
            else "credentials_not_text" if isinstance(exc, UnicodeDecodeError)
            else "credentials_io"
        ]  # fmt: skip
        raise click.ClickException(
            MESSAGES["credentials_unreadable"].format(path=path, reason=reason)
        ) from exc
    try:
        return parse_credentials(text, csv_format=path.suffix.lower() == ".csv")
    except CredentialsError as exc:
        what = MESSAGES[exc.kind].format(entry=exc.entry, detail=exc.detail)
        raise click.ClickException(
            MESSAGES["credentials_bad"].format(path=path, what=what)
        ) from exc


def _credential_source(
    book: CredentialBook | None, username: str | None, password_env: str | None, ask: bool
) -> CredentialSource:
    """Per new device: its credentials file entry, else the command line's user, else
    (``ask``) a prompt, the password typed unseen; else none."""
    from gateway.video.camera_credentials import Credential

    def credential_for(
        url: str, said: dict[str, str], scopes: list[str], camera_id: str
    ) -> Credential | None:
        found = book.for_device(url, said, scopes) if book is not None else None
        if found is not None:
            return found
        if username:
            return Credential(username, password_env)
        if not ask:
            return None
        user = click.prompt(
            MESSAGES["credentials_ask_user"].format(camera=camera_id, url=url),
            default="", show_default=False,
        ).strip()  # fmt: skip
        if not user:
            return None
        password = click.prompt(
            MESSAGES["credentials_ask_password"].format(camera=camera_id),
            default="", show_default=False, hide_input=True,
        )  # fmt: skip
        return Credential(user, password=password or None)

    return credential_for


def _write_snippet(path: Path, devices: Any, credential_for: CredentialSource) -> None:
    import yaml

    from gateway.config import Config
    from gateway.durable_file import write_durably
    from gateway.video.camera_credentials import env_file_lines
    from gateway.video.camera_snippet import dump, merge_cameras

    existing = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    if existing is not None and not isinstance(existing, dict):
        raise click.ClickException(MESSAGES["snippet_not_mapping"].format(path=path))
    document, added, secrets = merge_cameras(
        existing, ((d.xaddrs, d.scopes) for d in devices), credential_for
    )
    checked = {"video": {"cameras": [
        {**c, "password": "x"} if "password" in c else c for c in document["video"]["cameras"]
    ]}}  # fmt: skip
    Config.model_validate(checked)  # a snippet the daemon would refuse is never written
    if secrets:  # passwords given as such: beside the snippet, for the owner's eyes only
        env_path = path.with_suffix(".env")
        before = env_path.read_text(encoding="utf-8") if env_path.exists() else ""
        write_durably(env_path, env_file_lines(before, secrets).encode(), private=True)
        click.echo(
            MESSAGES["secrets_written"].format(
                path=env_path, count=len(secrets), names=", ".join(secrets)
            )
        )
    path.write_text(dump(document), encoding="utf-8")
    ids = ", ".join(added) or MESSAGES["snippet_none_new"]
    click.echo(MESSAGES["snippet_written"].format(path=path, count=len(added), ids=ids))


STAGED_SCENES = ("fallen", "standing")


def _mount(spec: str) -> tuple[str, Path]:
    """``/path=FILE`` or ``/path=staged:NAME`` (a staged scene, made once under var/)."""
    path, sep, target = spec.partition("=")
    if not sep or not path.startswith("/") or not target:
        raise click.BadParameter(f"{spec!r}: give /PATH=FILE", param_hint="--mount")
    if not target.startswith("staged:"):
        return path, Path(target)
    name = target.removeprefix("staged:")
    if name not in STAGED_SCENES:
        raise click.BadParameter(f"{name!r}: staged scenes are {STAGED_SCENES}")
    from gateway.video.testcam import staged
    from gateway.video.testcam.harness import DATA_DIR

    made = DATA_DIR.parent / "staged" / f"{name}.mp4"
    if not made.exists():
        scene = staged.fallen_person_clip if name == "fallen" else staged.standing_person_clip
        scene(DATA_DIR / "vtest.avi", made)
    return path, made


def test_camera_command() -> click.Command:
    """The test camera command, for ``citygw cameras test-camera`` and ``citygw dev camera``.

    (``dev`` belongs to gateway/demo_commands.py: it can ``dev.add_command(
    test_camera_command(), "camera")``.)
    """

    @click.command("test-camera")
    @click.option("--user", default=None, help="require these RTSP/ONVIF credentials")
    @click.option("--password-env", default="CITYGW_CAMERA_PASSWORD", show_default=True)
    @click.option("--rtsp-port", type=int, default=None, help="default: a free port")
    @click.option("--onvif-port", type=int, default=None, help="default: a free port")
    @click.option(
        "--multicast-interface",
        default=None,
        metavar="ADDRESS",
        help="also answer multicast WS-Discovery on this local IPv4 address (e.g. 127.0.0.1)",
    )
    @click.option(
        "--mount", "mounts", multiple=True, metavar="PATH=FILE",
        help="serve FILE (H.264 MP4) at PATH too, e.g. /stream1=var/data/x.mp4 (repeatable); "
        "'--mount /fallen=staged:fallen' serves the staged fallen-person scene",
    )  # fmt: skip
    @click.option(
        "--media2", is_flag=True,
        help="also offer Media2 (Profile T) with an H.265 sub-stream only Media2 lists (/hevc)",
    )  # fmt: skip
    @click.option(
        "--http-digest", is_flag=True,
        help="demand HTTP Digest (401 with a Digest challenge) instead of WS-Security (with --user)",
    )  # fmt: skip
    def test_camera(
        user: str | None,
        password_env: str,
        rtsp_port: int | None,
        onvif_port: int | None,
        multicast_interface: str | None,
        mounts: tuple[str, ...],
        media2: bool,
        http_digest: bool,
    ) -> None:
        """Serve the test video over a real RTSP server plus an ONVIF device, until Ctrl-C."""
        import logging

        from gateway import bootstrap
        from gateway.video.testcam.harness import TestCamera, TestCameraError

        if http_digest and not user:
            raise click.UsageError(
                "--http-digest needs --user (and the password in --password-env)"
            )
        logging.basicConfig(level=logging.INFO)
        password = os.environ.get(password_env) if user else None
        served = dict(_mount(spec) for spec in mounts)
        try:
            camera = TestCamera(
                username=user,
                password=password,
                rtsp_port=rtsp_port,
                onvif_port=onvif_port,
                multicast_interface=multicast_interface,
                mounts=served,
                media2=media2,
                http_digest=http_digest,
            ).start()
        except (TestCameraError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"rtsp   {camera.rtsp_url}  (sub-stream {camera.sub_rtsp_url})")
        if media2:
            click.echo(f"rtsp   {camera.hevc_rtsp_url}  (H.265, listed by Media2 only)")
        for path in served:
            click.echo(f"rtsp   {camera.url_of(path)}")
        auth = " (HTTP Digest)" if http_digest and user else ""
        click.echo(f"onvif  {camera.onvif_url}{auth}")
        click.echo(f"ws-discovery (directed probes) 127.0.0.1:{camera.discovery_port}")
        if multicast_interface:
            click.echo(f"ws-discovery (multicast) 239.255.255.250:3702 on {multicast_interface}")
        with bootstrap.stop_on_signals() as stop:
            while not stop.wait(1.0):
                if not camera.rtsp_running:
                    click.echo("the RTSP server died; restarting", err=True)
                    camera.restart()
        camera.stop()

    return test_camera
