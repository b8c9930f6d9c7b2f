"""``/hr/api/campaigns``: campaigns for schedulers (HR's token), and the candidates' unsubscribe page.

Errors are JSON with a 4xx status (``{"error": ...}``); a missing contact key is 503 and says which
variable to set.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from bot.campaigns.contacts import ContactKeyError
from bot.campaigns.overview import as_json, overview
from bot.campaigns.schemas import (
    AddReport,
    CampaignCreate,
    CampaignPublic,
    CandidateIn,
    Preview,
    TemplateIn,
    TemplateOut,
)
from bot.campaigns.service import CampaignError, CampaignService, public
from bot.campaigns.slots import NextRounds, SlotCreate, SlotError, SlotPublic, slot_public
from bot.campaigns.templates import SAMPLE, Kind, TemplateProblemError, check_parts, render_parts
from bot.hr.auth import require_role

MAX_CSV_BYTES = 5_000_000
TemplateKind = Kind
Language = Literal["en", "zh"]


@asynccontextmanager
async def _errors() -> AsyncIterator[None]:
    try:
        yield
    except CampaignError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except ContactKeyError as exc:
        raise HTTPException(503, str(exc)) from exc
    except TemplateProblemError as exc:
        raise HTTPException(422, f"template {exc}") from exc


def campaign_router(service: CampaignService) -> APIRouter:
    router = APIRouter(
        prefix="/hr/api/campaigns", tags=["campaigns"], dependencies=[Depends(require_role("scheduler"))]
    )
    errors: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}, 503: {}}

    @router.post("", status_code=201, responses=errors)
    async def create(body: CampaignCreate) -> CampaignPublic:
        """Create a campaign for a published role: send window, expiry, reminder plan, channels."""
        async with _errors():
            return public(await service.create(body))

    @router.get("")
    async def campaigns() -> list[CampaignPublic]:
        return [public(c) for c in await service.campaigns()]

    @router.get("/{campaign_id}", responses=errors)
    async def status(campaign_id: int) -> dict[str, Any]:
        """The campaign and its counts: candidates, invited, started, completed, opted out, and
        messages by kind and delivery state (scheduled, sending, sent, failed, cancelled); and
        ``overview``: sent, opened (link used), started (past consent), completed, opted out,
        failed with reasons, unreachable (no channel of the campaign reaches them)."""
        async with _errors():
            found = await service.status(campaign_id)
            found["overview"] = as_json(await overview(service, campaign_id))
            return found

    @router.post("/{campaign_id}/candidates", responses=errors | {413: {}})
    async def add(campaign_id: int, body: Annotated[list[CandidateIn], Body(max_length=10_000)]) -> AddReport:
        """Add candidates; each gets a single-use invitation (web link, Telegram link, QR code)
        that the scheduler sends inside the window. Known external ids are reported, not added."""
        async with _errors():
            return await service.add(campaign_id, body)

    @router.post(
        "/{campaign_id}/candidates.csv",
        responses=errors | {413: {}},
        openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def add_csv(campaign_id: int, request: Request) -> AddReport:
        """Add candidates from a CSV body (``Content-Type: text/csv``; UTF-8): columns
        external_id, email, phone, wechat_openid, language, time_zone."""
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_CSV_BYTES:
                raise HTTPException(413, f"the CSV is larger than {MAX_CSV_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HTTPException(422, "the CSV must be UTF-8") from exc
        async with _errors():
            return await service.add_csv(campaign_id, text)

    @router.delete("/{campaign_id}/candidates/{member_id}", status_code=204, responses=errors)
    async def erase(campaign_id: int, member_id: int) -> Response:
        """Erase a candidate on request: contact data, queued messages and, if they started, the
        interview and everything else about them."""
        async with _errors():
            await service.erase_member(campaign_id, member_id)
        return Response(status_code=204)

    @router.get(
        "/{campaign_id}/candidates/{member_id}/qr.svg",
        responses=errors | {410: {}},
        response_class=Response,
    )
    async def qr(campaign_id: int, member_id: int, telegram: bool = False) -> Response:
        """The invitation as a QR code (SVG) for WeChat and posters; ``telegram=true`` for the
        Telegram deep link."""
        async with _errors():
            svg = await service.qr_svg(campaign_id, member_id, telegram=telegram)
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @router.get("/{campaign_id}/templates/{kind}/{language}", responses=errors)
    async def template(campaign_id: int, kind: TemplateKind, language: Language) -> TemplateOut:
        async with _errors():
            campaign = await service.get(campaign_id)
        parts = service.templates.source(kind, language, campaign.templates)
        edited = bool((campaign.templates.get(kind) or {}).get(language))
        return TemplateOut(kind=kind, language=language, edited=edited, **parts)

    @router.put("/{campaign_id}/templates/{kind}/{language}", responses=errors)
    async def edit(campaign_id: int, kind: TemplateKind, language: Language, body: TemplateIn) -> TemplateOut:
        """Replace parts of a template for this campaign (omitted parts keep the default); it must
        render with sample values."""
        parts = {k: v for k, v in body.model_dump().items() if v is not None}
        async with _errors():
            check_parts({**service.templates.source(kind, language), **parts})
            campaign = await service.get(campaign_id)
            templates = {k: dict(v) for k, v in campaign.templates.items()}
            templates.setdefault(kind, {})[language] = parts
            campaign = await service.set_templates(campaign_id, templates)
        merged = service.templates.source(kind, language, campaign.templates)
        return TemplateOut(kind=kind, language=language, edited=True, **merged)

    @router.post("/{campaign_id}/templates/{kind}/{language}/preview", responses=errors)
    async def preview(
        campaign_id: int, kind: TemplateKind, language: Language, body: TemplateIn | None = None
    ) -> Preview:
        """The template rendered with sample values: the campaign's, or ``body``'s parts over it."""
        async with _errors():
            campaign = await service.get(campaign_id)
            parts = service.templates.source(kind, language, campaign.templates)
            if body is not None:
                parts.update({k: v for k, v in body.model_dump().items() if v is not None})
            check_parts(parts)
            titles = service.roles().get(campaign.role, {})
            rendered = render_parts(parts, {**SAMPLE, "role": titles.get(language) or campaign.role})
        return Preview(subject=rendered.subject, text=rendered.text, html=rendered.html)

    @router.post("/{campaign_id}/{action}", responses=errors)
    async def change(campaign_id: int, action: Literal["pause", "resume", "end"]) -> CampaignPublic:
        """Pause (nothing goes out), resume, or end the campaign (its contact data is purged
        ``keep_contacts_days`` later). Declared last: its path would match the others'."""
        state = {"pause": "paused", "resume": "active", "end": "ended"}[action]
        async with _errors():
            return public(await service.set_state(campaign_id, state))

    return router


