"""Benchmark: fidelity to Polis's own opinion groups, and the analysis's speed.

For every Polis export folder under DATA (default ``../shared/data/polis`` beside the
repository, or ``--data``), runs engage's analysis on the votes and prints the adjusted Rand
index between engage's groups and Polis's ``group-id`` (over the participants Polis grouped;
one engage did not cluster counts as a group of its own), then the median. Then times the
analysis of a synthetic conversation of 2,000 participants x 1,000 statements.

Then, through the real runtime on SQLite, one caller at a time: CPU per message for a vote
(a resident in a conversation of ``--statements`` statements replying 1/2/3) beside a survey
answer (residents walking the satisfaction survey), alternating in the same run.

    .venv/bin/python bench/deliberation.py [--data DIR] [--repeat 3] [--residents 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from engage.deliberation.analysis import analyze
from engage.deliberation.polis_format import PolisExport, read_export
from engage.deliberation.votes import VoteMatrix, build_matrix

DEFAULT_DATA = next(
    (p / "shared" / "data" / "polis" for p in Path(__file__).resolve().parents
     if (p / "shared" / "data" / "polis").is_dir()),
    Path("shared/data/polis"),
)


def matrix_of(export: PolisExport) -> VoteMatrix:
    out = [c.id for c in export.comments if c.moderated == -1]
    return build_matrix(export.votes, moderated_out=out)


def fidelity(folder: Path) -> tuple[float, int, int, int]:
    """ARI, engage's k, Polis's k, participants compared."""
    export = read_export(folder)
    result = analyze(matrix_of(export))
    people = [p for p, g in export.groups.items() if g is not None]
    theirs = [export.groups[p] for p in people]
    ours = [result.membership.get(p) for p in people]
    ours_labels = [-1 if g is None else g for g in ours]
    ari = float(adjusted_rand_score(theirs, ours_labels))
    return ari, len(result.groups), len(set(theirs)), len(people)


def synthetic(participants: int, statements: int, seed: int = 0) -> VoteMatrix:
    """Three opinion camps, each participant voting on a random 5-40% of statements."""
    rng = np.random.default_rng(seed)
    camp = rng.integers(0, 3, participants)
    leaning = rng.choice([-1.0, 0.0, 1.0], size=(3, statements))
    values = np.where(rng.random((participants, statements)) < 0.8, leaning[camp],
                      rng.choice([-1.0, 0.0, 1.0], size=(participants, statements)))
    coverage = rng.uniform(0.05, 0.4, participants)
    values[rng.random((participants, statements)) > coverage[:, None]] = np.nan
    return VoteMatrix(
        participants=tuple(str(i) for i in range(participants)),
        statements=tuple(str(j) for j in range(statements)),
        values=values,
        moderated_votes=np.zeros(participants, dtype=np.int64),
    )


SURVEY = ["hi", "yes", "1", "Canton", "4", "2", "3", "5", "called for help", "4",
          "More street lights near the park", "yes", "2", "1", "yes"]


def votes_vs_answers(residents: int, statements: int) -> tuple[float, float]:
    """CPU ms per vote and per survey answer, through ``Runtime.handle_inbound`` (SQLite)."""
    from sqlmodel import select

    from engage.channels.base import Inbound
    from engage.config import get_settings
    from engage.deliberation import store, texting
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime
    from engage.storage.db import create_schema, make_engine, session_scope
    from engage.storage.tables import Participant

    settings = get_settings()
    folder = tempfile.mkdtemp(prefix="engage-delib-")
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    create_schema(engine)
    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))
    now = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    seq = iter(range(10**9))

    def say(number: str, text: str) -> float:
        at = now + timedelta(microseconds=next(seq))
        cpu = time.process_time()
        runtime.handle_inbound(Inbound("sms", number, text, f"SM{next(seq)}", at))
        return time.process_time() - cpu

    voters = [f"+1410{i:07d}" for i in range(residents)]
    answerers = [f"+1443{i:07d}" for i in range(residents)]
    for number in voters:  # a voter first agrees to dialogue invitations in the survey
        for text in SURVEY:
            say(number, text)
    with session_scope(engine) as session:
        conv = store.create_conversation(session, topic="Bench", daily_cap=statements)
        for j in range(statements):
            store.add_statement(session, conv.id, f"Statement number {j} about safety.")
        texting.invite(session, conv.id, now=now, tz=settings.timezone,
                       program=settings.program_name)
        granted = len(session.exec(select(Participant).where(
            Participant.consent_dialogue == "granted")).all())
    assert granted == residents, "every voter agreed to dialogue invitations"
    for number in voters:
        say(number, "MORE")
    vote_cpu: list[float] = []
    answer_cpu: list[float] = []
    for step in range(1, len(SURVEY)):  # alternate: one round of votes, one of answers
        for number in answerers:
            if step == 1:
                say(number, SURVEY[0])
            answer_cpu.append(say(number, SURVEY[step]))
        for number in voters:
            vote_cpu.append(say(number, "123"[step % 3]))
    runtime.close()
    return 1000 * statistics.mean(vote_cpu), 1000 * statistics.mean(answer_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--residents", type=int, default=60)
    parser.add_argument("--statements", type=int, default=50)
    args = parser.parse_args()
    if args.data.is_dir():
        scores: list[float] = []
        print(f"{'conversation':42} {'ARI':>6} {'k':>3} {'polis k':>8} {'compared':>9}")
        for folder in sorted(p for p in args.data.iterdir() if (p / "comments.csv").exists()):
            ari, k, polis_k, n = fidelity(folder)
            scores.append(ari)
            print(f"{folder.name:42} {ari:6.3f} {k:3d} {polis_k:8d} {n:9d}")
        print(f"median ARI over {len(scores)} conversations: {statistics.median(scores):.3f}")
    else:
        print(f"no Polis data at {args.data}: fidelity skipped")
    matrix = synthetic(2000, 1000)
    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        analyze(matrix)
        timings.append(time.perf_counter() - start)
    print(f"analysis of 2,000 participants x 1,000 statements: "
          f"{min(timings):.2f}-{max(timings):.2f} s over {args.repeat} runs")
    vote, answer = votes_vs_answers(args.residents, args.statements)
    print(f"runtime, SQLite, one caller: {vote:.2f} ms CPU per vote, {answer:.2f} ms per survey "
          f"answer (ratio {vote / answer:.2f}; {args.statements} statements)")


if __name__ == "__main__":
    main()
