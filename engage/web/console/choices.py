"""What a staffer or mediator may choose from: real areas, districts, languages and flows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engage.accounts.areas import KnownAreas, load_known_areas
from engage.flow.areas import load_gazetteer

LANGUAGES = (("en", "English"), ("es", "Spanish"))


@dataclass(frozen=True)
class AreaChoices:
    districts: tuple[str, ...]
    neighbourhoods: tuple[str, ...]


@lru_cache(maxsize=4)
def area_choices(flows_dir: Path) -> AreaChoices:
    """Districts and neighbourhoods of every gazetteer in ``flows/areas``, sorted."""
    districts: set[str] = set()
    hoods: set[str] = set()
    for path in sorted((flows_dir / "areas").glob("*.yaml")):
        gazetteer = load_gazetteer(path)
        districts.update(gazetteer.districts)
        hoods.update(h.name for h in gazetteer.neighbourhoods)
    return AreaChoices(tuple(sorted(districts)), tuple(sorted(hoods)))


@lru_cache(maxsize=4)
def known_areas(flows_dir: Path) -> KnownAreas:
    return load_known_areas(flows_dir)


def audience_options(flows_dir: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Audience specs (as ``engage campaign create --audience`` takes them), grouped."""
    areas = area_choices(flows_dir)
    return [
        ("Everyone", [("all", "All residents who agreed to surveys")]),
        ("Districts", [(f"district:{d}", d) for d in areas.districts]),
        ("Neighbourhoods", [(f"area:{n}", n) for n in areas.neighbourhoods]),
        ("Languages", [(f"language:{code}", name) for code, name in LANGUAGES]),
    ]
