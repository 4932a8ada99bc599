"""Segment counting (GSM-7 / UCS-2, extension characters, smart encoding) and safe splitting."""

from __future__ import annotations

from engage.channels.segments import MAX_BODY_CHARS, measure, smart_encode, split_body


def test_plain_gsm_fits_160_in_one_segment() -> None:
    assert measure("a" * 160) == measure("a" * 160)
    assert measure("a" * 160).segments == 1
    assert measure("a" * 161).segments == 2
    assert measure("a" * 306).segments == 2
    assert measure("a" * 307).segments == 3
    assert measure("hello").encoding == "GSM-7"


def test_extension_characters_cost_two_septets() -> None:
    info = measure("€" * 80)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 160, 1)
    assert measure("€" * 81).segments == 2


def test_escape_pair_never_straddles_a_segment() -> None:
    # 152 plain septets then a 2-septet char: it cannot use the 153rd septet, so it moves on.
    text = "a" * 152 + "€" + "a" * 152
    info = measure(text)
    assert info.units == 306
    assert info.segments == 3  # naive ceil(306/153) would say 2


def test_one_accent_outside_gsm_makes_ucs2() -> None:
    info = measure("¿Cómo se siente en su barrio?")
    assert info.encoding == "UCS-2"
    assert measure("ó" * 70).segments == 1
    assert measure("ó" * 71).segments == 2
    assert measure("ñé¿ü").encoding == "GSM-7"  # these are in the GSM table


def test_emoji_counts_two_units_and_is_not_split() -> None:
    info = measure("🙂" * 35)
    assert (info.encoding, info.units, info.segments) == ("UCS-2", 70, 1)
    # 66 units then an emoji: the pair cannot straddle the 67-unit boundary.
    assert measure("x" * 66 + "🙂" + "x" * 66).segments == 3


def test_smart_encoding_keeps_curly_quotes_gsm() -> None:
    assert smart_encode("it’s “fine” – ok…") == "it's \"fine\" - ok..."
    assert measure("it’s fine").encoding == "GSM-7"
    assert measure("it’s fine", smart_encoded=False).encoding == "UCS-2"


def test_short_body_is_not_split() -> None:
    assert split_body("hello there") == ["hello there"]
    assert split_body("") == []


def test_long_body_splits_at_word_boundaries() -> None:
    words = " ".join(f"word{i}" for i in range(600))
    parts = split_body(words)
    assert len(parts) > 1
    assert all(len(p) <= MAX_BODY_CHARS for p in parts)
    assert " ".join(parts) == words  # nothing lost, no word cut
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)


def test_long_word_is_cut_without_breaking_surrogate_pairs() -> None:
    text = "🙂" * 1000  # 2,000 UTF-16 units, no spaces
    parts = split_body(text, limit=1600)
    assert "".join(parts) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 1600 for p in parts)
    for part in parts:
        part.encode("utf-8")  # a lone surrogate would raise here


def test_the_flow_validator_counts_what_the_channel_bills() -> None:
    from engage.flow.gsm import segment_info

    straddling_escape = "a" * 152 + "€" + "a" * 152  # 306 septets; the € pair opens segment 2
    for text in ("hello", "a" * 161, "Sí " * 30, "🙂" * 40, straddling_escape):
        billed = measure(text, smart_encoded=False)
        info = segment_info(text)
        assert (info.encoding, info.units, info.segments) == (
            billed.encoding, billed.units, billed.segments), text
    assert segment_info(straddling_escape).segments == 3
    assert segment_info("Sí, ¿qué tal? 🙂").non_gsm == "í🙂"
