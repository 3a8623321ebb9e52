"""`pulse`: the one command-line interface of commune-pulse.

Each sub-command parses its arguments, loads the settings once and calls a service function; the work itself
lives in the packages (services/core, services/infra, services/api, camera_gateway, app_events).
"""

from __future__ import annotations

import sys

import click

from services.core.settings import ConfigError, Settings, load_settings


class _Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings


pass_ctx = click.make_pass_decorator(_Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """commune-pulse: camera uptime and citizen-app engagement per commune."""


@cli.group()
def infra() -> None:
    """Local Apache Kafka + PostgreSQL/TimescaleDB for development and tests (no Docker)."""


@infra.command("start")
@pass_ctx
def infra_start(ctx: _Context) -> None:
    """Start both (idempotent); returns when both accept connections."""
    from services.infra.local import services

    for service in services(ctx.settings):
        click.echo(f"{service.status().name}: {service.start()}")
    _print_status(ctx.settings)


@infra.command("stop")
@pass_ctx
def infra_stop(ctx: _Context) -> None:
    """Stop both."""
    from services.infra.local import services

    for service in reversed(services(ctx.settings)):
        click.echo(f"{service.status().name}: {service.stop()}")


@infra.command("status")
@pass_ctx
def infra_status(ctx: _Context) -> None:
    """Say what runs where; exit 1 if something is down."""
    if not _print_status(ctx.settings):
        sys.exit(1)


@cli.command()
@pass_ctx
def migrate(ctx: _Context) -> None:
    """Apply schema migrations and load the shipped unit sets (idempotent)."""
    from services.core.db import connect
    from services.core.migrate import migrate as run

    with connect(ctx.settings) as conn:
        report = run(conn)
    for name in report.applied:
        click.echo(f"applied {name}")
    if report.units_changed:
        click.echo(f"reference units: {report.units_changed} row(s) written")
    for note in report.notes:
        click.echo(note)
    if not report.changed_anything:
        click.echo("schema up to date; nothing to do")


@cli.command()
@pass_ctx
def topics(ctx: _Context) -> None:
    """Create the Kafka topics that are missing."""
    import asyncio

    from services.core.kafka import ALL_TOPICS, ensure_topics, topic

    created = asyncio.run(ensure_topics(ctx.settings))
    for name in (topic(ctx.settings, n) for n in ALL_TOPICS):
        click.echo(f"{name}: {'created' if name in created else 'exists'}")


@cli.command("config")
@pass_ctx
def show_config(ctx: _Context) -> None:
    """Print the effective configuration (secrets masked)."""
    from services.core.settings import env_name

    for field, value in ctx.settings.model_dump().items():
        shown = "<set>" if field in ("pseudonym_key", "prober_token") and value else value
        if field == "database_url":
            shown = _mask_url(str(value))
        click.echo(f"{env_name(field)}={'' if shown is None else shown}")


def _mask_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


# --- reference data and accounts -------------------------------------------------------------------


def _db(ctx: _Context):
    from services.core.db import connect

    return connect(ctx.settings, autocommit=True)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _account_op(ctx: _Context, operation, **kwargs):
    """Run one registry operation in its own connection; its error (AccountError, or ValueError naming the
    field) becomes one line and exit 1."""
    from services.core.accounts import AccountError

    try:
        with _db(ctx) as conn:
            return operation(conn, **kwargs)
    except (AccountError, ValueError) as exc:
        _fail(str(exc))


@cli.group()
def units() -> None:
    """Administrative units (versioned sets, SPEC §3)."""


@units.command("list")
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@pass_ctx
def units_list(ctx: _Context, unit_set: str | None) -> None:
    from services.core.units import list_units

    with _db(ctx) as conn:
        rows = list_units(conn, unit_set or ctx.settings.unit_set)
    for r in rows:
        pop = "" if r["population"] is None else str(r["population"])
        click.echo(f"{r['unit_set']}\t{r['code']}\t{r['name']}\t{r['kind']}\t{pop}")


@units.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def units_import(ctx: _Context, path: str) -> None:
    """Load unit sets from a CSV (code,name,type,unit_set,successor_code[,successor_set]); all or nothing."""
    from pathlib import Path

    from services.core.units import UnitFileError, load_units, parse_units_csv

    try:
        parsed = parse_units_csv(Path(path).read_text(encoding="utf-8"))
    except UnitFileError as exc:
        for problem in exc.problems:
            click.echo(f"{path}: {problem}", err=True)
        sys.exit(1)
    with _db(ctx) as conn, conn.transaction():
        changed = load_units(conn, parsed)
    click.echo(f"{len(parsed.units)} unit(s) read, {changed} row(s) written")


@units.command("set-population")
@click.option("--unit", "code", required=True)
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@click.option("--population", type=click.IntRange(min=0))
@click.option("--households", type=click.IntRange(min=0))
@click.option("--note", default="", help="where the figure comes from")
@pass_ctx
def units_set_population(
    ctx: _Context, code: str, unit_set: str | None, population: int | None, households: int | None, note: str
) -> None:
    """Enter a unit's population and households (operator-entered; never invented)."""
    from services.core.units import set_population

    try:
        with _db(ctx) as conn:
            set_population(
                conn,
                unit_set=unit_set or ctx.settings.unit_set,
                code=code,
                population=population,
                households=households,
                note=note,
            )
    except LookupError as exc:
        _fail(str(exc))
    click.echo("saved")


@units.command("set-target")
@click.option("--unit", "code", required=True)
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@click.option("--adoption", type=click.FloatRange(0, 1), help="app users ÷ population, e.g. 0.3; omit to remove")
@click.option("--note", default="", help="where the target comes from (e.g. the district's plan)")
@pass_ctx
def units_set_target(ctx: _Context, code: str, unit_set: str | None, adoption: float | None, note: str) -> None:
    """A unit's adoption target for the monthly briefing ("tồn tại, hạn chế" lists units under it)."""
    from services.core.units import set_adoption_target

    try:
        with _db(ctx) as conn:
            set_adoption_target(conn, unit_set=unit_set or ctx.settings.unit_set, code=code, target=adoption, note=note)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    click.echo("saved" if adoption is not None else "removed")


@cli.group()
def report() -> None:
    """The monthly briefing (SPEC §9)."""


@report.command("monthly")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "pdf", "docx", "csv"]), required=True)
@click.option("--unit-set", help="2024 or 2025 (default: PULSE_UNIT_SET)")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="the file to write")
@click.option("--keep", is_flag=True, help="also keep the figures in the database, to re-issue the same report")
@pass_ctx
def report_monthly(ctx: _Context, month: str, fmt: str, unit_set: str | None, lang: str, out: str, keep: bool) -> None:
    """Write the monthly report of MONTH as XLSX, PDF, DOCX or CSV."""
    from pathlib import Path

    from services.reports import issue

    try:
        first = issue.parse_month(month)
        with _db(ctx) as conn:
            report_, data = issue.make(
                conn, ctx.settings, month=first, unit_set=unit_set, fmt=fmt, lang=lang, keep_it=keep
            )
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    Path(out).write_bytes(data)
    click.echo(f"{out}: {len(data)} bytes, figures as of {report_.as_of.isoformat()}")


