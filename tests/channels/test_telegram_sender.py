"""TelegramSender against the fake Bot API: real aiogram requests, Telegram's real failure modes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from engage.channels.base import Outbound, OutboundButton
from engage.channels.telegram import (
    CALLBACK_DATA_MAX_BYTES,
    TelegramSender,
    build_keyboard,
    build_telegram_sender,
    decode_callback,
    encode_callback,
    split_text,
)
from engage.config import Settings
from engage.errors import UserError
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456:TEST-token"
CHAT = 777001


@pytest.fixture
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
async def sender(api: FakeTelegramAPI) -> AsyncIterator[TelegramSender]:
    settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, ENGAGE_TELEGRAM_API_URL=api.url)
    made = build_telegram_sender(settings)
    yield made
    await made.close()


LIKERT = tuple(OutboundButton(label=str(n), value=str(n)) for n in range(1, 6))


async def test_plain_message_goes_to_the_configured_api(
    api: FakeTelegramAPI, sender: TelegramSender
) -> None:
    result = await sender.send(
        Outbound(outbox_id=9, channel="telegram", address=str(CHAT), text="Hi")
    )
    assert result.ok and result.provider_id is not None
    (call,) = api.calls_to("sendMessage")
    assert call.token == TOKEN
    assert int(call.params["chat_id"]) == CHAT and call.params["text"] == "Hi"
    assert "reply_markup" not in call.params


async def test_buttons_become_an_inline_keyboard(
    api: FakeTelegramAPI, sender: TelegramSender
) -> None:
    message = Outbound(
        outbox_id=31, channel="telegram", address=str(CHAT), text="How safe?", buttons=LIKERT
    )
    assert (await sender.send(message)).ok
    markup = api.calls_to("sendMessage")[0].params["reply_markup"]
    assert [[b["text"] for b in row] for row in markup["inline_keyboard"]] == [
        ["1", "2", "3", "4", "5"]
    ]
    datas = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    assert [decode_callback(d).value for d in datas] == ["1", "2", "3", "4", "5"]  # type: ignore[union-attr]
    assert {decode_callback(d).outbox_id for d in datas} == {31}  # type: ignore[union-attr]


def test_long_labels_get_a_row_each() -> None:
    buttons = (
        OutboundButton("Called for help", "called_for_help"),
        OutboundButton("Stopped by police", "stopped_by_police"),
    )
    markup = build_keyboard(5, buttons)
    assert [len(row) for row in markup.inline_keyboard] == [1, 1]


@pytest.mark.parametrize(
    "value",
    ["yes", "ñ" * 40, "x" * 200, "community_event_with_a_really_long_value_name_0123456789"],
)
def test_callback_data_fits_64_bytes_and_round_trips(value: str) -> None:
    data = encode_callback(2**31, 3, value)
    assert len(data.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES
    choice = decode_callback(data)
    assert choice is not None and choice.outbox_id == 2**31
    if choice.value is None:
        assert choice.index == 3  # too long: the label is read back from the keyboard instead
    else:
        assert choice.value == value


@pytest.mark.parametrize("data", [None, "", "hello", "x=1", "12#x", "#3"])
def test_foreign_callback_data_is_not_decoded(data: str | None) -> None:
    assert decode_callback(data) is None


async def test_blocked_bot_reports_opt_out(api: FakeTelegramAPI, sender: TelegramSender) -> None:
    api.faults.blocked_chats.add(CHAT)
    result = await sender.send(Outbound(1, "telegram", str(CHAT), "Hi"))
    assert not result.ok and result.opted_out and result.permanent
    assert result.error_code == "403"


async def test_flood_control_carries_retry_after(
    api: FakeTelegramAPI, sender: TelegramSender
) -> None:
    api.faults.retry_after.append(17)
    result = await sender.send(Outbound(1, "telegram", str(CHAT), "Hi"))
    assert not result.ok and not result.permanent and not result.opted_out
    assert result.retry_after == 17
    assert (await sender.send(Outbound(1, "telegram", str(CHAT), "Hi"))).ok


async def test_server_error_is_transient(api: FakeTelegramAPI, sender: TelegramSender) -> None:
    api.faults.server_errors = 1
    result = await sender.send(Outbound(1, "telegram", str(CHAT), "Hi"))
    assert not result.ok and not result.permanent and result.retry_after is not None


async def test_unreachable_api_is_transient() -> None:
    settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, ENGAGE_TELEGRAM_API_URL="http://127.0.0.1:9")
    down = build_telegram_sender(settings)
    try:
        result = await down.send(Outbound(1, "telegram", str(CHAT), "Hi"))
    finally:
        await down.close()
    assert not result.ok and not result.permanent and result.retry_after is not None


async def test_bad_address_is_permanent(sender: TelegramSender) -> None:
    result = await sender.send(Outbound(1, "telegram", "+15551234567", "Hi"))
    assert not result.ok and result.permanent


async def test_long_body_is_split_with_keyboard_on_last_part(
    api: FakeTelegramAPI, sender: TelegramSender
) -> None:
    body = ("word " * 1500).strip()
    message = Outbound(4, "telegram", str(CHAT), body, buttons=LIKERT[:2])
    assert (await sender.send(message)).ok
    calls = api.calls_to("sendMessage")
    assert len(calls) == 2
    assert "reply_markup" not in calls[0].params and "reply_markup" in calls[1].params
    assert " ".join(str(c.params["text"]) for c in calls) == body


def test_split_text_respects_limit() -> None:
    parts = split_text("a" * 10000)
    assert all(len(p) <= 4096 for p in parts) and "".join(parts) == "a" * 10000


def test_missing_or_malformed_token_is_a_user_error() -> None:
    with pytest.raises(UserError):
        build_telegram_sender(Settings(TELEGRAM_BOT_TOKEN=None))
    with pytest.raises(UserError):
        build_telegram_sender(Settings(TELEGRAM_BOT_TOKEN="not a token"))
