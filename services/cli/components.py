"""The long-running components: `pulse api`, `camera-gateway`, `app-events`, `ingest`, `alerts`, `up` (all of
them in one process, with `--demo` the simulated district) and `simulate`.

`_run` serves the chosen HTTP apps and workers in one uvloop until SIGINT/SIGTERM (services/core/serve.py);
each app module and worker is imported only when its command runs.
"""

from __future__ import annotations

import click

from services.cli.common import Context, pass_ctx
from services.core.settings import ConfigError, Settings


def _setup_logging(settings: Settings) -> None:
    import logging

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: the simulator and the alerts make dozens a second.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# The setting that names each HTTP component's port, for the error when two instances collide.
_PORT_SETTINGS = {"api": "api_port", "camera-gateway": "gateway_port", "app-events": "app_events_port"}


def _port_taken(host: str, port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _in_use(setting: str, port: int) -> ConfigError:
    return ConfigError(
        f"configuration error: {setting}: port {port} is already in use (another instance here?) — give each "
        "instance on a machine its own"
    )


def _serve_metrics(settings: Settings, setting: str, port: int) -> None:
    from prometheus_client import start_http_server

    if _port_taken(settings.bind_host, port):
        raise _in_use(setting, port)
    start_http_server(port, addr=settings.bind_host)


def _run(
    settings: Settings,
    names: list[str],
    *,
    with_ingest: bool = False,
    with_alerts: bool = False,
    simulator=None,
    backfill=None,
) -> None:
    """Run HTTP components (and the ingest consumers) in this process until SIGINT/SIGTERM."""
    import importlib

    from aiokafka.errors import KafkaError

    from services.core import serve
    from services.core.kafka import ensure_topics

    _setup_logging(settings)
    for name in names:  # before anything starts: one clear line instead of a server that dies half-started
        port = getattr(settings, _PORT_SETTINGS[name])
        if _port_taken(settings.bind_host, port):
            raise _in_use(f"PULSE_{_PORT_SETTINGS[name].upper()}", port)
    factories = {
        "api": ("services.api.app", settings.api_port),
        "camera-gateway": ("camera_gateway.app", settings.gateway_port),
        "app-events": ("app_events.app", settings.app_events_port),
    }

    async def run() -> None:
        if with_ingest or any(n != "api" for n in names):
            try:
                await ensure_topics(settings)
            except KafkaError as exc:
                if with_ingest or names != ["camera-gateway"]:
                    raise
                # The gateway's job during a Kafka outage is to keep accepting into its spool: it starts anyway
                # (its forwarder sends the spool once Kafka answers; topics are made by whoever starts next).
                click.echo(f"camera-gateway: Kafka unreachable at start ({exc.__class__.__name__}); spooling")
        servers = []
        for name in names:
            module, port = factories[name]
            app = importlib.import_module(module).create_app(settings)
            servers.append(serve.server(app, settings.bind_host, port, settings.log_level))
            click.echo(f"{name}: http://{settings.bind_host}:{port}/")
        workers = []
        feeders = []  # what sends to these servers: stopped before them (services/core/serve.py)
        if with_ingest:
            from services.ingest.service import run_ingest

            workers.append(lambda stop: run_ingest(settings, stop))
            metrics = settings.ingest_metrics_port
            where = "the API's /metrics" if "api" in names else f"http://{settings.bind_host}:{metrics}/metrics"
            click.echo(f"ingest: consuming; metrics on {where}")
        if with_alerts:
            from services.alerts.service import run_alerts

            workers.append(lambda stop: run_alerts(settings, stop))
        if simulator is not None:
            feeders.append(simulator.run)
            click.echo(f"simulator: {len(simulator.world.cameras)} cameras in {len(simulator.world.units)} communes")
        if backfill is not None:

            async def history(stop) -> None:
                await backfill.run(stop)
                # written: the demo goes on (serve_all stops everything when one of its workers returns)
                await stop.wait()

            workers.append(history)
            click.echo(
                f"backfill: citizens for {backfill.days} days, cameras for {backfill.camera_days} days, through Kafka"
                " (in the background; the log says when each day is written)"
            )
        await serve.serve_all(servers, workers, feeders)

    import uvloop  # libuv's event loop: measurably cheaper per Kafka message and per request than asyncio's

    uvloop.run(run())


@click.command()
@pass_ctx
def api(ctx: Context) -> None:
    """The query API and the operators' dashboard at /."""
    _run(ctx.settings, ["api"])


@click.command("camera-gateway")
@pass_ctx
def camera_gateway(ctx: Context) -> None:
    """The camera gateway."""
    _run(ctx.settings, ["camera-gateway"])


@click.command("app-events")
@pass_ctx
def app_events(ctx: Context) -> None:
    """The app-events collector."""
    _run(ctx.settings, ["app-events"])


@click.command()
@pass_ctx
def ingest(ctx: Context) -> None:
    """Kafka → TimescaleDB consumers (heartbeats), with the state rollup."""
    _serve_metrics(ctx.settings, "PULSE_INGEST_METRICS_PORT", ctx.settings.ingest_metrics_port)
    _run(ctx.settings, [], with_ingest=True)


@click.command()
@pass_ctx
def alerts(ctx: Context) -> None:
    """Incidents and notifications (SPEC §6); run one or more — one leads at a time."""
    _serve_metrics(ctx.settings, "PULSE_ALERTS_METRICS_PORT", ctx.settings.alerts_metrics_port)
    click.echo(f"alerts: metrics on http://{ctx.settings.bind_host}:{ctx.settings.alerts_metrics_port}/metrics")
    _run(ctx.settings, [], with_alerts=True)


@click.command()
@click.option("--demo", is_flag=True, help="start local infrastructure, migrate, and create a demo login first")
@click.option(
    "--backfill", "backfill_days", type=click.IntRange(0, 400), default=0, help="with --demo: days of history to write"
)
@click.option(
    "--backfill-camera-days",
    type=click.IntRange(0, 400),
    default=1,
    show_default=True,
    help="of those, days of camera heartbeats (7.2 M a day for 5,000 cameras: minutes each on 2 cores)",
)
@pass_ctx
def up(ctx: Context, demo: bool, backfill_days: int, backfill_camera_days: int) -> None:
    """Every component in one process."""
    settings = ctx.settings
    if demo:
        from services.demo.bootstrap import demo_keys, prepare_demo

        settings = demo_keys(settings)
        login = prepare_demo(settings)
        click.echo(f"dashboard: http://{settings.bind_host}:{settings.api_port}/   (API: /docs)")
        click.echo(f"login: {login.username} / {login.password}   API token: {login.token}")
    simulator = None
    streams = None
    if demo:
        from pydantic import SecretStr

        from services.demo.simulator import (
            DEMO_RTSP_PORT,
            STREAMS,
            Simulator,
            WorldConfig,
            prepare,
            prepare_streams,
            start_streams,
            world_for,
        )

        world = world_for(settings, WorldConfig())
        simulator = Simulator(settings, world, prepare(settings, world))
        click.echo("simulated district: synthetic cameras, citizens and populations (labelled synthetic)")
        stream_port = DEMO_RTSP_PORT
        streams = start_streams(stream_port)
        if streams is not None:
            token = prepare_streams(settings, world, stream_port)
            settings = settings.model_copy(update={"prober_token": SecretStr(token)})
            click.echo(f"video streams for the prober: rtsp://127.0.0.1:{stream_port}/ ({len(STREAMS)} cameras)")
    history = None
    if simulator is not None and backfill_days:
        from services.demo.backfill import Backfill

        history = Backfill(
            settings,
            simulator.world,
            simulator.credentials.gateways,
            simulator.credentials.app_key,
            until=simulator.start,
            days=backfill_days,
            camera_days=min(backfill_days, backfill_camera_days),
        )
    try:
        _run(
            settings,
            ["api", "camera-gateway", "app-events"],
            with_ingest=True,
            with_alerts=True,
            simulator=simulator,
            backfill=history,
        )
    finally:
        if demo and streams is not None:
            streams.kill()
            streams.wait(timeout=10)


@click.command()
@click.option("--cameras", type=click.IntRange(37, 200_000), default=5000, show_default=True)
@click.option("--citizens", type=click.IntRange(0, 1_000_000), default=20_000, show_default=True)
@click.option(
    "--interval-s", type=click.IntRange(5, 3600), default=60, show_default=True, help="camera heartbeat interval"
)
@click.option(
    "--cycle-s",
    type=click.FloatRange(60, 86_400),
    default=3600,
    show_default=True,
    help="one round of trouble (power cut, uplink loss, deaths, flapping)",
)
@click.option(
    "--gateway", "gateways", multiple=True, help="a gateway's address (repeat for several; default: this machine's)"
)
@click.option(
    "--collector",
    "collectors",
    multiple=True,
    help="a collector's address (repeat for several; default: this machine's)",
)
@pass_ctx
def simulate(
    ctx: Context,
    cameras: int,
    citizens: int,
    interval_s: int,
    cycle_s: float,
    gateways: tuple[str, ...],
    collectors: tuple[str, ...],
) -> None:
    """A simulated 37-commune district sending heartbeats and app events to the running gateway and collector."""
    import asyncio

    from services.demo.simulator import Simulator, WorldConfig, prepare, world_for

    settings = ctx.settings
    _setup_logging(settings)
    config = WorldConfig(cameras=cameras, citizens=citizens, interval_s=interval_s, cycle_s=cycle_s)
    world = world_for(settings, config)
    simulator = Simulator(
        settings, world, prepare(settings, world), gateway_urls=list(gateways), collector_urls=list(collectors)
    )
    click.echo(f"simulating {len(world.cameras)} cameras and {citizens} citizens (synthetic); Ctrl-C stops")
    from services.core import serve

    asyncio.run(serve.serve_all([], [simulator.run]))
