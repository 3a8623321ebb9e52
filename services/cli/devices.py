"""`pulse devices`: cameras, NVRs and camera clouds the gateway collects from in their own protocols (SPEC §4).

The password (or cloud secret) is read from a file or standard input, never from the command line (it would
sit in the shell's history and in `ps`), and stored encrypted under PULSE_DEVICE_KEY.
"""

from __future__ import annotations

import sys

import click

from services.cli.common import Context, db, fail, local_time, pass_ctx


@click.group()
def devices() -> None:
    """Devices (Hikvision, Dahua, ONVIF, EZVIZ and Imou clouds) and their connection state."""


def _read_secret(password_file: str | None) -> str:
    if password_file is not None:
        try:
            with open(password_file, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as exc:
            fail(f"--password-file: cannot read {password_file!r}: {exc.strerror}")
    if sys.stdin.isatty():
        return click.prompt("password (or cloud app secret)", hide_input=True).strip()
    return sys.stdin.readline().strip()


@devices.command("add")
@click.option("--kind", type=click.Choice(["hikvision", "dahua", "onvif", "ezviz", "imou"]), required=True)
@click.option("--name", required=True, help="short name; unmapped channels report as camera NAME-chN")
@click.option("--unit", "unit_code", required=True, help="the unit the device's cameras are in")
@click.option("--unit-set", help="set of --unit; default: PULSE_UNIT_SET")
@click.option("--url", required=True, help="the device's address (http://host[:port]) or the cloud API's base URL")
@click.option("--username", required=True, help="the device's user, or the cloud app key")
@click.option("--password-file", type=click.Path(dir_okay=False), help="read the password from this file")
@click.option("--channel", "channels", multiple=True, help="CHANNEL=CAMERA_ID, e.g. 2=HH-BS-014 (repeat)")
@click.option("--option", "options", multiple=True, help="KEY=VALUE: stall_s, poll_s, heartbeat_s, nvr, … (repeat)")
@click.option(
    "--push",
    is_flag=True,
    help="the device pushes its alarms to the gateway (push-only: behind NAT, not connected to); prints the URL path",
)
@pass_ctx
def devices_add(
    ctx: Context,
    kind: str,
    name: str,
    unit_code: str,
    unit_set: str | None,
    url: str,
    username: str,
    password_file: str | None,
    channels: tuple[str, ...],
    options: tuple[str, ...],
    push: bool,
) -> None:
    """Add a device; the password (or cloud secret) comes from --password-file or standard input."""
    from services.core.devices import DeviceSetupError, add_device, parse_channels, parse_options

    secret = _read_secret(password_file)
    try:
        with db(ctx) as conn:
            token = add_device(
                conn,
                ctx.settings,
                kind=kind,
                name=name,
                unit_set=unit_set or ctx.settings.unit_set,
                unit_code=unit_code,
                url=url,
                username=username,
                secret=secret,
                channels=parse_channels(list(channels)),
                options=parse_options(list(options)),
                push=push,
            )
    except DeviceSetupError as exc:
        fail(str(exc))
    click.echo(f"device {name} added ({kind}); the gateway with PULSE_COLLECTOR_TOKEN for its unit collects it")
    if token is not None:
        click.echo("the device pushes its alarms to this path on the gateway (shown once):")
        click.echo(f"/v1/devices/{token}/events")


@devices.command("list")
@pass_ctx
def devices_list(ctx: Context) -> None:
    """Every device with its connection state, since when, and the last error."""
    from services.core.devices import list_devices

    with db(ctx) as conn:
        rows = list_devices(conn)
    if not rows:
        click.echo("no devices (pulse devices add …)")
        return
    for d in rows:
        since = local_time(ctx, d["state_since"], "%Y-%m-%d %H:%M:%S")
        channels = ", ".join(f"{k}={v}" for k, v in sorted(d["channels"].items())) or "-"
        error = f"  last error: {d['last_error']}" if d["last_error"] else ""
        click.echo(
            f"{d['name']}  {d['kind']}  unit {d['unit_code']} ({d['unit_name']})  {d['url']}  "
            f"{d['state']} since {since}  channels: {channels}{error}"
        )


@devices.command("test")
@click.option("--name", required=True)
@click.option("--timeout", type=click.FloatRange(1, 120), default=15.0, show_default=True, help="seconds")
@pass_ctx
def devices_test(ctx: Context, name: str, timeout: float) -> None:
    """Connect to the device once with its stored credentials and say what it is; exit 1 if that fails."""
    import asyncio

    import httpx

    from camera_gateway.devices.connection import DeviceConfig, DeviceError, http_error
    from camera_gateway.devices.protocols import protocol
    from services.core.devices import DeviceSetupError, device_secret

    try:
        with db(ctx) as conn:
            row, secret = device_secret(conn, ctx.settings, name)
    except DeviceSetupError as exc:
        fail(str(exc))
    config = DeviceConfig.from_row(row, secret)
    _, check = protocol(config.kind)

    async def run() -> str:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await asyncio.wait_for(check(config, client), timeout)

    try:
        described = asyncio.run(run())
    except TimeoutError:
        fail(f"unreachable: no answer within {timeout:g} s")
    except DeviceError as exc:
        fail(f"{exc.state}: {exc}")
    except Exception as exc:
        error = http_error(exc, "test")
        fail(f"{error.state}: {error}")
    click.echo(f"connected: {described}")


@devices.command("remove")
@click.option("--name", required=True)
@pass_ctx
def devices_remove(ctx: Context, name: str) -> None:
    """Stop collecting from a device (its cameras and their history stay)."""
    from services.core.devices import DeviceSetupError, remove_device

    try:
        with db(ctx) as conn:
            remove_device(conn, name)
    except DeviceSetupError as exc:
        fail(str(exc))
    click.echo(f"device {name} removed")
