"""The areas accounts may be limited to: the neighbourhoods and districts of every gazetteer
shipped in ``flows/areas/`` (the same names the flows and dialogue sessions use)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engage.flow.areas import load_gazetteer


@dataclass(frozen=True)
class KnownAreas:
    """Canonical names by lower-cased name, and each neighbourhood's district."""

    canonical: dict[str, str]
    district_of: dict[str, str]  # lower-cased neighbourhood -> district

    def names(self) -> list[str]:
        return sorted(set(self.canonical.values()), key=str.lower)

    def districts(self) -> list[str]:
        return sorted(set(self.district_of.values()), key=str.lower)

    def resolve(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """The canonical spelling of each name; ``ValueError`` lists the known areas."""
        unknown = [n for n in names if n.strip().lower() not in self.canonical]
        if unknown:
            districts = self.districts()
            hoods = [n for n in self.names() if n not in districts]
            raise ValueError(f"unknown area {', '.join(repr(u) for u in unknown)}; known areas: "
                             f"districts {', '.join(districts)}; neighbourhoods "
                             + ", ".join(hoods))
        out: list[str] = []
        for name in names:
            value = self.canonical[name.strip().lower()]
            if value not in out:
                out.append(value)
        return out


def load_known_areas(flows_dir: Path) -> KnownAreas:
    """Every district and neighbourhood of the gazetteers in ``flows_dir/areas``."""
    canonical: dict[str, str] = {}
    district_of: dict[str, str] = {}
    for path in sorted((flows_dir / "areas").glob("*.yaml")):
        gazetteer = load_gazetteer(path)
        for district in gazetteer.districts:
            canonical.setdefault(district.lower(), district)
        for hood in gazetteer.neighbourhoods:
            canonical.setdefault(hood.name.lower(), hood.name)
            district_of.setdefault(hood.name.lower(), hood.district)
    return KnownAreas(canonical, district_of)
