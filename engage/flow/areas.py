"""Gazetteers: match a resident's reply (name, alias, small typo or ZIP) to a neighbourhood
and its police district.

A gazetteer is plain data (see flows/areas/baltimore.yaml). The loader embeds it into every
flow that asks an ``area`` question, so a run keeps matching against the version it started
with and the engine never reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engage.flow.answers import fold, match_key

DEFAULT_GAZETTEER = Path(__file__).resolve().parents[2] / "flows" / "areas" / "baltimore.yaml"

_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
_LEADS = (
    "i live in", "i live on", "i live near", "i m in", "im in", "i am in", "live in", "near",
    "in", "the", "around", "by", "vivo en", "vivo cerca de", "estoy en", "cerca de", "en", "el",
    "la",
)
_TAILS = ("baltimore md", "baltimore city", "baltimore", "md", "area", "neighborhood",
          "neighbourhood", "barrio")


@dataclass(frozen=True)
class AreaMatch:
    """The neighbourhood a reply names and the police district it belongs to."""

    neighbourhood: str
    district: str
    zip: str | None = None
    typo: bool = False  # matched only as a close spelling: worth confirming with the resident


@dataclass(frozen=True)
class Neighbourhood:
    name: str
    district: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """Districts, neighbourhoods (with aliases) and ZIP codes of one city."""

    name: str
    districts: tuple[str, ...]
    neighbourhoods: tuple[Neighbourhood, ...]
    zips: dict[str, str]
    _keys: dict[str, int] = field(init=False, repr=False)
    _by_name: dict[str, Neighbourhood] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys: dict[str, int] = {}
        for index, hood in enumerate(self.neighbourhoods):
            for key in (hood.name, *hood.aliases):
                folded = fold(key)
                if folded:
                    keys.setdefault(folded, index)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_by_name", {h.name: h for h in self.neighbourhoods})

    def match(self, text: str) -> AreaMatch | None:
        """The neighbourhood named by ``text`` (name, alias, small typo, or a known ZIP)."""
        zip_match = _ZIP.search(text[:200])
        if zip_match:
            hood_name = self.zips.get(zip_match.group(1))
            hood = self._by_name.get(hood_name) if hood_name else None
            if hood is not None:
                return AreaMatch(hood.name, hood.district, zip_match.group(1))
            return None
        f = fold(text)
        if not f or len(f) > 120:
            return None
        for candidate in _candidates(f):
            index = match_key(candidate, self._keys, cutoff=0.84)
            if index is not None:
                hood = self.neighbourhoods[index]
                return AreaMatch(hood.name, hood.district, typo=self._is_typo(candidate))
        return None

    def _is_typo(self, candidate: str) -> bool:
        """No name or alias is the reply or a phrase in it: the match was a close spelling."""
        if candidate in self._keys:
            return False
        padded = f" {candidate} "
        return not any(len(key) >= 3 and f" {key} " in padded for key in self._keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "districts": list(self.districts),
            "neighbourhoods": [
                {"name": h.name, "district": h.district, "aliases": list(h.aliases)}
                for h in self.neighbourhoods
            ],
            "zips": dict(sorted(self.zips.items())),
        }


def _candidates(f: str) -> list[str]:
    """The reply, and the reply without "I live in ..." / "... Baltimore" wrappers."""
    out = [f]
    stripped = f
    changed = True
    while changed:
        changed = False
        for lead in _LEADS:
            if stripped.startswith(lead + " "):
                stripped = stripped[len(lead) + 1 :]
                changed = True
        for tail in _TAILS:
            if stripped.endswith(" " + tail):
                stripped = stripped[: -len(tail) - 1]
                changed = True
    if stripped and stripped != f:
        out.append(stripped)
    return out


class GazetteerError(ValueError):
    """The gazetteer data is malformed; ``problems`` are (location, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{loc}: {msg}" for loc, msg in problems))
        self.problems = problems


def gazetteer_from_dict(data: Any, name: str = "") -> Gazetteer:
    """Build and check a gazetteer from plain data; raises GazetteerError with locations."""
    problems: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise GazetteerError([("(root)", "expected a mapping: districts, neighbourhoods, zips")])
    districts_raw = data.get("districts")
    if not isinstance(districts_raw, list) or not districts_raw:
        problems.append(("districts", "expected a non-empty list of district names"))
        districts_raw = []
    districts = tuple(str(d) for d in districts_raw)
    hoods: list[Neighbourhood] = []
    seen: dict[str, str] = {}
    raw_hoods = data.get("neighbourhoods")
    if not isinstance(raw_hoods, list) or not raw_hoods:
        problems.append(("neighbourhoods", "expected a non-empty list"))
        raw_hoods = []
    for i, item in enumerate(raw_hoods):
        loc = f"neighbourhoods[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append((loc, "expected a mapping with name, district and aliases"))
            continue
        district = item.get("district")
        if district not in districts:
            problems.append((f"{loc}.district", f"unknown district {district!r}"))
            continue
        aliases_raw = item.get("aliases") or []
        if not isinstance(aliases_raw, list):
            problems.append((f"{loc}.aliases", "expected a list of strings"))
            aliases_raw = []
        hood = Neighbourhood(item["name"], str(district), tuple(str(a) for a in aliases_raw))
        for key in (hood.name, *hood.aliases):
            folded = fold(key)
            owner = seen.get(folded)
            if owner is not None and owner != hood.name:
                problems.append((loc, f"name or alias {key!r} also belongs to {owner!r}"))
            seen[folded] = hood.name
        hoods.append(hood)
    names = {h.name for h in hoods}
    zips_raw = data.get("zips") or {}
    zips: dict[str, str] = {}
    if not isinstance(zips_raw, dict):
        problems.append(("zips", "expected a mapping of ZIP code -> neighbourhood"))
        zips_raw = {}
    for code, hood_name in zips_raw.items():
        code_s = str(code)
        if not re.fullmatch(r"\d{5}", code_s):
            problems.append((f"zips.{code_s}", "a ZIP code has five digits"))
        elif hood_name not in names:
            problems.append((f"zips.{code_s}", f"unknown neighbourhood {hood_name!r}"))
        else:
            zips[code_s] = str(hood_name)
    if problems:
        raise GazetteerError(problems)
    return Gazetteer(str(data.get("name") or name), districts, tuple(hoods), zips)


def load_gazetteer(path: str | Path = DEFAULT_GAZETTEER) -> Gazetteer:
    """Read a gazetteer YAML file (an I/O helper for callers outside the pure engine)."""
    p = Path(path)
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    return gazetteer_from_dict(data, p.stem)