@cli.group()
def cameras() -> None:
    """The camera registry."""


@cameras.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--unit-set", help="set of the unit codes in the file; default: PULSE_UNIT_SET")
@pass_ctx
def cameras_import(ctx: _Context, path: str, unit_set: str | None) -> None:
    """Upsert cameras from a CSV (camera_id,unit_code,name,interval_s,stream_url,lat,lon); all or nothing."""
    from pathlib import Path

    from services.core.cameras import CameraFileError, import_cameras, parse_cameras_csv
    from services.core.units import list_units

    unit_set = unit_set or ctx.settings.unit_set
    with _db(ctx) as conn:
        known = {r["code"] for r in list_units(conn, unit_set)}
        try:
            rows = parse_cameras_csv(Path(path).read_text(encoding="utf-8"), known_units=known)
        except CameraFileError as exc:
            for problem in exc.problems:
                click.echo(f"{path}: {problem}", err=True)
            click.echo(f"{path}: nothing imported", err=True)
            sys.exit(1)
        changed = import_cameras(conn, rows, unit_set=unit_set)
    click.echo(f"{len(rows)} camera(s) read, {changed} added or changed")


@cli.group()
def gateways() -> None:
    """Camera gateways and their tokens."""


@gateways.command("add")
@click.option("--name", required=True)
@click.option("--unit", "unit_codes", multiple=True, required=True, help="repeat for several units")
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@pass_ctx
def gateways_add(ctx: _Context, name: str, unit_codes: tuple[str, ...], unit_set: str | None) -> None:
    """Register a gateway; prints its token as the last line (only its hash is stored)."""
    from services.core.accounts import create_gateway

    token = _account_op(
        ctx, create_gateway, name=name, unit_set=unit_set or ctx.settings.unit_set, unit_codes=list(unit_codes)
    )
    click.echo(f"gateway {name} added; its token (shown once):")
    click.echo(token)


