""""All that apply" by buttons: a multi_choice keyboard toggles options and sends on Done.

The engine gives a multi_choice question one button per option (value ``multi:<n>``, or
``multi:<n>!`` for an exclusive option such as "None") and a Done button (``multi:done``).
A press on an option only redraws the keyboard with a visible tick (nothing is stored: the
resident has not answered yet); Done sends the ticked numbers as the typed reply "1 3" would
be sent, so the engine parses, validates and records it exactly as it does for typing.

The ticks live in the keyboard itself (Telegram returns the message, keyboard included, with
every press), so nothing is kept on the server; the last keyboard drawn per message is also
remembered in memory so that two quick presses, whose snapshots both predate the first
redraw, still both count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from engage.channels.telegram_updates import ButtonPress, PressReplies
from engage.flow.events import MULTI_DONE, MULTI_PREFIX

TICK = "✅ "
_REMEMBERED = 2048  # keyboards kept in memory (a few hundred bytes each)


def is_toggle(value: str) -> bool:
    """An option of an "all that apply" keyboard (not its Done)."""
    return value.startswith(MULTI_PREFIX) and value != MULTI_DONE


def is_done(value: str) -> bool:
    return value == MULTI_DONE


def _value_of(button: InlineKeyboardButton) -> str:
    data = button.callback_data or ""
    _, _, value = data.partition("=")
    return value


def _ticked(button: InlineKeyboardButton) -> bool:
    return button.text.startswith(TICK)


def _with_tick(button: InlineKeyboardButton, on: bool) -> InlineKeyboardButton:
    label = button.text.removeprefix(TICK)
    return button.model_copy(update={"text": TICK + label if on else label})


def toggled(markup: InlineKeyboardMarkup, value: str) -> InlineKeyboardMarkup:
    """The keyboard after pressing option ``value``: its tick flips; ticking an exclusive
    option clears the others, and ticking any other clears the exclusive ones."""
    pressed = next((b for row in markup.inline_keyboard for b in row if _value_of(b) == value),
                   None)
    turning_on = pressed is not None and not _ticked(pressed)
    exclusive = value.endswith("!")
    rows: list[list[InlineKeyboardButton]] = []
    for row in markup.inline_keyboard:
        new_row: list[InlineKeyboardButton] = []
        for button in row:
            own = _value_of(button)
            if own == value:
                button = _with_tick(button, turning_on)
            elif turning_on and is_toggle(own) and (exclusive or own.endswith("!")):
                button = _with_tick(button, False)
            new_row.append(button)
        rows.append(new_row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def ticked_reply(markup: InlineKeyboardMarkup) -> str:
    """The reply Done sends: the ticked options' numbers, "1 3" ("" when none is ticked)."""
    numbers = [
        _value_of(b).removeprefix(MULTI_PREFIX).rstrip("!")
        for row in markup.inline_keyboard
        for b in row
        if is_toggle(_value_of(b)) and _ticked(b)
    ]
    return " ".join(numbers)


class KeyboardMemory:
    """The last keyboard drawn on each (chat, message), newest kept (bounded)."""

    def __init__(self, size: int = _REMEMBERED) -> None:
        self._size = size
        self._boards: OrderedDict[tuple[int, int], InlineKeyboardMarkup] = OrderedDict()

    def get(self, chat_id: int, message_id: int,
            shown: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
        return self._boards.get((chat_id, message_id), shown)

    def put(self, chat_id: int, message_id: int, markup: InlineKeyboardMarkup) -> None:
        key = (chat_id, message_id)
        self._boards[key] = markup
        self._boards.move_to_end(key)
        while len(self._boards) > self._size:
            self._boards.popitem(last=False)

    def forget(self, chat_id: int, message_id: int) -> None:
        self._boards.pop((chat_id, message_id), None)


async def multi_press(
    keyboards: KeyboardMemory,
    press: ButtonPress,
    replies: PressReplies,
    choose_first: Callable[[], Awaitable[str]],
) -> str | None:
    """An option toggles its tick and redraws the keyboard (None: nothing to submit yet);
    Done gives the ticked options as the reply to submit, or, when none is ticked, answers
    the press with ``choose_first()`` and submits nothing."""
    chat_id, message_id = press.chat_id, press.message_id
    markup = keyboards.get(chat_id, message_id, press.keyboard)
    if markup is None:
        await replies.settle(None)
        return None
    if is_done(press.value):
        reply = ticked_reply(markup)
        if not reply:
            await replies.answer(await choose_first())
            return None
        keyboards.forget(chat_id, message_id)
        return reply
    redrawn = toggled(markup, press.value)
    keyboards.put(chat_id, message_id, redrawn)
    await replies.answer(None)
    await replies.redraw(redrawn)
    return None
