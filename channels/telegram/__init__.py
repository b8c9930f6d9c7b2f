"""The Telegram channel (python-telegram-bot): a webhook in the app, or polling for development.

``channels.telegram.channel.TelegramChannel`` is the ``interviewer.channels`` plug-in; ``cli`` is the
``interviewer telegram`` command. This module imports neither the Bot API library nor the app, so
that the ``interviewer`` command starts fast.
"""

from channels.telegram.commands import cli

__all__ = ["cli"]
