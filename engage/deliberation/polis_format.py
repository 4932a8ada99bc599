"""Read and write Polis's CSV export (comments.csv, votes.csv, participants-votes.csv).

The format is Polis's public export (The Computational Democracy Project's open data):

- ``comments.csv``: timestamp, datetime, comment-id, author-id, agrees, disagrees, moderated
  (1 shown, -1 moderated out, 0 not yet moderated), comment-body;
- ``votes.csv``: timestamp, datetime, comment-id, voter-id, vote (+1 agree, -1 disagree, 0
  pass); a voter may vote again on a comment and the latest vote counts;
- ``participants-votes.csv``: participant, group-id, n-comments, n-votes, n-agree,
  n-disagree, then one column per comment id (blank = no vote). Used for the votes when
  ``votes.csv`` is absent (it holds each participant's latest vote only).

Every problem is reported with the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engage.deliberation.votes import VALID_VOTES, Vote
from engage.errors import UserError

COMMENT_COLUMNS = ("comment-id", "author-id", "moderated", "comment-body")
VOTE_COLUMNS = ("comment-id", "voter-id", "vote")
PARTICIPANT_FIXED = ("participant", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree")
MODERATION = {1: "approved", -1: "rejected", 0: "pending"}


class PolisFormatError(UserError):
    """A Polis export that cannot be read: names the file, the line and the problem."""


@dataclass(frozen=True)
class PolisComment:
    id: str
    author: str
    moderated: int
    body: str
    at: float = 0.0


@dataclass
class PolisExport:
    """A conversation as Polis exports it; ``groups`` is Polis's own group-id when present."""

    comments: list[PolisComment]
    votes: list[Vote]
    groups: dict[str, int | None] = field(default_factory=dict)
    topic: str | None = None


