"""The permission table and area limits."""

from __future__ import annotations

import pytest

from engage.accounts.areas import load_known_areas
from engage.accounts.roles import PERMISSIONS, Permission, Role, can, in_areas, parse_role
from engage.config import DEFAULT_FLOWS_DIR
from engage.storage.tables.accounts import User


def _user(role: str, **kw: object) -> User:
    return User(id=1, email="x@city.example", role=role, **kw)


def test_admin_can_everything_staff_and_mediator_their_share() -> None:
    assert all(can(_user("admin"), p) for p in Permission)
    staff = {p for p in Permission if can(_user("staff"), p)}
    assert staff == {Permission.CAMPAIGNS, Permission.FLOWS_READ, Permission.SUMMARIES,
                     Permission.EXPORTS, Permission.PUBLIC_REPORT, Permission.AUDIT_STATUS,
                     Permission.DELIBERATION_OWN, Permission.DELIBERATION_ALL}
    mediator = {p for p in Permission if can(_user("mediator"), p)}
    assert mediator == {Permission.SESSIONS_OWN, Permission.PUBLIC_REPORT,
                        Permission.DELIBERATION_OWN}
    assert set(PERMISSIONS) == set(Role)


def test_disabled_unknown_role_and_no_user_can_nothing() -> None:
    assert not any(can(_user("admin", disabled=True), p) for p in Permission)
    assert not any(can(_user("superuser"), p) for p in Permission)
    assert not can(None, Permission.PUBLIC_REPORT)


def test_parse_role_names_the_valid_ones() -> None:
    assert parse_role(" Staff ") is Role.STAFF
    with pytest.raises(ValueError, match="admin, staff or mediator"):
        parse_role("owner")


def test_areas_limit_by_neighbourhood_or_its_district() -> None:
    known = load_known_areas(DEFAULT_FLOWS_DIR)
    hood = next(iter(known.district_of))
    district = known.district_of[hood]
    limited = _user("mediator", areas_json=f'["{district}"]')
    assert in_areas(limited, hood, known.district_of)
    assert in_areas(limited, district.upper(), known.district_of)
    other = next(d for d in set(known.district_of.values()) if d != district)
    assert not in_areas(limited, other, known.district_of)
    assert in_areas(_user("mediator"), other)  # no areas: no limit


def test_known_areas_resolve_canonical_names_or_list_them() -> None:
    known = load_known_areas(DEFAULT_FLOWS_DIR)
    assert known.resolve(["hampden", "Hampden"]) == ["Hampden"]
    pattern = r"known areas: districts .*Northern.*; neighbourhoods .*Hampden"
    with pytest.raises(ValueError, match=pattern):
        known.resolve(["Atlantis"])
