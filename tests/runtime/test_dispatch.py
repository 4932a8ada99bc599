"""The runtime's dispatch tables cover every keyword kind and every engine event, and the
fixed texts resolve per channel and language."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from engage.compliance import KeywordKind
from engage.config import Settings
from engage.flow.events import Event
from engage.runtime import events, keywords
from engage.runtime.texts import TEXTS, fixed_text, opt_out_questions


def test_every_keyword_kind_has_exactly_one_handler() -> None:
    assert set(keywords._HANDLERS) == set(get_args(KeywordKind))


def test_every_engine_event_has_exactly_one_handler() -> None:
    assert set(events._HANDLERS) == set(get_args(Event))


def _settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, ENGAGE_DATA_DIR=str(tmp_path),  # type: ignore[call-arg]
                    ENGAGE_ENV="test", ENGAGE_SECRET_KEY="s" * 40)


def test_fixed_texts_per_channel_and_language(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sms = fixed_text(settings, "sms", "help", "es")
    telegram = fixed_text(settings, "telegram", "help", "es")
    assert sms.startswith(settings.program_name) and "ALTO" in sms
    assert "/stop" in telegram and "ALTO" not in telegram
    # a language with no text of its own reads English; a channel without its own, SMS's
    assert fixed_text(settings, "sms", "media", "fr") == TEXTS["media"]["en"]
    assert fixed_text(settings, "telegram", "media", "es") == TEXTS["media"]["es"]


def test_the_clarification_is_recognised_in_every_language(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    asked = opt_out_questions(settings)
    assert fixed_text(settings, "sms", "opt_out_ask", "en") in asked
    assert fixed_text(settings, "sms", "opt_out_ask", "es") in asked
    assert len(asked) == 2