def _rows(path: Path, required: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise PolisFormatError(f"{path}: cannot be read ({exc.strerror})") from exc
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise PolisFormatError(f"{path}:1: missing column(s) {', '.join(missing)}")
        try:
            for row in reader:
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PolisFormatError(f"{path}:{reader.line_num}: {exc}") from exc


def _int(path: Path, line: int, column: str, text: str | None) -> int:
    try:
        return int(float((text or "").strip()))
    except ValueError:
        raise PolisFormatError(
            f"{path}:{line}: column {column} should be a whole number, got {text!r}"
        ) from None


def _timestamp(path: Path, line: int, text: str | None) -> float:
    if not (text or "").strip():
        return 0.0
    return float(_int(path, line, "timestamp", text))


def read_comments(path: Path) -> list[PolisComment]:
    comments: list[PolisComment] = []
    seen: set[str] = set()
    for line, row in _rows(path, COMMENT_COLUMNS):
        cid = (row["comment-id"] or "").strip()
        if not cid:
            raise PolisFormatError(f"{path}:{line}: comment-id is empty")
        if cid in seen:
            raise PolisFormatError(f"{path}:{line}: comment-id {cid} appears twice")
        seen.add(cid)
        moderated = _int(path, line, "moderated", row["moderated"] or "0")
        if moderated not in MODERATION:
            raise PolisFormatError(f"{path}:{line}: moderated must be 1, 0 or -1, got {moderated}")
        comments.append(
            PolisComment(
                id=cid,
                author=(row["author-id"] or "").strip(),
                moderated=moderated,
                body=row["comment-body"] or "",
                at=_timestamp(path, line, row.get("timestamp")),
            )
        )
    return comments


def read_votes(path: Path, comment_ids: set[str]) -> list[Vote]:
    votes: list[Vote] = []
    for line, row in _rows(path, VOTE_COLUMNS):
        cid = (row["comment-id"] or "").strip()
        if cid not in comment_ids:
            raise PolisFormatError(f"{path}:{line}: comment-id {cid!r} is not in comments.csv")
        voter = (row["voter-id"] or "").strip()
        if not voter:
            raise PolisFormatError(f"{path}:{line}: voter-id is empty")
        value = _int(path, line, "vote", row["vote"])
        if value not in VALID_VOTES:
            raise PolisFormatError(f"{path}:{line}: vote must be 1, -1 or 0, got {value}")
        votes.append(Vote(voter, cid, value, _timestamp(path, line, row.get("timestamp"))))
    return votes


def read_participants(
    path: Path, comment_ids: set[str]
) -> tuple[list[Vote], dict[str, int | None]]:
    """Votes (one per filled cell) and Polis's group-id per participant."""
    votes: list[Vote] = []
    groups: dict[str, int | None] = {}
    for line, row in _rows(path, PARTICIPANT_FIXED[:2]):
        pid = (row["participant"] or "").strip()
        if not pid:
            raise PolisFormatError(f"{path}:{line}: participant is empty")
        gid = (row["group-id"] or "").strip()
        groups[pid] = _int(path, line, "group-id", gid) if gid else None
        for column, cell in row.items():
            if column in PARTICIPANT_FIXED or column is None or not (cell or "").strip():
                continue
            if column not in comment_ids:
                raise PolisFormatError(
                    f"{path}:1: column {column!r} is not a comment-id in comments.csv"
                )
            value = _int(path, line, f"{column}", cell)
            if value not in VALID_VOTES:
                raise PolisFormatError(
                    f"{path}:{line}: vote in column {column} must be 1, -1 or 0, got {value}"
                )
            votes.append(Vote(pid, column, value))
    return votes, groups


def read_summary_topic(path: Path) -> str | None:
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and row[0] == "topic":
                return row[1].strip() or None
    return None


def read_export(directory: Path) -> PolisExport:
    """A Polis export folder: comments, then votes.csv or else participants-votes.csv."""
    if not directory.is_dir():
        raise PolisFormatError(f"{directory}: not a folder")
    comments_path = directory / "comments.csv"
    if not comments_path.exists():
        raise PolisFormatError(f"{directory}: comments.csv is missing")
    comments = read_comments(comments_path)
    ids = {c.id for c in comments}
    participants_path = directory / "participants-votes.csv"
    groups: dict[str, int | None] = {}
    votes: list[Vote] | None = None
    if (directory / "votes.csv").exists():
        votes = read_votes(directory / "votes.csv", ids)
    if participants_path.exists():
        table_votes, groups = read_participants(participants_path, ids)
        if votes is None:
            votes = table_votes
    if votes is None:
        raise PolisFormatError(f"{directory}: neither votes.csv nor participants-votes.csv")
    return PolisExport(comments, votes, groups, read_summary_topic(directory / "summary.csv"))


def _when(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def write_export(directory: Path, export: PolisExport) -> None:
    """Write comments.csv, votes.csv, participants-votes.csv and summary.csv."""
    directory.mkdir(parents=True, exist_ok=True)
    latest: dict[tuple[str, str], Vote] = {}
    for vote in sorted(export.votes, key=lambda v: v.at):
        latest[(vote.participant, vote.statement)] = vote
    agrees = Counter(v.statement for v in latest.values() if v.value == 1)
    disagrees = Counter(v.statement for v in latest.values() if v.value == -1)
    with (directory / "comments.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "datetime", *COMMENT_COLUMNS[:2], "agrees", "disagrees",
                      *COMMENT_COLUMNS[2:]])
        for c in export.comments:
            out.writerow([int(c.at), _when(c.at), c.id, c.author, agrees[c.id], disagrees[c.id],
                          c.moderated, c.body])
    with (directory / "votes.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "datetime", *VOTE_COLUMNS])
        for v in sorted(export.votes, key=lambda v: v.at):
            out.writerow([int(v.at), _when(v.at), v.statement, v.participant, v.value])
    _write_participants(directory / "participants-votes.csv", export, latest)
    with (directory / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        voters = {v.participant for v in latest.values()}
        out.writerow(["topic", export.topic or ""])
        out.writerow(["voters", len(voters)])
        out.writerow(["comments", len(export.comments)])
        out.writerow(["groups", len({g for g in export.groups.values() if g is not None})])


def _write_participants(
    path: Path, export: PolisExport, latest: dict[tuple[str, str], Vote]
) -> None:
    people: dict[str, dict[str, int]] = {}
    for (person, statement), vote in latest.items():
        people.setdefault(person, {})[statement] = vote.value
    authored = Counter(c.author for c in export.comments)
    ids = [c.id for c in export.comments]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([*PARTICIPANT_FIXED, *ids])
        for person in sorted(people, key=_natural):
            row = people[person]
            group = export.groups.get(person)
            values = list(row.values())
            out.writerow([
                person, "" if group is None else group, authored[person], len(values),
                values.count(1), values.count(-1),
                *(row.get(cid, "") for cid in ids),
            ])


def _natural(text: str) -> tuple[int, int | str]:
    return (0, int(text)) if text.isdigit() else (1, text)
