"""Reply parsing: as tolerant as a person, and never a crash."""

from __future__ import annotations

import pytest
from flow_helpers import shipped

from engage.flow import answers

KEYS = {"childcare": 0, "child care": 0, "interpretation": 1, "interpreter": 1, "ride": 2,
        "a ride": 2, "none": 3, "nothing": 3}


@pytest.mark.parametrize(
    "text",
    ["yes", "YES", "y", "Yeah!", "yep", "ok", "Okay.", "sí", "Si", "SI!!", "claro", "👍",
     "👍🏽", " yes please ", "Yes, I agree", "sure thing", "✅"],
)
def test_yes_variants(text: str) -> None:
    assert answers.parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text", ["no", "NO", "n", "nope", "Nah.", "no thanks", "👎", "no, gracias", "❌"]
)
def test_no_variants(text: str) -> None:
    assert answers.parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text", ["", "   ", "maybe", "no sé", "purple", "yes no", "🙂", "\x00\x07", "да"]
)
def test_unclear_yes_no_is_none(text: str) -> None:
    assert answers.parse_yes_no(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4", 4.0), (" 4 ", 4.0), ("4 - agree", 4.0), ("#3", 3.0), ("(2)", 2.0), ("4.", 4.0),
     ("four", 4.0), ("Cuatro", 4.0), ("diez", 10.0), ("I'm 34", 34.0), ("3,5", 3.5),
     ("about five", 5.0), ("-2", -2.0)],
)
def test_numbers(text: str, expected: float) -> None:
    assert answers.parse_number(text) == expected


@pytest.mark.parametrize("text", ["", "many", "🙂", "x" * 2000])
def test_not_a_number(text: str) -> None:
    assert answers.parse_number(text) is None


def test_int_in_range() -> None:
    assert answers.parse_int_in("5", 1, 5) == 5
    assert answers.parse_int_in("6", 1, 5) is None
    assert answers.parse_int_in("2.5", 1, 5) is None
    assert answers.parse_int_in("tres", 1, 5) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 0), ("2.", 1), ("3 - a ride", 2), ("C", 2), ("b", 1), ("Childcare", 0),
     ("CHILD CARE!", 0), ("chilcare", 0), ("interpeter", 1), ("I need a ride", 2),
     ("nothing", 3), ("four", 3)],
)
def test_choice(text: str, expected: int) -> None:
    assert answers.parse_choice(text, KEYS, 4) == expected


@pytest.mark.parametrize("text", ["", "9", "0", "z", "banana", "🙂🙂", "\x1b[31m"])
def test_choice_invalid(text: str) -> None:
    assert answers.parse_choice(text, KEYS, 4) is None


LANGUAGE = shipped("satisfaction").nodes["language"].question  # 1 English 2 Español
assert LANGUAGE is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("es", 1), ("ES", 1), ("español", 1), ("espanol", 1), ("Spanish", 1), ("espanl", 1),
     ("english", 0), ("Englsh", 0), ("en", 0), ("eng", 0), ("1", 0), ("2", 1), (" 2 ", 1),
     ("2 Español", 1)],
)
def test_language_choice(text: str, expected: int) -> None:
    assert LANGUAGE is not None
    assert answers.parse_choice(text, LANGUAGE.keys, len(LANGUAGE.options)) == expected


@pytest.mark.parametrize(
    "text", ["yes", "Yes!", "YES.", "si", "sí", "no", "ok", "yeah", "ens", "esa", "engl", "is"]
)
def test_language_choice_is_not_a_typo_of_a_short_synonym(text: str) -> None:
    """"yes" is one letter from "es": short synonyms match only as typed."""
    assert LANGUAGE is not None
    assert answers.parse_choice(text, LANGUAGE.keys, len(LANGUAGE.options)) is None


def test_short_keys_match_exactly_or_as_a_whole_word() -> None:
    keys = {"no": 0, "si": 1, "eng": 2, "none of these": 0}
    assert answers.match_key("no", keys) == 0
    assert answers.match_key("not", keys) is None
    assert answers.match_key("sin", keys) is None
    assert answers.match_key("engl", keys) is None
    assert answers.match_key("in eng please", keys) == 2
    assert answers.match_key("none of thse", keys) == 0  # a typo of a long key still matches


@pytest.mark.parametrize(("text", "expected"), [("noo", 0), ("NOOO!", 0), ("siii", 1),
                                                ("yesss", 2), ("nn", 0), ("yess", 2)])
def test_a_short_key_with_a_letter_held_down_is_the_same_word(text: str, expected: int) -> None:
    keys = {"no": 0, "n": 0, "si": 1, "yes": 2, "y": 2}
    assert answers.parse_choice(text, keys, 3) == expected
    assert answers.parse_choice("yees", {"yes": 0, "yees": 1}, 2) == 1  # as typed comes first


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 3", [0, 2]), ("1,3", [0, 2]), ("3, 1", [0, 2]), ("childcare and ride", [0, 2]),
     ("childcare y interpreter", [0, 1]), ("2", [1]), ("a ride", [2]), ("1 1", [0])],
)
def test_multi(text: str, expected: list[int]) -> None:
    assert answers.parse_multi(text, KEYS, 4) == expected


@pytest.mark.parametrize("text", ["", "1 9", "childcare and banana", ","])
def test_multi_invalid(text: str) -> None:
    assert answers.parse_multi(text, KEYS, 4) is None


@pytest.mark.parametrize(
    "text", ["skip", "SKIP", "Prefer not to say", "I'd rather not say", "saltar",
             "Prefiero no decir", "prefiero no responder", "pass"],
)
def test_skip_words(text: str) -> None:
    assert answers.is_skip(text)


def test_skip_is_not_an_answer() -> None:
    assert not answers.is_skip("skipping rope")
    assert not answers.is_skip("")


def test_text_cleaning() -> None:
    assert answers.parse_text("  more\tlights\x00 please\n", 50) == "more lights please"
    assert answers.parse_text("", 50) is None
    assert answers.parse_text("\x00\x01", 50) is None
    assert answers.parse_text("x" * 51, 50) is None


def test_fold_strips_accents_case_and_punctuation() -> None:
    assert answers.fold("¡Sí, Señor!") == "si senor"
    assert answers.fold("  Fell's   Point ") == "fell s point"
    assert answers.fold("👍🏾") == "👍"
