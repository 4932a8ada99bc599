"""The Baltimore gazetteer: nine districts, real neighbourhoods, aliases, typos and ZIPs."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_helpers import FLOWS_DIR

from engage.flow.areas import AreaMatch, GazetteerError, gazetteer_from_dict, load_gazetteer

GAZ = load_gazetteer(FLOWS_DIR / "areas" / "baltimore.yaml")


def test_districts_and_size() -> None:
    assert GAZ.districts == ("Central", "Eastern", "Northeastern", "Northern", "Northwestern",
                             "Western", "Southwestern", "Southern", "Southeastern")
    assert len(GAZ.neighbourhoods) >= 60
    assert {h.district for h in GAZ.neighbourhoods} == set(GAZ.districts)
    assert all(code.startswith("212") for code in GAZ.zips)


@pytest.mark.parametrize(
    ("text", "hood", "district"),
    [("Canton", "Canton", "Southeastern"), ("canton!", "Canton", "Southeastern"),
     ("fed hill", "Federal Hill", "Southern"), ("I live in Hamden", "Hampden", "Northern"),
     ("Sandtown", "Sandtown-Winchester", "Western"), ("Mt. Vernon", "Mount Vernon", "Central"),
     ("pigtown", "Washington Village", "Southern"), ("Belair Edisn", "Belair-Edison",
                                                     "Northeastern"),
     ("park hieghts", "Park Heights", "Northwestern"), ("Highlandtown, Baltimore MD",
                                                        "Highlandtown", "Southeastern"),
     ("vivo en Fells Point", "Fells Point", "Southeastern"), ("IRVINGTON", "Irvington",
                                                              "Southwestern")],
)
def test_names_aliases_and_typos(text: str, hood: str, district: str) -> None:
    found = GAZ.match(text)
    assert found is not None and (found.neighbourhood, found.district) == (hood, district)


@pytest.mark.parametrize(("text", "typo"), [
    ("Hampden", False), ("I live in Hampden", False), ("fed hill", False), ("hamden", True),
    ("I live in Hamden", True), ("park hieghts", True), ("Belair Edisn", False)])
def test_close_spellings_are_marked_for_confirmation(text: str, typo: bool) -> None:
    found = GAZ.match(text)
    assert found is not None and found.typo is typo


def test_zip_codes() -> None:
    assert GAZ.match("21224") == AreaMatch("Canton", "Southeastern", "21224")
    assert GAZ.match("my zip is 21230-1234") == AreaMatch("Federal Hill", "Southern", "21230")
    assert GAZ.match("21299") is None  # a ZIP we do not know is not guessed
    assert GAZ.match("90210") is None


@pytest.mark.parametrize("text", ["", "Narnia", "somewhere", "😀", "x" * 2000, "\x00", "123"])
def test_unknown_places(text: str) -> None:
    assert GAZ.match(text) is None


def test_round_trip() -> None:
    again = gazetteer_from_dict(GAZ.to_dict())
    assert again.to_dict() == GAZ.to_dict()


def test_bad_gazetteer_problems(tmp_path: Path) -> None:
    with pytest.raises(GazetteerError) as info:
        gazetteer_from_dict({
            "districts": ["A"],
            "neighbourhoods": [{"name": "X", "district": "B"},
                               {"name": "Y", "district": "A", "aliases": ["z"]},
                               {"name": "Z", "district": "A"}],
            "zips": {"1234": "Y", "21201": "Nowhere"},
        })
    locations = [loc for loc, _ in info.value.problems]
    assert locations == ["neighbourhoods[0].district", "neighbourhoods[2]", "zips.1234",
                         "zips.21201"]