@gateways.command("revoke")
@click.option("--name", required=True)
@pass_ctx
def gateways_revoke(ctx: _Context, name: str) -> None:
    from services.core.accounts import revoke

    _account_op(ctx, revoke, table="gateways", name=name)
    click.echo("revoked")


@cli.group()
def apps() -> None:
    """Client apps (e.g. HoangHoaS Android) and their public app keys."""


@apps.command("add")
@click.option("--name", required=True)
@pass_ctx
def apps_add(ctx: _Context, name: str) -> None:
    """Register an app; prints its app key as the last line."""
    from services.core.accounts import create_app

    key = _account_op(ctx, create_app, name=name)
    click.echo(f"app {name} added; its key:")
    click.echo(key)


@apps.command("revoke")
@click.option("--name", required=True)
@pass_ctx
def apps_revoke(ctx: _Context, name: str) -> None:
    from services.core.accounts import revoke

    _account_op(ctx, revoke, table="apps", name=name)
    click.echo("revoked")


@cli.group()
def users() -> None:
    """Operators: admin, viewer, commune (scoped to units)."""


@users.command("add")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["admin", "viewer", "commune"]), required=True)
@click.option("--unit", "unit_codes", multiple=True, help="commune role: repeat for several units")
@click.option("--unit-set", help="set of the --unit codes; default: PULSE_UNIT_SET")
@click.option("--password", help="for the dashboard login; omit for a token-only account")
@pass_ctx
def users_add(
    ctx: _Context,
    username: str,
    role: str,
    unit_codes: tuple[str, ...],
    unit_set: str | None,
    password: str | None,
) -> None:
    from services.core.accounts import create_operator

    _account_op(
        ctx,
        create_operator,
        username=username,
        role=role,
        unit_set=unit_set or ctx.settings.unit_set,
        unit_codes=list(unit_codes),
        password=password,
    )
    click.echo(f"operator {username} ({role}) added")


@cli.group()
def tokens() -> None:
    """Operators' API tokens."""


@tokens.command("create")
@click.option("--username", required=True)
@click.option("--label", default="", help="what the token is for")
@pass_ctx
def tokens_create(ctx: _Context, username: str, label: str) -> None:
    """Create an API token; prints it as the last line (only its hash is stored)."""
    from services.core.accounts import create_api_token

    token = _account_op(ctx, create_api_token, username=username, label=label)
    click.echo(f"API token for {username} (shown once):")
    click.echo(token)


@cli.group()
def maintenance() -> None:
    """Maintenance windows: no alerts inside, counted as maintenance in uptime."""


def _parse_time(value: str, option: str):
    from datetime import datetime, time

    try:
        return time.fromisoformat(value) if option in ("--start", "--end") else datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: cannot read {value!r}")


