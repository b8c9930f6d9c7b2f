"""The workspace in the reader's language and time zone.

Languages
    English (the templates' own words) and Chinese (``zh``), from gettext catalogs in
    ``bot/hr/locale/<language>/LC_MESSAGES/messages.po``. The ``.po`` files are the source: they are
    compiled with Babel in memory when first used, so a fresh clone needs no build step (``make
    messages`` extracts new strings from the templates and marked Python code and updates them).
    A user's choice is stored on their account (`HrUser.language`); without one, and before signing
    in, the browser's ``Accept-Language`` decides.

Time zones
    Each user may set an IANA zone (`HrUser.time_zone`); dates are shown, and date filters read,
    in that zone (UTC without one).
"""

from __future__ import annotations

import functools
import gettext
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from importlib import resources
from io import BytesIO
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from bot.store.models import HrUser

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "中文"}
"""Each language in its own words, for the switch."""
HTML_LANG: dict[str, str] = {"en": "en", "zh": "zh-CN"}


def N_(message: str) -> str:  # noqa: N802 (gettext's conventional name)
    """Mark a message for translation where it is written; it is translated where it is shown."""
    return message


ROLE_NAMES = (N_("admin"), N_("recruiter"), N_("scheduler"), N_("viewer"))
"""Shown translated (``_(user.role)``); listed here so that extraction finds them."""


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for ``language``, compiled from its ``.po`` in memory; English has none."""
    if language not in LANGUAGES or language == "en":
        return gettext.NullTranslations()
    source = resources.files("bot.hr").joinpath("locale", language, "LC_MESSAGES", "messages.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(accept_language: str | None) -> Language:
    """The first of our languages in an ``Accept-Language`` header, by its q-values; English by default."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return "en"


@functools.cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def valid_zone(name: str) -> bool:
    return name in set(time_zones())


def user_zone(user: HrUser | None) -> tzinfo:
    """The zone a user reads dates in: their setting, else UTC."""
    if user is not None and user.time_zone and valid_zone(user.time_zone):
        return ZoneInfo(user.time_zone)
    return UTC


def day_start(day: date, zone: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, as a UTC moment (for date filters)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def day_range(first: date | None, last: date | None, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    """A date filter's bounds as UTC moments: from the start of ``first`` to before the day after
    ``last`` in ``zone``; a bound at the calendar's very edge (year 1, year 9999) is no bound."""

    def start(day: date | None, days: int = 0) -> datetime | None:
        if day is None:
            return None
        try:
            return day_start(day + timedelta(days=days), zone)
        except OverflowError:
            return None

    return start(first), start(last, 1)


@dataclass(frozen=True)
class Reader:
    """Who reads a page: their language and time zone."""

    language: Language
    zone: tzinfo

    @property
    def translations(self) -> gettext.NullTranslations:
        return translations(self.language)

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)


def reader_of(user: HrUser | None, accept_language: str | None) -> Reader:
    language = user.language if user is not None and user.language in LANGUAGES else None
    return Reader(language=language or negotiate(accept_language), zone=user_zone(user))


# --- Jinja2 ---------------------------------------------------------------------------------------


def _catalog(context: Context) -> gettext.NullTranslations:
    reader = context.get("reader")
    return reader.translations if isinstance(reader, Reader) else gettext.NullTranslations()


@pass_context
def _gettext(context: Context, message: str, /, **variables: Any) -> str:
    text = _catalog(context).gettext(message)
    if context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 (our own catalog's words; the variables are escaped)
    return text % variables


@pass_context
def _ngettext(context: Context, singular: str, plural: str, number: int, /, **variables: Any) -> str:
    variables.setdefault("num", number)
    text = _catalog(context).ngettext(singular, plural, number)
    if context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 (our own catalog's words; the variables are escaped)
    return text % variables


@pass_context
def _pgettext(context: Context, msgctxt: str, message: str, /, **variables: Any) -> str:
    """``_`` for a word whose translation depends on where it stands (``msgctxt`` tells which)."""
    text = _catalog(context).pgettext(msgctxt, message)
    if context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 (our own catalog's words; the variables are escaped)
    return text % variables


@pass_context
def _when(context: Context, moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A moment in the reader's time zone (``-`` for none)."""
    if moment is None:
        return "–"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    reader = context.get("reader")
    zone = reader.zone if isinstance(reader, Reader) else UTC
    return moment.astimezone(zone).strftime(fmt)


def install(env: Environment) -> None:
    """Give ``env`` the i18n extension with per-page catalogs (the page's ``reader`` chooses) and
    the ``when`` filter for dates in the reader's zone."""
    env.add_extension("jinja2.ext.i18n")
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(gettext=_gettext, _=_gettext, ngettext=_ngettext, pgettext=_pgettext)
    env.filters["when"] = _when
