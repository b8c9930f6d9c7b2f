"""The ``interviewer`` command."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.messages import SupervisedService
from bot.settings import ConfigError, Settings, configure_logging, load_settings

# Before any OpenMP runtime starts (the channels' imports below load the models' libraries): idle
# OpenMP threads sleep instead of spinning (see `language.embeddings.E5Embedder`).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A conversational interviewer.")
flows_app = typer.Typer(no_args_is_help=True, help="Check, list and publish interview flows.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks.")
ehr_app = typer.Typer(no_args_is_help=True, help="Import HR-system exports; derive competency weights.")
app.add_typer(flows_app, name="flows")
app.add_typer(ehr_app, name="ehr")
app.add_typer(bench_app, name="bench")
handoffs_app = typer.Typer(no_args_is_help=True, help="Questions and requests passed to HR; answer them.")
app.add_typer(handoffs_app, name="handoffs")
users_app = typer.Typer(no_args_is_help=True, help="HR's workspace accounts.")
app.add_typer(users_app, name="users")
outbox_app = typer.Typer(no_args_is_help=True, help="Messages the bot sends unprompted, and their delivery.")
app.add_typer(outbox_app, name="outbox")
campaign_app = typer.Typer(
    no_args_is_help=True, help="Invitation campaigns: create, add candidates, send what is due, status."
)
app.add_typer(campaign_app, name="campaign")


def _add_plugin_commands() -> None:
    """Commands that channels bring (``interviewer telegram ...``), found through the
    ``interviewer.cli`` entry points so that bot/ never imports a channel."""
    for entry_point in entry_points(group="interviewer.cli"):
        app.add_typer(entry_point.load(), name=entry_point.name)


_add_plugin_commands()


class _State:
    config: Path | None = None


def settings() -> Settings:
    try:
        return load_settings(_State.config)
    except ConfigError as exc:
        typer.echo(f"interviewer: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.callback()
def _main(
    config: Annotated[Path | None, typer.Option(help="settings file (default: config.yml)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug details")] = False,
) -> None:
    _State.config = config
    configure_logging(verbose)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    load_samples: Annotated[
        bool, typer.Option("--load-samples/--no-load-samples", help="publish the flows in flows_dir at start")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="processes serving the port (PostgreSQL only; default server.workers)"
        ),
    ] = None,
) -> None:
    """Serve the bot over HTTP (REST channel, /health, OpenAPI at /docs)."""
    import os

    import uvicorn

    from bot.settings import LOAD_SAMPLES_ENV

    config = settings()
    workers = workers or config.server.workers
    if workers > 1 and config.database_url.startswith("sqlite"):
        typer.echo(
            f"interviewer: --workers {workers} needs PostgreSQL (set DATABASE_URL=postgresql://...); "
            "SQLite serves one process, so run with --workers 1",
            err=True,
        )
        raise typer.Exit(2)
    if load_samples:
        _first_admin(config)
    if workers == 1:
        from bot.app import create_app

        try:
            application = create_app(config, load_samples=load_samples)
        except (ConfigError, LookupError) as exc:  # a channel's settings, or a channel not installed
            typer.echo(f"interviewer: {exc}", err=True)
            raise typer.Exit(2) from exc
    else:
        # The supervisor of N workers only starts and watches them: it checks the settings and
        # channels by building the app in a short-lived child, and never holds the models itself.
        problem = _check_app(_State.config, load_samples)
        if problem:
            typer.echo(f"interviewer: {problem}", err=True)
            raise typer.Exit(2)
    options: dict[str, Any] = {
        "host": host or config.server.host,
        "port": port or config.server.port,
        "log_level": "info",
        "timeout_keep_alive": config.server.keep_alive_seconds,
        "access_log": False,  # access lines carry sender ids; the app logs what operators need
    }
    if workers == 1:
        uvicorn.run(application, **options)
        return
    # Each worker is a fresh interpreter that builds its own app (bot.app.worker_app) from the same
    # settings file and environment; the app built above only checked the settings.
    if _State.config is not None:
        os.environ["INTERVIEWER_CONFIG"] = str(_State.config.resolve())
    os.environ[LOAD_SAMPLES_ENV] = "1" if load_samples else "0"
    # At most two glibc malloc arenas per worker instead of eight per core: the worker threads'
    # freed memory is reused rather than kept in arenas of their own (README, "Memory").
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    services = _supervised_services(config)
    try:
        for service in services:  # e.g. the one speech transcriber the workers share
            service.start()
        uvicorn.run("bot.app:worker_app", factory=True, workers=workers, **options)
    finally:
        for service in reversed(services):
            service.stop()


def _supervised_services(config: Settings) -> list[SupervisedService]:
    """The processes the enabled channels need beside the workers, each once (channels that take
    voice share one speech transcriber): a channel class's ``supervised(settings)`` hook."""
    found = {ep.name: ep for ep in entry_points(group="interviewer.channels")}
    services: list[SupervisedService] = []
    hooks: set[Any] = set()
    for name in config.channels.enabled:
        if name not in found:
            continue
        hook = getattr(found[name].load(), "supervised", None)
        if hook is None or hook in hooks:
            continue
        hooks.add(hook)
        service = hook(config)
        if service is not None:
            services.append(service)
    return services