@maintenance.command("add")
@click.option("--camera", help="one camera")
@click.option("--unit", "unit_code", help="one unit (code)")
@click.option("--unit-set", help="set of --unit; default: PULSE_UNIT_SET")
@click.option("--from", "starts", help="one-off: start, RFC 3339 (e.g. 2026-12-01T22:00:00+07:00)")
@click.option("--to", "ends", help="one-off: end, RFC 3339")
@click.option("--days", help="weekly: ISO weekdays, e.g. 1,3,5 (1 = Monday)")
@click.option("--start", "local_start", help="weekly: local start time HH:MM")
@click.option("--end", "local_end", help="weekly: local end time HH:MM (before --start: past midnight)")
@click.option("--note", default="")
@pass_ctx
def maintenance_add(
    ctx: _Context, camera, unit_code, unit_set, starts, ends, days, local_start, local_end, note
) -> None:
    """Add a window for a camera, a unit, or (neither given) everything; prints its id as the last line."""
    from services.core.maintenance import add_window

    tz = ctx.settings.tz
    start_dt = _parse_time(starts, "--from") if starts else None
    end_dt = _parse_time(ends, "--to") if ends else None
    for value, name in ((start_dt, "--from"), (end_dt, "--to")):
        if value is not None and value.tzinfo is None:
            _fail(f"{name}: give the offset (e.g. +07:00)")
    try:
        weekdays = [int(d) for d in days.split(",")] if days else []
    except ValueError:
        _fail("--days: comma-separated numbers 1 to 7")
    window_id = _account_op(
        ctx,
        add_window,
        camera_id=camera,
        unit=(unit_set or ctx.settings.unit_set, unit_code) if unit_code else None,
        starts_at=start_dt,
        ends_at=end_dt,
        weekdays=weekdays,
        local_start=_parse_time(local_start, "--start") if local_start else None,
        local_end=_parse_time(local_end, "--end") if local_end else None,
        note=note,
        created_by="cli",
    )
    click.echo(f"maintenance window added (times in {tz.key}); its id:")
    click.echo(window_id)


@maintenance.command("list")
@pass_ctx
def maintenance_list(ctx: _Context) -> None:
    from services.core.maintenance import list_windows

    with _db(ctx) as conn:
        for w in list_windows(conn):
            scope = w["camera_id"] or (f"{w['unit_set']}/{w['unit_code']}" if w["unit_code"] else "all")
            when = (
                f"{w['starts_at'].isoformat()} → {w['ends_at'].isoformat()}"
                if w["starts_at"]
                else f"weekly {','.join(map(str, w['weekdays']))} {w['local_start']}–{w['local_end']}"
            )
            click.echo(f"{w['window_id']:>5}  {scope:<20} {when}  {w['note']}")


@maintenance.command("remove")
@click.option("--id", "window_id", type=int, required=True)
@pass_ctx
def maintenance_remove(ctx: _Context, window_id: int) -> None:
    from services.core.maintenance import remove_window

    with _db(ctx) as conn:
        if not remove_window(conn, window_id):
            _fail(f"--id: no maintenance window {window_id}")
    click.echo("removed")


@cli.group()
def channels() -> None:
    """Where incident notifications go: webhook, telegram, email, zalo."""


@channels.command("add")
@click.option("--kind", type=click.Choice(["webhook", "telegram", "email", "zalo"]), required=True)
@click.option("--target", required=True, help="URL, Telegram chat id, e-mail address or Zalo user id")
@click.option("--secret", help="webhook signing secret, Telegram bot token, or Zalo OA access token")
@click.option("--unit", "unit_codes", multiple=True, help="only these units (repeat); default: all")
@click.option("--unit-set", help="set of --unit; default: PULSE_UNIT_SET")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi")
@click.option("--reports", is_flag=True, help="also send the monthly report (e-mail: files attached; others: a link)")
@pass_ctx
def channels_add(ctx: _Context, kind, target, secret, unit_codes, unit_set, lang, reports) -> None:
    """Add a channel; prints its id as the last line."""
    from services.alerts.channels import add_channel

    channel_id = _account_op(
        ctx,
        add_channel,
        kind=kind,
        target=target,
        secret=secret,
        unit_set=unit_set or ctx.settings.unit_set,
        unit_codes=list(unit_codes),
        lang=lang,
        wants_reports=reports,
    )
    click.echo(f"{kind} channel added; its id:")
    click.echo(channel_id)


@channels.command("list")
@pass_ctx
def channels_list(ctx: _Context) -> None:
    from services.alerts.channels import list_channels

    with _db(ctx) as conn:
        for c in list_channels(conn):
            units = ",".join(c["unit_codes"]) or "all units"
            state = "disabled" if c["disabled_at"] else "active"
            reports = "  + monthly report" if c["wants_reports"] else ""
            click.echo(f"{c['channel_id']:>4}  {c['kind']:<9} {c['target']:<40} {units}  {c['lang']}  {state}{reports}")


