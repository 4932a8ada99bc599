"""TelegramService on its own: parsed presses and lines in, decisions out (no aiogram, no DB).

The end-to-end tests beside this one run the same logic through aiogram and the webhook; these
pin the service's decisions with plain callables for the runtime and a recorder for the screen.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from engage.channels.base import Inbound
from engage.channels.telegram_updates import ButtonPress
from engage.telegram.multi_select import TICK
from engage.telegram.residents import Resident
from engage.telegram.service import TelegramService
from engage.telegram.texts import ALREADY_ANSWERED, CHOOSE_FIRST, ONLY_TEXT, UNKNOWN_COMMAND

CHAT = 4242
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Screen:
    """Records what the service asks the channel to show."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.answers: list[str | None] = []
        self.settled: list[str | None] = []
        self.redrawn: list[InlineKeyboardMarkup] = []

    async def say(self, text: str) -> None:
        self.said.append(text)

    async def answer(self, notice: str | None) -> None:
        self.answers.append(notice)

    async def settle(self, notice: str | None) -> None:
        self.settled.append(notice)

    async def redraw(self, keyboard: InlineKeyboardMarkup) -> None:
        self.redrawn.append(keyboard)


def _service(
    received: list[Inbound],
    *,
    stale: bool = False,
    resident: Resident | None = None,
) -> TelegramService:
    return TelegramService(
        handle=received.append,
        is_stale=lambda chat_id, outbox_id: stale,
        resident=lambda chat_id: resident,
        clock=lambda: NOW,
    )


def _multi_keyboard(ticked: tuple[str, ...] = ()) -> InlineKeyboardMarkup:
    def button(label: str, value: str) -> InlineKeyboardButton:
        text = TICK + label if value in ticked else label
        return InlineKeyboardButton(text=text, callback_data=f"7={value}")

    return InlineKeyboardMarkup(inline_keyboard=[
        [button("Parks", "multi:1"), button("Roads", "multi:2")],
        [button("None", "multi:3!")],
        [button("Done", "multi:done")],
    ])


def _press(value: str, keyboard: InlineKeyboardMarkup | None = None) -> ButtonPress:
    return ButtonPress(chat_id=CHAT, message_id=99, outbox_id=7, value=value,
                       keyboard=keyboard, accessible=True, update_id=501, language_hint="es")


async def test_a_press_that_counts_is_submitted_as_a_reply_and_settled() -> None:
    received: list[Inbound] = []
    screen = Screen()
    await _service(received).press(_press("yes"), screen)
    assert [(i.text, i.provider_id, i.address, i.received_at) for i in received] == [
        ("yes", "tg:501", str(CHAT), NOW)
    ]
    assert screen.settled == [None]


async def test_a_stale_press_is_refused_in_the_residents_language() -> None:
    received: list[Inbound] = []
    screen = Screen()
    service = _service(received, stale=True, resident=Resident(language="en", opted_out=False))
    await service.press(_press("yes"), screen)
    assert received == []
    assert screen.settled == [ALREADY_ANSWERED["en"]]  # chosen language beats the app's "es"


async def test_ticking_redraws_and_done_submits_the_ticked_numbers() -> None:
    received: list[Inbound] = []
    screen = Screen()
    service = _service(received)
    await service.press(_press("multi:2", _multi_keyboard()), screen)
    assert received == []
    assert screen.answers == [None]
    (redrawn,) = screen.redrawn
    assert [b.text for b in redrawn.inline_keyboard[0]] == ["Parks", TICK + "Roads"]
    await service.press(_press("multi:done", _multi_keyboard()), screen)  # stale snapshot
    assert [i.text for i in received] == ["2"]


async def test_done_with_nothing_ticked_asks_for_a_choice() -> None:
    received: list[Inbound] = []
    screen = Screen()
    await _service(received).press(_press("multi:done", _multi_keyboard()), screen)
    assert received == []
    assert screen.answers == [CHOOSE_FIRST["es"]]


async def test_unsupported_input_gets_one_line_unless_opted_out() -> None:
    screen = Screen()
    await _service([]).unsupported("media", CHAT, "es", screen)
    await _service([]).unsupported("command", CHAT, None, screen)
    assert screen.said == [ONLY_TEXT["es"], UNKNOWN_COMMAND["en"]]
    gone = _service([], resident=Resident(language="es", opted_out=True))
    await gone.unsupported("media", CHAT, "es", screen)
    assert len(screen.said) == 2


async def test_blocking_the_bot_reports_the_chat_and_time() -> None:
    blocked: list[tuple[str, datetime]] = []
    service = TelegramService(handle=lambda inbound: None,
                              on_blocked=lambda chat, now: blocked.append((chat, now)),
                              clock=lambda: NOW)
    await service.blocked(CHAT)
    assert blocked == [(str(CHAT), NOW)]
