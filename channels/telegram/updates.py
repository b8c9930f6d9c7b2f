"""The parts of a Telegram Update the channel reads, with the types the Bot API documents.

python-telegram-bot builds its objects from whatever JSON it is given (a ``"text": 12345`` becomes
an int, a message without ``chat`` a message whose chat is None), so an update is checked here
first: one whose fields have the wrong type is acknowledged and ignored rather than failing later
with a 500, which Telegram would deliver again and again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _User(_Part):
    id: StrictInt
    language_code: StrictStr | None = None


class _Chat(_Part):
    id: StrictInt
    type: StrictStr


class _Message(_Part):
    message_id: StrictInt
    chat: _Chat
    from_user: _User | None = Field(None, alias="from")
    text: StrictStr | None = None


class _CallbackQuery(_Part):
    id: StrictStr
    from_user: _User = Field(alias="from")
    message: _Message | None = None
    data: StrictStr | None = None


class _Update(_Part):
    update_id: StrictInt
    message: _Message | None = None
    edited_message: _Message | None = None
    callback_query: _CallbackQuery | None = None


def well_formed(data: dict[str, Any]) -> bool:
    """True when every field of ``data`` that the channel reads has the type Telegram documents."""
    try:
        _Update.model_validate(data)
    except ValidationError:
        return False
    return True