def slot_router(rounds: NextRounds) -> APIRouter:
    """``/hr/api/slots``: the next round's interview slots per role (the scheduler's)."""
    router = APIRouter(
        prefix="/hr/api/slots", tags=["campaigns"], dependencies=[Depends(require_role("scheduler"))]
    )
    errors: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}

    @router.get("")
    async def slots(role: str | None = None, past: bool = False) -> list[SlotPublic]:
        """Slots, soonest first (upcoming only unless ``past=true``), with their bookings."""
        return [slot_public(s) for s in await rounds.slots(role, upcoming=not past)]

    @router.post("", status_code=201, responses=errors)
    async def create(body: SlotCreate) -> SlotPublic:
        """Add a slot for a role: when (with a time zone), how long, how many candidates, where."""
        try:
            return slot_public(await rounds.create_slot(body))
        except SlotError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.delete("/{slot_id}", status_code=204, responses=errors)
    async def delete(slot_id: int) -> Response:
        """Remove a slot nobody booked (409 once someone has)."""
        try:
            await rounds.delete_slot(slot_id)
        except SlotError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        return Response(status_code=204)

    @router.get("/invitations/counts")
    async def counts(role: str | None = None) -> dict[str, dict[str, int]]:
        """Slot invitations per role and state: ``invited`` (waiting to pick), ``booked``, ``cancelled``."""
        return await rounds.bookings(role)

    return router


_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">{body}</body></html>"""


def unsubscribe_router(service: CampaignService) -> APIRouter:
    """The link in every campaign message: GET shows a button (mail scanners follow links),
    POST opts out (also RFC 8058's one-click ``List-Unsubscribe-Post``)."""
    router = APIRouter(prefix="/campaigns", tags=["campaigns"], include_in_schema=False)

    @router.get("/unsubscribe/{token}")
    async def ask(token: str) -> HTMLResponse:
        body = (
            f'<form method="post" action="{html.escape(token)}"><p>Stop all messages about this '
            "interview invitation? / 不再接收本次面试邀请的任何消息？</p>"
            '<button type="submit">Unsubscribe / 退订</button></form>'
        )
        return HTMLResponse(_PAGE.format(lang="en", title="Unsubscribe", body=body), headers=_NO_STORE)

    @router.post("/unsubscribe/{token}")
    async def unsubscribe(token: str) -> HTMLResponse:
        try:
            done = await service.opt_out_link(token)
        except ContactKeyError as exc:
            raise HTTPException(503, "unsubscribing is unavailable; please try again later") from exc
        if not done:
            raise HTTPException(404, "this unsubscribe link is not valid")
        body = (
            "<p>You will receive no more messages about this invitation.</p>"
            "<p>您将不再收到本次邀请的消息。</p>"
        )
        return HTMLResponse(_PAGE.format(lang="en", title="Unsubscribed", body=body), headers=_NO_STORE)

    return router


_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
