"""``interviewer telegram``: long polling for development, and registering the webhook.

Imported by the ``interviewer`` command at start-up, so the Bot API library and the app are
imported only inside the commands.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

if TYPE_CHECKING:
    from telegram import Bot

    from bot.settings import Settings

WEBHOOK_PATH = "/telegram/webhook"

COMMANDS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("start", "start, or open an invitation"),
        ("interview", "start an interview: /interview ROLE"),
        ("practice", "practise for a role: /practice ROLE"),
        ("retry", "in practice: answer the last question again"),
        ("progress", "your progress across practice sessions"),
        ("repeat", "hear the question again"),
        ("skip", "skip this question"),
        ("pause", "take a break"),
        ("resume", "continue where you left off"),
        ("human", "ask for a person at HR"),
        ("lang", "English or Chinese: /lang en, /lang zh"),
        ("withdraw", "withdraw your application"),
        ("delete_my_data", "erase everything about you"),
        ("help", "what I understand"),
    ],
    "zh": [
        ("start", "开始，或打开邀请"),
        ("interview", "开始面试：/interview 岗位"),
        ("practice", "模拟练习：/practice 岗位"),
        ("retry", "模拟练习中重新回答上一题"),
        ("progress", "查看练习进步"),
        ("repeat", "重听题目"),
        ("skip", "跳过这道题"),
        ("pause", "暂停"),
        ("resume", "从暂停处继续"),
        ("human", "联系 HR 工作人员"),
        ("lang", "英文或中文：/lang en，/lang zh"),
        ("withdraw", "撤回申请"),
        ("delete_my_data", "删除你的所有数据"),
        ("help", "我能听懂的指令"),
    ],
}
"""The command menu Telegram shows, by the user's app language ("en" is also the default)."""

cli = typer.Typer(
    help="The Telegram channel: polling for development, webhook registration for production.",
    no_args_is_help=False,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"interviewer: {message}", err=True)
    return typer.Exit(2)


@cli.callback(invoke_without_command=True)
def telegram(
    context: typer.Context,
    polling: Annotated[
        bool, typer.Option("--polling", help="talk to Telegram by long polling (development; no webhook)")
    ] = False,
    load_samples: Annotated[
        bool, typer.Option("--load-samples/--no-load-samples", help="publish the flows in flows_dir at start")
    ] = True,
) -> None:
    """Run the bot on Telegram by polling (``--polling``), or manage its webhook."""
    if context.invoked_subcommand is not None:
        return
    if not polling:
        typer.echo(context.get_help())
        raise typer.Exit(0)
    from bot.cli import settings

    _run_polling(settings(), load_samples=load_samples)


def _run_polling(config: Settings, *, load_samples: bool) -> None:
    from bot.settings import ConfigError
    from channels.telegram.config import TelegramSecrets, bot_token, load_settings

    try:  # before loading the models, which takes a while
        load_settings(config.channels.section("telegram"))
        bot_token(TelegramSecrets())
    except ConfigError as exc:
        raise _fail(str(exc)) from exc

    from bot.runtime import Runtime
    from channels.telegram.channel import TelegramChannel

    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry the bot token

    async def run() -> None:
        runtime = Runtime(config, load_samples=load_samples)
        channel = TelegramChannel(runtime.conversations, config, mode="polling")
        await runtime.start()
        try:
            await channel.poll()
        finally:
            await channel.close()
            await runtime.stop()

    from telegram.error import Conflict, InvalidToken

    try:
        asyncio.run(run())
    except InvalidToken as exc:  # its message quotes the token: not repeated here
        raise _fail("Telegram refused TELEGRAM_BOT_TOKEN; copy it again from @BotFather") from exc
    except Conflict as exc:
        raise _fail(f"another process is polling this bot ({exc}); stop it first") from exc


def webhook_url(url: str) -> str:
    """The full webhook address for ``url`` (a site's base URL gets ``/telegram/webhook``).

    Raises:
        ValueError: not an https URL (Telegram posts only to https).
    """
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"{url!r}: Telegram only posts to https:// URLs, e.g. https://example.org")
    path = parts.path.rstrip("/")
    if not path.endswith(WEBHOOK_PATH):
        path += WEBHOOK_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


async def register_webhook(bot: Bot, url: str, secret: str) -> None:
    """Point Telegram at ``url`` with the secret it must send, and publish the command menus."""
    from telegram import BotCommand

    from channels.telegram.channel import ALLOWED_UPDATES

    async with bot:
        await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        for language, commands in COMMANDS.items():
            menu = [BotCommand(command, description) for command, description in commands]
            # English is the menu for every app language without its own
            await bot.set_my_commands(menu, language_code=None if language == "en" else language)


@cli.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="the app's public https address (or the full webhook URL)")],
) -> None:
    """Register the webhook with TELEGRAM_WEBHOOK_SECRET and set the command menus (English, Chinese)."""
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    from bot.cli import settings
    from bot.settings import ConfigError
    from channels.telegram.config import TelegramSecrets, bot_token, load_settings, webhook_secret

    config = settings()
    try:
        address = webhook_url(url)
        options = load_settings(config.channels.section("telegram"))
        secrets = TelegramSecrets()
        bot = Bot(bot_token(secrets), base_url=options.base_url)
        secret = webhook_secret(secrets)
    except (ValueError, ConfigError) as exc:
        raise _fail(str(exc)) from exc
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(register_webhook(bot, address, secret))
    except InvalidToken as exc:  # its message quotes the token: not repeated here
        raise _fail("Telegram refused TELEGRAM_BOT_TOKEN; copy it again from @BotFather") from exc
    except TelegramError as exc:
        raise _fail(f"Telegram refused the webhook: {type(exc).__name__}: {exc.message}") from exc
    typer.echo(f"webhook set: {address}")
