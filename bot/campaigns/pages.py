"""The campaign pages of HR's workspace, for schedulers (and admins): campaigns (list, create with a
CSV of candidates, show with counts and problems, pause, resume, end, add candidates), their message
templates (edit, preview, reset) and the next round's interview slots. Server-rendered with the
workspace's layout (``bot/hr/templates/base.html``); every form carries the session's CSRF token
(checked by `bot.hr.auth`). And the candidates' page to pick a next-round slot (``/slots/<token>``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from bot.campaigns.contacts import ContactKeyError
from bot.campaigns.overview import overview
from bot.campaigns.schemas import CHANNELS, CampaignCreate
from bot.campaigns.service import CampaignError, CampaignService
from bot.campaigns.slots import NextRounds, SlotCreate, SlotError, local_time
from bot.campaigns.templates import (
    KINDS,
    LANGUAGES,
    PARTS,
    SAMPLE,
    TemplateProblemError,
    check_parts,
    render_parts,
)
from bot.hr.auth import AuthError, Principal, require_role
from bot.hr.i18n import HTML_LANG, reader_of
from bot.hr.i18n import install as install_i18n

Scheduler = Annotated[Principal, Depends(require_role("scheduler", page=True))]
MAX_CSV_BYTES = 5_000_000
REMINDER_FIELDS = {
    "not_started": "reminder_not_started",
    "before_expiry": "reminder_before_expiry",
    "paused": "reminder_paused",
}

templates = Jinja2Templates(
    env=Environment(
        loader=ChoiceLoader([PackageLoader("bot.campaigns", "html"), PackageLoader("bot.hr", "templates")]),
        autoescape=select_autoescape(),
        auto_reload=False,
    )
)
install_i18n(templates.env)  # the campaign pages and the workspace's layout in the reader's language


def render(
    request: Request, name: str, who: Principal | None, status: int = 200, **context: Any
) -> HTMLResponse:
    reader = reader_of(who.user if who else None, request.headers.get("accept-language"))
    page = {"who": who, "csrf": who.csrf if who else "", "reader": reader, "lang": HTML_LANG[reader.language]}
    return templates.TemplateResponse(request, name, {**page, **context}, status_code=status)


def _errors_of(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _csv_of(form: FormData) -> str | None:
    """The uploaded CSV's text (None when no file was chosen); raises CampaignError when unusable."""
    upload = form.get("csv")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise CampaignError(413, f"the CSV is larger than {MAX_CSV_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CampaignError(422, "the CSV must be UTF-8 (save it as 'CSV UTF-8')") from exc


def campaign_spec(form: FormData) -> CampaignCreate:
    """The create form as the API's body (ValidationError names the field)."""
    reminders = []
    for kind, name in REMINDER_FIELDS.items():
        hours = _text(form, name)
        if hours:
            reminders.append({"kind": kind, "hours": hours})
    values: dict[str, Any] = {
        "name": _text(form, "name"),
        "role": _text(form, "role"),
        "window_start": _text(form, "window_start") or "09:00",
        "window_end": _text(form, "window_end") or "20:00",
        "expires_hours": _text(form, "expires_hours") or 14 * 24,
        "reminders": reminders,
        "channels": [c for c in form.getlist("channels") if isinstance(c, str)],
        "keep_contacts_days": _text(form, "keep_contacts_days") or 30,
    }
    return CampaignCreate.model_validate(values)


def campaign_pages_router(service: CampaignService) -> APIRouter:
    """The scheduler's pages under ``/hr/campaigns`` and ``/hr/slots``."""
    router = APIRouter(prefix="/hr", include_in_schema=False)
    rounds = service.rounds

    def roles() -> list[tuple[str, str]]:
        return sorted((role, titles.get("en") or role) for role, titles in service.roles().items())

    async def form_page(
        request: Request, who: Principal, error: str | None, status: int, form: Any
    ) -> HTMLResponse:
        return render(
            request,
            "campaign_new.html",
            who,
            status=status,
            error=error,
            roles=roles(),
            channels=CHANNELS,
            installed=set(service.channels()),
            form=form,
        )

    @router.get("/campaigns")
    async def campaigns_page(request: Request, who: Scheduler) -> HTMLResponse:
        listed = []
        for campaign in reversed(await service.campaigns()):
            found = await overview(service, campaign.id or 0)
            listed.append(found)
        return render(request, "campaigns.html", who, campaigns=listed, titles=dict(roles()))

    @router.get("/campaigns/new")
    async def new_page(request: Request, who: Scheduler) -> HTMLResponse:
        return await form_page(request, who, None, 200, {})

    @router.post("/campaigns")
    async def create(request: Request, who: Scheduler) -> Response:
        async with request.form() as form:  # closes the upload's temporary file
            return await _create(request, who, form)

    async def _create(request: Request, who: Principal, form: FormData) -> Response:
        shown = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf"}
        shown["channels"] = [c for c in form.getlist("channels") if isinstance(c, str)]  # type: ignore[assignment]
        try:
            text = await _csv_of(form)
            spec = campaign_spec(form)
            if text is not None:
                service.require_key()
            campaign = await service.create(spec)
        except ValidationError as exc:
            return await form_page(request, who, _errors_of(exc), 422, shown)
        except (CampaignError, ContactKeyError) as exc:
            status = exc.status if isinstance(exc, CampaignError) else 503
            return await form_page(request, who, str(exc), status, shown)
        message = None
        if text is not None:
            message = await _add_csv(campaign.id or 0, text)
        return await _show(request, who, campaign.id or 0, message)

    async def _add_csv(campaign_id: int, text: str) -> tuple[str, list[Any]]:
        """A line for the page and the CSV's problems (by line)."""
        try:
            report = await service.add_csv(campaign_id, text)
        except (CampaignError, ContactKeyError) as exc:
            return f"The CSV was not added: {exc}", []
        return (
            f"{report.added} candidate(s) added, {report.known} already in the campaign, "
            f"{len(report.problems)} row(s) with problems.",
            report.problems,
        )

    async def _show(
        request: Request,
        who: Principal,
        campaign_id: int,
        added: tuple[str, list[Any]] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        try:
            found = await overview(service, campaign_id)
        except CampaignError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        except ContactKeyError as exc:
            raise AuthError(503, str(exc), page=True) from exc
        return render(
            request,
            "campaign.html",
            who,
            status=status,
            view=found,
            added=added,
            title=dict(roles()).get(found.campaign.role, found.campaign.role),
            kinds=KINDS,
            languages=LANGUAGES,
        )

    @router.get("/campaigns/{campaign_id}")
    async def show(request: Request, campaign_id: int, who: Scheduler) -> HTMLResponse:
        return await _show(request, who, campaign_id)

    @router.post("/campaigns/{campaign_id}/candidates")
    async def add_candidates(request: Request, campaign_id: int, who: Scheduler) -> HTMLResponse:
        try:
            async with request.form() as form:  # closes the upload's temporary file
                text = await _csv_of(form)
        except CampaignError as exc:
            return await _show(request, who, campaign_id, (str(exc), []), status=exc.status)
        if text is None:
            return await _show(request, who, campaign_id, ("Choose a CSV file first.", []), status=422)
        return await _show(request, who, campaign_id, await _add_csv(campaign_id, text))

    @router.post("/campaigns/{campaign_id}/state")
    async def change(request: Request, campaign_id: int, who: Scheduler) -> Response:
        form = await request.form()
        action = _text(form, "action")
        states = {"pause": "paused", "resume": "active", "end": "ended"}
        if action not in states:
            raise AuthError(422, "choose pause, resume or end", page=True)
        try:
            await service.set_state(campaign_id, states[action])
        except CampaignError as exc:
            return await _show(request, who, campaign_id, (str(exc), []), status=exc.status)
        return RedirectResponse(f"/hr/campaigns/{campaign_id}", status_code=303)

    # --- templates ---------------------------------------------------------------------------------

    async def _template_page(
        request: Request,
        who: Principal,
        campaign_id: int,
        kind: str,
        language: str,
        parts: dict[str, str] | None = None,
        message: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        try:
            campaign = await service.get(campaign_id)
        except CampaignError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        saved = service.templates.source(kind, language, campaign.templates)
        shown = parts or saved
        preview = None
        if error is None:
            try:
                check_parts(shown)
                titles = service.roles().get(campaign.role, {})
                preview = render_parts(shown, {**SAMPLE, "role": titles.get(language) or campaign.role})
            except TemplateProblemError as exc:
                error, status = f"template {exc}", 422
        return render(
            request,
            "campaign_template.html",
            who,
            status=status,
            campaign=campaign,
            kind=kind,
            language=language,
            kinds=KINDS,
            languages=LANGUAGES,
            parts=shown,
            edited=bool((campaign.templates.get(kind) or {}).get(language)),
            preview=preview,
            message=message,
            error=error,
            variables=sorted(SAMPLE),
        )

    @router.get("/campaigns/{campaign_id}/templates/{kind}/{language}")
    async def template_page(
        request: Request, campaign_id: int, kind: str, language: str, who: Scheduler
    ) -> HTMLResponse:
        _known(kind, language)
        return await _template_page(request, who, campaign_id, kind, language)

    @router.post("/campaigns/{campaign_id}/templates/{kind}/{language}")
    async def template_submit(
        request: Request, campaign_id: int, kind: str, language: str, who: Scheduler
    ) -> HTMLResponse:
        _known(kind, language)
        form = await request.form()
        action = _text(form, "action") or "preview"
        parts = {part: str(form.get(part) or "").replace("\r\n", "\n") for part in PARTS}
        try:
            campaign = await service.get(campaign_id)
        except CampaignError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        edits = {k: dict(v) for k, v in campaign.templates.items()}
        if action == "reset":
            edits.get(kind, {}).pop(language, None)
            await service.set_templates(campaign_id, edits)
            return await _template_page(
                request, who, campaign_id, kind, language, message="Back to the default."
            )
        try:
            check_parts(parts)
        except TemplateProblemError as exc:
            return await _template_page(
                request, who, campaign_id, kind, language, parts, error=f"template {exc}", status=422
            )
        if action != "save":
            return await _template_page(
                request, who, campaign_id, kind, language, parts, message="Preview below (not saved)."
            )
        edits.setdefault(kind, {})[language] = parts
        await service.set_templates(campaign_id, edits)
        return await _template_page(request, who, campaign_id, kind, language, message="Saved.")

    # --- slots -------------------------------------------------------------------------------------

    async def _slots_page(
        request: Request, who: Principal, error: str | None = None, status: int = 200, form: Any = None
    ) -> HTMLResponse:
        slots = await rounds.slots()
        waiting = await rounds.bookings()
        return render(
            request,
            "slots.html",
            who,
            status=status,
            slots=slots,
            waiting=waiting,
            roles=roles(),
            error=error,
            form=form or {},
            local=local_time,
        )

    @router.get("/slots")
    async def slots_page(request: Request, who: Scheduler) -> HTMLResponse:
        return await _slots_page(request, who)

    @router.post("/slots")
    async def add_slot(request: Request, who: Scheduler) -> Response:
        form = await request.form()
        shown = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf"}
        zone = _text(form, "time_zone") or "UTC"
        try:
            spec = SlotCreate.model_validate(
                {
                    "role": _text(form, "role"),
                    "starts_at": _starts(_text(form, "starts_at"), zone),
                    "minutes": _text(form, "minutes") or 60,
                    "capacity": _text(form, "capacity") or 1,
                    "location": _text(form, "location"),
                    "time_zone": zone,
                }
            )
            await rounds.create_slot(spec)
        except ValidationError as exc:
            return await _slots_page(request, who, _errors_of(exc), 422, shown)
        except (SlotError, ValueError) as exc:
            return await _slots_page(request, who, str(exc), getattr(exc, "status", 422), shown)
        return RedirectResponse("/hr/slots", status_code=303)

    @router.post("/slots/{slot_id}/delete")
    async def delete_slot(request: Request, slot_id: int, who: Scheduler) -> Response:
        try:
            await rounds.delete_slot(slot_id)
        except SlotError as exc:
            return await _slots_page(request, who, str(exc), exc.status)
        return RedirectResponse("/hr/slots", status_code=303)

    return router


def _known(kind: str, language: str) -> None:
    if kind not in KINDS or language not in LANGUAGES:
        raise AuthError(404, f"no template {kind}/{language}", page=True)


def _starts(value: str, zone: str) -> datetime:
    """A ``datetime-local`` field (``2027-01-12T10:00``) in ``zone``."""
    try:
        local = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("starts_at: give the date and time, e.g. 2027-01-12T10:00") from exc
    try:
        return local.replace(tzinfo=ZoneInfo(zone)) if local.tzinfo is None else local
    except (KeyError, ValueError) as exc:
        raise ValueError(
            f"time_zone: unknown time zone {zone!r} (use an IANA name, e.g. Asia/Shanghai)"
        ) from exc


# --- the candidates' page ----------------------------------------------------------------------------

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def slot_page_router(rounds: NextRounds) -> APIRouter:
    """``/slots/<token>``: a candidate's next-round invitation: pick, move or cancel a time, and
    download the calendar file. The token is the credential (a keyed hash; nothing stored)."""
    router = APIRouter(prefix="/slots", include_in_schema=False)

    async def page(
        request: Request, token: str, message: str | None = None, status: int = 200
    ) -> HTMLResponse:
        invitation_id = rounds.invitation_of(token)
        found = await rounds.view(invitation_id) if invitation_id is not None else None
        if found is None:
            return HTMLResponse(
                "<!doctype html><title>Not found</title><p>This link is not valid. / 此链接无效。</p>",
                status_code=404,
                headers=_NO_STORE,
            )
        response = templates.TemplateResponse(
            request,
            "slot_pick.html",
            {
                "view": found,
                "token": token,
                "message": message,
                "zh": found.invitation.language == "zh",
                "local": lambda at: local_time(at, found.invitation.time_zone, found.invitation.language),
            },
            status_code=status,
        )
        response.headers.update(_NO_STORE)
        return response

    @router.get("/{token}")
    async def show(request: Request, token: str) -> HTMLResponse:
        return await page(request, token)

    @router.post("/{token}")
    async def act(request: Request, token: str) -> HTMLResponse:
        invitation_id = rounds.invitation_of(token)
        if invitation_id is None:
            return await page(request, token)
        form = await request.form()
        action = _text(form, "action")
        if action == "cancel":
            pick = await rounds.cancel(invitation_id)
        else:
            slot = _text(form, "slot_id")
            if not slot.isdigit() or len(slot) > 12:
                return await page(request, token, "unknown", 422)
            pick = await rounds.pick(invitation_id, int(slot))
        ok = pick.outcome in {"booked", "rescheduled", "unchanged", "cancelled"}
        return await page(request, token, pick.outcome, 200 if ok else 409)

    @router.get("/{token}/interview.ics")
    async def ics(token: str) -> Response:
        invitation_id = rounds.invitation_of(token)
        text = await rounds.calendar_of(invitation_id) if invitation_id is not None else None
        if text is None:
            return Response("no booking", status_code=404, media_type="text/plain", headers=_NO_STORE)
        return Response(
            text,
            media_type="text/calendar; charset=utf-8",
            headers={**_NO_STORE, "Content-Disposition": 'attachment; filename="interview.ics"'},
        )

    return router
