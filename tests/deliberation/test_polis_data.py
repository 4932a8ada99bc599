"""On real Polis conversations (CC BY 4.0, The Computational Democracy Project) when the
development data is beside the repository; skipped cleanly when it is not (CI elsewhere)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engage.deliberation.analysis import analyze
from engage.deliberation.polis_format import read_export, write_export
from engage.deliberation.votes import build_matrix

DATA = next((p / "shared" / "data" / "polis" for p in Path(__file__).resolve().parents
             if (p / "shared" / "data" / "polis").is_dir()), None)
pytestmark = pytest.mark.skipif(DATA is None, reason="no Polis data beside the repository")
SMALL = "brexit-consensus"


def test_groups_agree_with_polis_on_a_real_conversation() -> None:
    assert DATA is not None
    export = read_export(DATA / SMALL)
    out = [c.id for c in export.comments if c.moderated == -1]
    result = analyze(build_matrix(export.votes, moderated_out=out))
    people = [p for p, g in export.groups.items() if g is not None]
    ours = [result.membership.get(p) for p in people]
    ari = adjusted_rand_score([export.groups[p] for p in people],
                              [-1 if g is None else g for g in ours])
    assert ari > 0.7


def test_write_then_read_keeps_every_latest_vote(tmp_path: Path) -> None:
    assert DATA is not None
    export = read_export(DATA / SMALL)
    write_export(tmp_path, export)
    again = read_export(tmp_path)
    before = build_matrix(export.votes)
    after = build_matrix(again.votes)
    assert set(before.participants) == set(after.participants)
    assert [c.body for c in again.comments] == [c.body for c in export.comments]
    assert again.groups == export.groups
    cols = [after.statements.index(s) for s in before.statements]
    rows = [after.participants.index(p) for p in before.participants]
    assert np.array_equal(np.nan_to_num(before.values, nan=9),
                          np.nan_to_num(after.values[np.ix_(rows, cols)], nan=9))