@channels.command("remove")
@click.option("--id", "channel_id", type=int, required=True)
@pass_ctx
def channels_remove(ctx: _Context, channel_id: int) -> None:
    """Disable a channel (kept for the history of what was sent)."""
    from services.alerts.channels import disable_channel

    with _db(ctx) as conn:
        if not disable_channel(conn, channel_id):
            _fail(f"--id: no active channel {channel_id}")
    click.echo("disabled")


# --- components -------------------------------------------------------------------------------------


def _setup_logging(settings: Settings) -> None:
    import logging

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: the simulator and the alerts make dozens a second.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
            workers.append(simulator.run)
            click.echo(f"simulator: {len(simulator.world.cameras)} cameras in {len(simulator.world.units)} communes")
        if backfill is not None:
            workers.append(backfill.run)
            click.echo(
                f"backfill: citizens for {backfill.days} days, cameras for {backfill.camera_days} days, through Kafka"
                " (in the background; the log says when each day is written)"
            )
        await serve.serve_all(servers, workers)

    import uvloop  # libuv's event loop: measurably cheaper per Kafka message and per request than asyncio's

    uvloop.run(run())


@cli.command()
@pass_ctx
def api(ctx: _Context) -> None:
    """The query API and the operators' dashboard at /."""
    _run(ctx.settings, ["api"])


@cli.command("camera-gateway")
@pass_ctx
def camera_gateway(ctx: _Context) -> None:
    """The camera gateway."""
    _run(ctx.settings, ["camera-gateway"])


@cli.command("app-events")
@pass_ctx
def app_events(ctx: _Context) -> None:
    """The app-events collector."""
    _run(ctx.settings, ["app-events"])


@cli.command()
@pass_ctx
def ingest(ctx: _Context) -> None:
    """Kafka → TimescaleDB consumers (heartbeats), with the state rollup."""
    from prometheus_client import start_http_server

    start_http_server(ctx.settings.ingest_metrics_port, addr=ctx.settings.bind_host)
    _run(ctx.settings, [], with_ingest=True)


@cli.command()
@pass_ctx
def alerts(ctx: _Context) -> None:
    """Incidents and notifications (SPEC §6); run one or more — one leads at a time."""
    from prometheus_client import start_http_server

    start_http_server(ctx.settings.alerts_metrics_port, addr=ctx.settings.bind_host)
    click.echo(f"alerts: metrics on http://{ctx.settings.bind_host}:{ctx.settings.alerts_metrics_port}/metrics")
    _run(ctx.settings, [], with_alerts=True)


@cli.command()
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
def up(ctx: _Context, demo: bool, backfill_days: int, backfill_camera_days: int) -> None:
    """Every component in one process."""
    settings = ctx.settings
    if demo:
        from services.demo.bootstrap import demo_pseudonym_key, prepare_demo

        settings = demo_pseudonym_key(settings)
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


@cli.command()
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
@pass_ctx
def simulate(ctx: _Context, cameras: int, citizens: int, interval_s: int, cycle_s: float) -> None:
    """A simulated 37-commune district sending heartbeats and app events to the running gateway and collector."""
    import asyncio

    from services.demo.simulator import Simulator, WorldConfig, prepare, world_for

    settings = ctx.settings
    _setup_logging(settings)
    config = WorldConfig(cameras=cameras, citizens=citizens, interval_s=interval_s, cycle_s=cycle_s)
    world = world_for(settings, config)
    simulator = Simulator(settings, world, prepare(settings, world))
    click.echo(f"simulating {len(world.cameras)} cameras and {citizens} citizens (synthetic); Ctrl-C stops")
    from services.core import serve

    asyncio.run(serve.serve_all([], [simulator.run]))


def _print_status(settings: Settings) -> bool:
    from services.infra.local import services

    all_up = True
    for service in services(settings):
        st = service.status()
        all_up &= st.running
        state = f"running (pid {st.pid})" if st.running else "stopped"
        click.echo(f"{st.name:<16} {state:<22} {st.address:<18} {st.detail}")
    return all_up


def main() -> None:
    from services.infra.local import InfraError

    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except InfraError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
