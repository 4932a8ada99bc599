"""Areas a mediator or staffer names on the command line, checked against the gazetteers.

A session for "Nowhereville" or a campaign to "district:Nowhere" would reach nobody and say
nothing; the name is checked where residents' own answers are checked (``flows/areas``), the
stored spelling is used, and a close spelling is suggested.
"""

from __future__ import annotations

from pathlib import Path

from engage.config import Settings
from engage.errors import UserError
from engage.flow.areas import Gazetteer, load_gazetteer


def gazetteers(settings: Settings) -> list[Gazetteer]:
    folder = Path(settings.flows_dir) / "areas"
    return [load_gazetteer(path) for path in sorted(folder.glob("*.yaml"))]


def known_place(settings: Settings, name: str, *, districts: bool = True,
                neighbourhoods: bool = True) -> str:
    """The stored spelling of a district and/or neighbourhood ``name``, or a one-line
    ``UserError`` naming the known districts (and a close spelling, when there is one)."""
    wanted = name.strip().casefold()
    places = gazetteers(settings)
    suggestion = None
    for gazetteer in places:
        if districts:
            for district in gazetteer.districts:
                if district.casefold() == wanted:
                    return district
        if neighbourhoods:
            match = gazetteer.match(name)
            if match is not None and not match.typo and match.zip is None:
                return match.neighbourhood
            if match is not None and match.typo:
                suggestion = match.neighbourhood
    kind = ("district or neighbourhood" if districts and neighbourhoods
            else "district" if districts else "neighbourhood")
    hint = f" (did you mean {suggestion}?)" if suggestion else ""
    known = sorted({d for g in places for d in g.districts})
    count = sum(len(g.neighbourhoods) for g in places)
    where = (f"; neighbourhoods: the {count} in {Path(settings.flows_dir) / 'areas'}"
             if neighbourhoods else "")
    raise UserError(f"unknown {kind} {name.strip()!r}{hint}. Known districts: "
                    f"{', '.join(known)}{where}")