def _check_app(config: Path | None, load_samples: bool) -> str:
    """Build the app (settings, channels) in a spawned child process; what is wrong, or ""."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_check_app_child, args=(config, load_samples, sender))
    child.start()
    sender.close()
    try:
        problem = str(receiver.recv())
    except EOFError:
        problem = "the settings check stopped unexpectedly (see the log above)"
    child.join()
    return problem


def _check_app_child(config: Path | None, load_samples: bool, sender: Any) -> None:
    from bot.app import create_app

    problem = ""
    try:
        create_app(load_settings(config), load_samples=load_samples)
    except (ConfigError, LookupError) as exc:  # a channel's settings, or a channel not installed
        problem = str(exc)
    sender.send(problem)
    sender.close()
    os._exit(0)  # without waiting for threads the app's channels started (a model's preload)


def _first_admin(config: Settings) -> None:
    """`make run` on a database without HR accounts: create the first admin and print its one-time
    password here, once (it must be changed at the first sign-in)."""
    from bot.hr.accounts import count_users, create_user, one_time_password, record
    from bot.store.db import Database

    async def run() -> str | None:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            async with db.write() as session:
                if await count_users(session):
                    return None
                password = one_time_password()
                user = await create_user(session, config.hr.first_admin_email, "admin", password)
                record(
                    session,
                    "cli",
                    "user.created",
                    target=f"user:{user.id}",
                    changes={"email": user.email, "role": "admin"},
                )
                return password
        finally:
            await db.dispose()

    password = asyncio.run(run())
    if password is not None:
        # "localhost": browsers keep the Secure session cookie over plain http on that name
        host = "localhost" if config.server.host in {"127.0.0.1", "0.0.0.0", "::1"} else config.server.host  # noqa: S104
        url = f"http://{host}:{config.server.port}/hr/"
        typer.echo(
            f"\nHR workspace: {url}\n  sign in as {config.hr.first_admin_email} with the one-time password "
            f"{password}\n  (shown only now; you choose your own at the first sign-in)\n"
        )


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="the person's e-mail address (their sign-in name)")],
    role: Annotated[str, typer.Option(help="admin, recruiter, scheduler or viewer")] = "viewer",
) -> None:
    """Add an HR account; prints its one-time password (changed at the first sign-in)."""
    from bot.hr.accounts import AccountError, create_user, one_time_password, record
    from bot.store.db import Database

    config = settings()

    async def run() -> str:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            password = one_time_password()
            async with db.write() as session:
                user = await create_user(session, email, role, password)
                record(
                    session,
                    "cli",
                    "user.created",
                    target=f"user:{user.id}",
                    changes={"email": user.email, "role": role},
                )
            return password
        finally:
            await db.dispose()

    try:
        password = asyncio.run(run())
    except AccountError as exc:
        typer.echo(f"interviewer: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{email.strip().lower()}\t{role}\tone-time password: {password}")


@users_app.command("list")
def users_list() -> None:
    """One account per line: e-mail, role, state."""
    from sqlmodel import col, select

    from bot.store.db import Database
    from bot.store.models import HrUser

    config = settings()

    async def run() -> list[HrUser]:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            async with db.read() as session:
                return list((await session.exec(select(HrUser).order_by(col(HrUser.id)))).all())
        finally:
            await db.dispose()

    for user in asyncio.run(run()):
        state = (
            "inactive" if not user.active else "one-time password" if user.must_change_password else "active"
        )
        typer.echo(f"{user.email}\t{user.role}\t{state}")


@app.command()
def chat(
    role: Annotated[str | None, typer.Option(help="start this role's interview at once")] = None,
    practice: Annotated[bool, typer.Option(help="a practice session instead of a real interview")] = False,
    lang: Annotated[str | None, typer.Option(help="en or zh")] = None,
    sender: Annotated[str | None, typer.Option(help="continue the conversation of this sender id")] = None,
) -> None:
    """Take an interview in the terminal; reads lines from stdin, so it can be scripted."""
    from bot.runtime import Runtime

    config = settings()
    logging.getLogger().setLevel(logging.WARNING)

    async def run() -> None:
        runtime = Runtime(config, load_samples=True)
        await runtime.start()
        try:
            terminal: Any = runtime.channels(["terminal"])[0]
            opening = []
            if lang:
                opening.append(f"/lang {lang}")
            if role:
                opening.append(f"/{'practice' if practice else 'interview'} {role}")
            await terminal.run(sender=sender, opening=opening)
        finally:
            await runtime.stop()

    asyncio.run(run())


@flows_app.command("check")
def flows_check(paths: Annotated[list[Path], typer.Argument(help="flow files or folders")]) -> None:
    """Validate flows; print every problem as file:line: message and exit 1 if there are any."""
    from flows.schema import FlowError, flow_files, load_flow_file

    problems = 0
    files = flow_files(paths)
    for path in files:
        if not path.exists():
            typer.echo(f"{path}:1: no such file")
            problems += 1
            continue
        try:
            load_flow_file(path)
        except FlowError as exc:
            for problem in exc.problems:
                typer.echo(str(problem))
            problems += len(exc.problems)
    if problems or not files:
        if not files:
            typer.echo("no flow files found", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(files)} flow(s) OK", err=True)


@flows_app.command("list")
def flows_list(
    published: Annotated[bool, typer.Option(help="list the versions published to the database")] = False,
) -> None:
    """Print one role id per line (the flow files, or with --published the database's newest versions)."""
    from flows.schema import FlowError, flow_files, load_flow_file

    config = settings()
    if published:
        for role, version in asyncio.run(_published_roles(config)):
            typer.echo(f"{role}\tv{version}")
        return
    roles = set()
    for path in flow_files([config.flows_dir]):
        try:
            roles.add(load_flow_file(path).flow.role)
        except FlowError as exc:
            typer.echo(
                f"{path}: skipped, invalid ({len(exc.problems)} problem(s); run flows check)", err=True
            )
    for role in sorted(roles):
        typer.echo(role)


async def _published_roles(config: Settings) -> list[tuple[str, int]]:
    from bot.catalog import FlowCatalog
    from bot.store.db import Database

    db = Database(config.database_url)
    try:
        await asyncio.to_thread(db.migrate)
        catalog = FlowCatalog(db)
        await catalog.refresh()
        return [(role.role, await catalog.version_of(role.flow_version_id)) for role in catalog.roles]
    finally:
        await db.dispose()


@flows_app.command("publish")
def flows_publish(paths: Annotated[list[Path], typer.Argument(help="flow files or folders")]) -> None:
    """Store new versions of changed flows; running interviews keep the version they started with."""
    from bot.catalog import FlowCatalog
    from bot.store.db import Database
    from flows.schema import FlowError

    config = settings()

    async def run() -> None:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            for item in await FlowCatalog(db).publish_files(paths):
                typer.echo(f"{item.role}\tv{item.version}\t{'published' if item.created else 'unchanged'}")
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except FlowError as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        raise typer.Exit(1) from exc


@handoffs_app.command("list")
def handoffs_list(
    status: Annotated[str | None, typer.Option(help="open or answered (default: all)")] = None,
) -> None:
    """One handoff per line: id, status, kind, role, language, the candidate's words."""
    from bot.handoffs import list_handoffs
    from bot.store.db import Database

    if status not in {None, "open", "answered"}:
        typer.echo("--status must be open or answered", err=True)
        raise typer.Exit(2)
    config = settings()

    async def run() -> None:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            for item in await list_handoffs(db, status):  # type: ignore[arg-type]
                text = item.text.replace("\n", " ")
                typer.echo(
                    f"{item.id}\t{item.status}\t{item.kind}\t{item.role or '-'}\t{item.language}\t{text}"
                )
        finally:
            await db.dispose()

    asyncio.run(run())


@handoffs_app.command("answer")
def handoffs_answer(
    handoff_id: Annotated[int, typer.Argument(metavar="ID", help="the handoff's id (see `handoffs list`)")],
    text: Annotated[str, typer.Argument(help="HR's answer, sent to the candidate on their channel")],
    add_to_faq: Annotated[bool, typer.Option(help="also add the question and answer to the FAQ")] = False,
) -> None:
    """Answer a handoff: the candidate receives it on their channel; optionally it joins the FAQ."""
    from actions.responses import Responses
    from bot.handoffs import HandoffError, answer_handoff
    from bot.store.db import Database

    config = settings()

    async def run() -> None:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            responses = Responses.load(config.dialogues_dir / "responses", config.default_language)
            item = await answer_handoff(db, responses, handoff_id, text, add_to_faq=add_to_faq)
            added = f"; added to the FAQ as {item.faq_entry_id}" if item.faq_entry_id else ""
            typer.echo(f"handoff {item.id} answered{added}")
        except HandoffError as exc:
            typer.echo(f"interviewer: {exc}", err=True)
            raise typer.Exit(1) from exc
        finally:
            await db.dispose()

    asyncio.run(run())


@outbox_app.command("list")
def outbox_list(
    state: Annotated[
        str | None, typer.Option(help="scheduled, sending, sent, failed or cancelled (default: all)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many, newest first")] = 100,
) -> None:
    """One queued message per line: id, state, channel, kind, attempts, queued at, last error."""
    from bot.outbox import STATES, list_outbox
    from bot.store.db import Database

    if state is not None and state not in STATES:
        typer.echo(f"--state must be one of {', '.join(STATES)}", err=True)
        raise typer.Exit(2)
    config = settings()

    async def run() -> None:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            for item in await list_outbox(db, state=state, limit=limit):
                typer.echo(
                    f"{item.id}\t{item.state}\t{item.channel}\t{item.kind}\t{item.attempts}\t"
                    f"{item.created_at}\t{item.last_error or '-'}"
                )
        finally:
            await db.dispose()

    asyncio.run(run())


@app.command()
def invite(
    role: Annotated[str, typer.Argument(help="role id")],
    count: Annotated[int, typer.Option(min=1, max=10_000, help="how many invitations")] = 1,
    practice: Annotated[bool, typer.Option(help="invite to practise instead")] = False,
    days: Annotated[int, typer.Option(min=1, help="days until the invitation expires")] = 14,
    base_url: Annotated[str, typer.Option(help="where candidates open the chat")] = "http://127.0.0.1:8000",
) -> None:
    """Create invitation tokens; each line is a token and the /start command that uses it."""
    from bot.catalog import FlowCatalog
    from bot.store.db import Database
    from bot.store.models import Invitation, utcnow
    from bot.store.repo import token_hash

    config = settings()

    async def run() -> list[str]:
        db = Database(config.database_url)
        try:
            await asyncio.to_thread(db.migrate)
            catalog = FlowCatalog(db)
            await catalog.refresh()
            if role not in {r.role for r in catalog.roles}:
                known = ", ".join(r.role for r in catalog.roles) or "none; run `interviewer flows publish`"
                typer.echo(f"unknown role {role!r} (published: {known})", err=True)
                raise typer.Exit(1)
            tokens = [secrets.token_urlsafe(16) for _ in range(count)]
            expires = utcnow() + timedelta(days=days)
            async with db.write() as session:
                for token in tokens:
                    session.add(
                        Invitation(
                            token_hash=token_hash(token),
                            role=role,
                            mode="practice" if practice else "interview",
                            expires_at=expires,
                        )
                    )
            return tokens
        finally:
            await db.dispose()

    for token in asyncio.run(run()):
        typer.echo(f"{token}\t/start {token}\t{base_url}/chat?invite={token}")


async def _campaigns(config: Settings) -> tuple[Any, Any]:
    """The database and a campaign service on it (no models loaded)."""
    from bot.campaigns.service import CampaignService
    from bot.campaigns.templates import Templates
    from bot.secrets import id_key

    db, catalog = await _catalog(config)
    service = CampaignService(
        db,
        config.campaigns,
        id_key=id_key(config.cache_dir.parent),
        templates=Templates.load(config.dialogues_dir / "templates"),
        roles=lambda: {role.role: role.title for role in catalog.roles},
        channels=lambda: (
            [
                name
                for name, on in (
                    ("email", config.campaigns.smtp.host),
                    ("sms", config.campaigns.sms.gateway_url),
                )
                if on
            ]
            + ["telegram", "wechat"]
        ),
    )
    return db, service


def _campaign_call(config: Settings, work: Any) -> Any:
    """Run ``work(service)`` and turn campaign errors into a message and exit status 1 (2 for a
    missing key)."""
    from bot.campaigns.contacts import ContactKeyError
    from bot.campaigns.service import CampaignError

    async def run() -> Any:
        db, service = await _campaigns(config)
        try:
            return await work(service)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except CampaignError as exc:
        typer.echo(f"interviewer: {exc}", err=True)
        raise typer.Exit(1) from exc
    except ContactKeyError as exc:
        typer.echo(f"interviewer: {exc}", err=True)
        raise typer.Exit(2) from exc


@campaign_app.command("create")
def campaign_create(
    name: Annotated[str, typer.Argument(help="the campaign's name")],
    role: Annotated[str, typer.Option(help="the published role to interview for")],
    window: Annotated[str, typer.Option(help="send window in each candidate's local time")] = "09:00-20:00",
    expires_hours: Annotated[int, typer.Option(min=1, help="an invitation expires after this")] = 14 * 24,
    reminders: Annotated[
        str, typer.Option(help="KIND:HOURS,... of not_started, before_expiry, paused ('' for none)")
    ] = "not_started:24,before_expiry:2,paused:24",
    channels: Annotated[
        str, typer.Option(help="channels in order of preference")
    ] = "telegram,wechat,email,sms",
    next_campaign: Annotated[
        int | None, typer.Option(help="invite advanced candidates to this campaign")
    ] = None,
    auto_next_round: Annotated[
        bool, typer.Option(help="send the next round's invitation on 'advance'")
    ] = False,
    keep_contacts_days: Annotated[int, typer.Option(min=0, help="contact data kept after the end")] = 30,
) -> None:
    """Create a campaign; prints its id."""
    from pydantic import ValidationError

    from bot.campaigns.schemas import CampaignCreate

    start, _, end = window.partition("-")
    try:
        spec = CampaignCreate(
            name=name,
            role=role,
            window_start=start,
            window_end=end,
            expires_hours=expires_hours,
            reminders=[
                {"kind": kind, "hours": float(hours)}
                for kind, _, hours in (part.partition(":") for part in reminders.split(",") if part)
            ],
            channels=[c.strip() for c in channels.split(",") if c.strip()],
            next_campaign_id=next_campaign,
            auto_next_round=auto_next_round,
            keep_contacts_days=keep_contacts_days,
        )
    except (ValidationError, ValueError) as exc:
        typer.echo(f"interviewer: invalid campaign: {exc}", err=True)
        raise typer.Exit(2) from exc
    campaign = _campaign_call(settings(), lambda service: service.create(spec))
    typer.echo(f"{campaign.id}\t{campaign.name}\t{campaign.role}")


@campaign_app.command("add")
def campaign_add(
    campaign_id: Annotated[int, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(help="CSV (header: external_id,email,phone,...) or a JSON list")],
) -> None:
    """Add candidates from CSV or JSON; prints each one's invitation link and every problem by line."""
    import json

    from pydantic import ValidationError

    from bot.campaigns.schemas import CandidateIn

    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        try:
            items = [CandidateIn.model_validate(item) for item in json.loads(text)]
        except (ValidationError, ValueError, TypeError) as exc:
            typer.echo(f"{file}: {exc}", err=True)
            raise typer.Exit(1) from exc
        report = _campaign_call(settings(), lambda service: service.add(campaign_id, items))
    else:
        report = _campaign_call(settings(), lambda service: service.add_csv(campaign_id, text))
    for item in report.candidates:
        typer.echo(f"{item.id}\t{'added' if item.new else 'known'}\t{item.link}")
    for problem in report.problems:
        typer.echo(f"{file}:{problem.row}: {problem.field}: {problem.message}", err=True)
    typer.echo(
        f"{report.added} added, {report.known} already in the campaign, {len(report.problems)} problem(s)"
    )
    if report.problems:
        raise typer.Exit(1)


@campaign_app.command("send")
def campaign_send(campaign_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Queue what is due now (inside each candidate's window) and deliver email and SMS at once;
    a running server delivers the rest (Telegram, WeChat) and the retries."""
    from bot.campaigns.delivery import EmailSender, HttpSmsGateway, SmsSender
    from bot.outbox import Outbox

    config = settings()

    async def work(service: Any) -> str:
        report = await service.run_due(campaign_id)
        outbox = Outbox(service.db, config.outbox)
        if config.campaigns.smtp.host:
            outbox.register("email", EmailSender(config.campaigns.smtp, service.contact))
        if config.campaigns.sms.gateway_url:
            outbox.register("sms", SmsSender(HttpSmsGateway(config.campaigns.sms), service.contact))
        sent = failed = 0
        while True:
            delivery = await outbox.deliver_due()
            sent, failed = sent + delivery.sent, failed + delivery.failed
            if not delivery.sent:
                break
        queued = ", ".join(f"{k} {v}" for k, v in sorted(report.queued.items())) or "nothing due"
        return f"queued: {queued}; sent now: {sent}; given up: {failed}; unreachable: {report.unreachable}"

    typer.echo(_campaign_call(config, work))


@campaign_app.command("status")
def campaign_status(campaign_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """The campaign's counts and its messages by kind and delivery state, as JSON."""
    import json

    status = _campaign_call(settings(), lambda service: service.status(campaign_id))
    typer.echo(json.dumps(status, indent=2, ensure_ascii=False))


@campaign_app.command("list")
def campaign_list() -> None:
    """Every campaign: id, state, role, name, candidates, sent, opened, completed, failed, unreachable."""
    from bot.campaigns.overview import overview

    async def work(service: Any) -> list[str]:
        lines = ["id\tstate\trole\tname\tcandidates\tsent\topened\tcompleted\tfailed\tunreachable"]
        for campaign in await service.campaigns():
            found = await overview(service, campaign.id or 0)
            lines.append(
                f"{campaign.id}\t{campaign.state}\t{campaign.role}\t{campaign.name}\t{found.candidates}\t"
                f"{found.sent}\t{found.opened}\t{found.completed}\t{found.failed}\t{found.unreachable_count}"
            )
        return lines

    for line in _campaign_call(settings(), work):
        typer.echo(line)


def _campaign_state(campaign_id: int, state: str) -> None:
    campaign = _campaign_call(settings(), lambda service: service.set_state(campaign_id, state))
    typer.echo(f"{campaign.id}\t{campaign.state}\t{campaign.name}")


@campaign_app.command("pause")
def campaign_pause(campaign_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Pause a campaign: nothing more goes out until it is resumed."""
    _campaign_state(campaign_id, "paused")


@campaign_app.command("resume")
def campaign_resume(campaign_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Resume a paused campaign."""
    _campaign_state(campaign_id, "active")


@ehr_app.command("import")
def ehr_import(files: Annotated[list[Path], typer.Argument(help="CSV or JSON exports")]) -> None:
    """Import scored exemplar answers or employee records; bad rows are reported, the rest imported.

    Names and contact data are never stored; record and employee ids are replaced by a keyed hash
    ($INTERVIEWER_ID_KEY). Importing the same file twice changes nothing.
    """
    from bot.ehr import import_export
    from bot.secrets import SecretError, id_key
    from knowledge.ehr import ExportError

    config = settings()
    try:
        key = id_key(config.cache_dir.parent)
    except SecretError as exc:
        typer.echo(f"interviewer: {exc}", err=True)
        raise typer.Exit(2) from exc

    async def run() -> int:
        db, catalog = await _catalog(config)
        failed = 0
        try:
            flows = {role.role: await catalog.flow(role.flow_version_id) for role in catalog.roles}
            for path in files:
                try:
                    report = await import_export(db, path, id_key=key, flows=flows)
                except (ExportError, OSError) as exc:
                    typer.echo(str(exc) if isinstance(exc, ExportError) else f"{path}: {exc}")
                    failed += 1
                    continue
                for line in report.lines():
                    typer.echo(line)
        finally:
            await db.dispose()
        return failed

    if asyncio.run(run()):
        raise typer.Exit(1)


@ehr_app.command("weights")
def ehr_weights(
    role: Annotated[str, typer.Argument(help="role id")],
    accept: Annotated[bool, typer.Option(help="write the derived weights into the role's flow file")] = False,
) -> None:
    """Print the role's competency model (derived from imported employee records)."""
    from bot.ehr import competency_model
    from knowledge.competency_model import apply_weights_to_flow_text

    config = settings()

    async def run() -> None:
        db, catalog = await _catalog(config)
        try:
            info = next((r for r in catalog.roles if r.role == role), None)
            if info is None:
                typer.echo(
                    f"unknown role {role!r}; published: {', '.join(r.role for r in catalog.roles)}", err=True
                )
                raise typer.Exit(1)
            model = await competency_model(db, await catalog.flow(info.flow_version_id))
            typer.echo(model.report())
            if accept:
                path = config.flows_dir / f"{role}.yml"
                text = apply_weights_to_flow_text(path.read_text(encoding="utf-8"), model.as_flow_weights())
                path.write_text(text, encoding="utf-8")
                published = await catalog.publish_text(text, str(path))
                typer.echo(f"{path}: weights accepted; published {role} v{published.version}")
        finally:
            await db.dispose()

    asyncio.run(run())


async def _catalog(config: Settings) -> tuple[Any, Any]:
    from bot.catalog import FlowCatalog
    from bot.store.db import Database

    db = Database(config.database_url)
    await asyncio.to_thread(db.migrate)
    catalog = FlowCatalog(db)
    await catalog.refresh()
    return db, catalog


@bench_app.command("scoring")
def bench_scoring(
    data: Annotated[Path, typer.Option(help="JSONL rows of human-scored answers")],
    protocol: Annotated[str, typer.Option(help="loo or unseen-question")] = "loo",
    out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
) -> None:
    """Score human-scored answers and print agreement with the human scores."""
    from scoring import benchmark

    argv = ["--data", str(data), "--protocol", protocol]
    if out is not None:
        argv += ["--out", str(out)]
    raise typer.Exit(benchmark.main(argv))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
