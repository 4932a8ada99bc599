"""Flow validation: walks raw YAML data once, collecting every problem with its location and
building the canonical dict that ``model.build_flow`` turns into a Flow."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from engage.flow import conditions
from engage.flow.areas import GazetteerError, gazetteer_from_dict
from engage.flow.gsm import segment_info
from engage.flow.model import LANGUAGE_NAMES, NODE_KINDS, OUTCOMES, QUESTION_TYPES
from engage.flow.templating import PLACEHOLDER, placeholders
from engage.flow.yamlread import Problem, read_yaml

_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")
FLOW_KEYS = {"id", "version", "title", "description", "languages", "default_language",
             "expire_after", "start", "defaults", "scope", "nodes"}
NODE_KEYS = {"id", "say", "ask", "end", "next", "branches", "note"}
ASK_KEYS = {"type", "text", "result", "optional", "scope", "options", "scale", "min", "max",
            "integer", "labels", "max_length", "gazetteer", "text_version", "required",
            "on_decline", "reprompt", "max_tries", "on_fail", "timeout"}
OPTION_KEYS = {"value", "label", "synonyms", "category", "exclusive"}
BRANCH_KEYS = {"next", "value", "category", "when"}
TIMEOUT_KEYS = {"after", "reminder", "next"}
DEFAULT_KEYS = {"max_tries", "on_fail"}
CONDITION_ROOTS = {"answer", "value", "number", "category", "language", *QUESTION_TYPES}
SAMPLE_FILL = "x" * 12  # stands in for a placeholder when counting SMS characters


def parse_duration(value: Any) -> int | None:
    """``90`` (seconds), ``"30m"``, ``"24h"``, ``"7d"``, ``"1d12h"`` -> seconds; None if bad."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = ((d * 24 + h) * 60 + mi) * 60 + s
    return total or None


@lru_cache(maxsize=32)
def read_gazetteer(
    path: str, name: str, mtime_ns: int, size: int
) -> tuple[dict[str, Any] | None, tuple[Problem, ...]]:
    """Read and check a gazetteer once per file version (mtime and size are the cache key)."""
    data, problems = read_yaml(Path(path).read_text(encoding="utf-8"), path)
    if problems:
        return None, tuple(problems)
    try:
        return gazetteer_from_dict(data, name).to_dict(), ()
    except GazetteerError as exc:
        return None, tuple(Problem(path, where, message) for where, message in exc.problems)



class Checker:
    """Walks the raw YAML data once, collecting problems and building the canonical dict."""

    def __init__(self, source: str, areas_dir: Path | None) -> None:
        self.source = source
        self.areas_dir = areas_dir
        self.problems: list[Problem] = []
        self.languages: list[str] = ["en"]
        self.gazetteers: dict[str, Any] = {}
        self.result_names: set[str] = set()
        self.texts: list[tuple[str, str, str]] = []  # (location, language, text)

    # helpers
    def error(self, location: str, message: str) -> None:
        self.problems.append(Problem(self.source, location, message))

    def warn(self, location: str, message: str) -> None:
        self.problems.append(Problem(self.source, location, message, "warning"))

    def unknown_keys(self, loc: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                hint = _closest(str(key), allowed)
                suffix = f" (did you mean {hint!r}?)" if hint else ""
                self.error(f"{loc}.{key}" if loc else str(key), f"unknown field{suffix}")

    def text(self, loc: str, value: Any, *, allow_plain: bool = False) -> dict[str, str] | None:
        if isinstance(value, str) and allow_plain:
            out = dict.fromkeys(self.languages, value)
        elif isinstance(value, Mapping):
            out = {}
            for lang, text in value.items():
                if lang not in self.languages:
                    self.error(f"{loc}.{lang}", f"language {lang!r} is not in languages")
                elif not isinstance(text, str) or not text.strip():
                    self.error(f"{loc}.{lang}", "expected non-empty text")
                else:
                    out[str(lang)] = text.strip()
            missing = [lang for lang in self.languages if lang not in value]
            if missing:
                self.error(loc, "missing translation for " + ", ".join(missing))
        else:
            expected = "a text or " if allow_plain else ""
            self.error(loc, f"expected {expected}a mapping of language -> text "
                            f"({', '.join(self.languages)})")
            return None
        for lang, text in out.items():
            self.texts.append((f"{loc}.{lang}" if not allow_plain else loc, lang, text))
        return out

    # flow
    def check(self, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.error("(root)", "expected a mapping with id, version, languages and nodes")
            return None
        self.unknown_keys("", raw, FLOW_KEYS)
        flow_id = raw.get("id")
        if not isinstance(flow_id, str) or not _ID.match(flow_id):
            self.error("id", "expected a lower-case id like 'satisfaction' (a-z, 0-9, _ or -)")
            flow_id = "invalid"
        version = raw.get("version")
        if isinstance(version, bool) or not isinstance(version, int | str) or version == "":
            self.error("version", "expected a version number or string")
            version = "0"
        langs = raw.get("languages", ["en"])
        if (not isinstance(langs, list) or not langs
                or not all(isinstance(x, str) and re.fullmatch(r"[a-z]{2}", x) for x in langs)):
            self.error("languages", "expected a list of two-letter language codes like [en, es]")
            langs = ["en"]
        if len(set(langs)) != len(langs):
            self.error("languages", "duplicate language")
        self.languages = list(dict.fromkeys(langs))
        default_language = raw.get("default_language", self.languages[0])
        if default_language not in self.languages:
            self.error("default_language", f"{default_language!r} is not in languages")
            default_language = self.languages[0]
        expire_after = None
        if raw.get("expire_after") is not None:
            expire_after = parse_duration(raw["expire_after"])
            if expire_after is None:
                self.error("expire_after", "expected a duration like 30m, 24h or 7d")
        else:
            self.warn("expire_after", "not set: an unanswered run waits forever (add e.g. 7d)")
        scope = raw.get("scope", "surveys")
        if not isinstance(scope, str) or not _ID.match(scope):
            self.error("scope", "expected a consent scope name like surveys or dialogue")
            scope = "surveys"
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            self.error("defaults", "expected a mapping (max_tries, on_fail)")
            defaults = {}
        self.unknown_keys("defaults", defaults, DEFAULT_KEYS)
        title = raw.get("title", flow_id)
        nodes_raw = raw.get("nodes")
        if not isinstance(nodes_raw, list) or not nodes_raw:
            self.error("nodes", "expected a non-empty list of nodes")
            return None

        ids: dict[str, int] = {}
        for i, node in enumerate(nodes_raw):
            if isinstance(node, Mapping) and isinstance(node.get("id"), str):
                if node["id"] in ids:
                    first = ids[node["id"]]
                    self.error(f"nodes[{i}].id",
                               f"duplicate id {node['id']!r} (first: nodes[{first}])")
                else:
                    ids[node["id"]] = i
        for node in nodes_raw:  # result names first: templates may refer to later results
            if isinstance(node, Mapping) and isinstance(node.get("ask"), Mapping):
                ask = node["ask"]
                result = ask.get("result", "language" if ask.get("type") == "language" else None)
                if isinstance(result, str):
                    self.result_names.add(result)
        nodes = [self.node(f"nodes[{i}]", n, ids, scope, defaults)
                 for i, n in enumerate(nodes_raw)]
        start = raw.get("start", nodes_raw[0].get("id") if isinstance(nodes_raw[0], Mapping)
                        else None)
        if not isinstance(start, str) or start not in ids:
            self.error("start", f"unknown node {start!r}")
            start = next(iter(ids), "")
        canonical_nodes = [n for n in nodes if n is not None]
        if not any(n.get("end") for n in canonical_nodes):
            self.error("nodes", "the flow has no end node (add a node with end: completed)")
        self.graph_checks(str(start), canonical_nodes, ids)
        self.template_checks()
        self.segment_checks()
        return {
            "id": flow_id,
            "version": str(version),
            "title": str(title),
            "languages": self.languages,
            "default_language": default_language,
            "expire_after": expire_after,
            "start": start,
            "nodes": canonical_nodes,
            "gazetteers": self.gazetteers,
        }

    def ref(self, loc: str, target: Any, ids: Mapping[str, int]) -> str | None:
        if not isinstance(target, str):
            self.error(loc, "expected a node id")
            return None
        if target not in ids:
            hint = _closest(target, set(ids))
            suffix = f" (did you mean {hint!r}?)" if hint else ""
            self.error(loc, f"no node with id {target!r}{suffix}")
            return None
        return target

    def node(
        self, loc: str, raw: Any, ids: Mapping[str, int], scope: str, defaults: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.error(loc, "expected a mapping with id and one of say, ask or end")
            return None
        self.unknown_keys(loc, raw, NODE_KEYS)
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not _ID.match(node_id):
            self.error(f"{loc}.id", "expected a lower-case id (a-z, 0-9, _ or -)")
            return None
        out: dict[str, Any] = {"id": node_id}
        kinds = [k for k in ("ask", "end") if raw.get(k) is not None]
        if len(kinds) > 1:
            self.error(loc, "a node has either ask or end, not both")
        kind = kinds[0] if kinds else ("say" if raw.get("say") is not None else None)
        if kind is None:
            self.error(loc, f"a node needs one of {', '.join(NODE_KINDS)}")
            return None
        if raw.get("say") is not None:
            if kind == "ask":
                self.error(f"{loc}.say", "put the question text in ask.text (say is for messages)")
            else:
                out["say"] = self.text(f"{loc}.say", raw["say"])
        if kind == "end":
            if raw["end"] not in OUTCOMES:
                self.error(f"{loc}.end", f"unknown outcome {raw['end']!r} (expected one of "
                                         f"{', '.join(OUTCOMES)})")
            out["end"] = raw["end"]
            for key in ("next", "branches"):
                if key in raw:
                    self.error(f"{loc}.{key}", "an end node has no next step")
            return out
        if kind == "ask":
            out["ask"] = self.ask(f"{loc}.ask", raw["ask"], ids, scope, defaults)
        if "next" not in raw:
            self.error(loc, "missing next (every say/ask node needs one; use an end node to stop)")
        else:
            out["next"] = self.ref(f"{loc}.next", raw["next"], ids)
        branches = raw.get("branches", [])
        if not isinstance(branches, list):
            self.error(f"{loc}.branches", "expected a list")
            branches = []
        out["branches"] = [
            b for b in (self.branch(f"{loc}.branches[{j}]", b, ids)
                        for j, b in enumerate(branches)) if b is not None
        ]
        return out

    def branch(self, loc: str, raw: Any, ids: Mapping[str, int]) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.error(loc, "expected a mapping with next and one of value, category or when")
            return None
        self.unknown_keys(loc, raw, BRANCH_KEYS)
        tests = [k for k in ("value", "category", "when") if k in raw]
        if len(tests) != 1:
            self.error(loc, "a branch needs exactly one of value, category or when")
            return None
        target = self.ref(f"{loc}.next", raw.get("next"), ids)
        out: dict[str, Any] = {"next": target, "value": None, "category": None, "when": None}
        key = tests[0]
        value = raw[key]
        if key == "when":
            if not isinstance(value, str):
                self.error(f"{loc}.when", "expected a condition like 'likert <= 2'")
                return None
            try:
                tree = conditions.parse_condition(value)
            except conditions.ConditionError as exc:
                self.error(f"{loc}.when", f"cannot parse condition {value!r}: {exc}")
                return None
            for name in conditions.refs(tree):
                self.check_name(f"{loc}.when", name, condition=True)
        elif isinstance(value, bool) or value is None:
            self.error(f"{loc}.{key}", "expected a value")
            return None
        out[key] = str(value) if key != "when" else value
        return out if target is not None else None

    def check_name(self, loc: str, name: str, *, condition: bool = False) -> None:
        root, _, rest = name.partition(".")
        if root == "results" and rest:
            if rest not in self.result_names:
                self.error(loc, f"unknown result {rest!r} (no question stores it)")
        elif (root == "context" and rest) or name == "language" or (
            condition and (name in CONDITION_ROOTS or name in self.result_names)
        ):
            return
        else:
            roots = "answer, number, category, " if condition else ""
            self.error(loc, f"unknown name {name!r} (use {roots}results.NAME, context.NAME "
                            "or language)")

    def ask(
        self, loc: str, raw: Any, ids: Mapping[str, int], scope: str, defaults: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.error(loc, "expected a mapping with type, text and result")
            return None
        self.unknown_keys(loc, raw, ASK_KEYS)
        qtype = raw.get("type")
        if qtype not in QUESTION_TYPES:
            hint = _closest(str(qtype), set(QUESTION_TYPES))
            suffix = f"; did you mean {hint!r}?" if hint else ""
            self.error(f"{loc}.type", f"unknown type {qtype!r} (expected one of "
                                      f"{', '.join(QUESTION_TYPES)}{suffix})")
            return None
        out: dict[str, Any] = {"type": qtype, "text": self.text(f"{loc}.text", raw.get("text"))}
        result = raw.get("result", "language" if qtype == "language" else None)
        if qtype == "consent":
            if "result" in raw:
                self.error(f"{loc}.result", "a consent question records consent, not a result")
            out["result"] = None
        elif not isinstance(result, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", result):
            self.error(f"{loc}.result", "expected a result name like 'safe_day'")
        else:
            out["result"] = result
        optional = raw.get("optional", False)
        if not isinstance(optional, bool):
            self.error(f"{loc}.optional", "expected true or false")
        out["optional"] = bool(optional)
        q_scope = raw.get("scope", scope)
        if not isinstance(q_scope, str) or not _ID.match(q_scope):
            self.error(f"{loc}.scope", "expected a consent scope name")
            q_scope = scope
        if qtype == "consent":
            out["scope"] = scope
            out["consent_scope"] = q_scope
            if "scope" not in raw:
                self.error(f"{loc}.scope", "a consent question needs the scope it asks about")
            version = raw.get("text_version")
            if not isinstance(version, str | int) or isinstance(version, bool) or version == "":
                self.error(f"{loc}.text_version", "a consent question needs text_version")
            out["text_version"] = str(version)
            required = raw.get("required", q_scope == "surveys")
            out["required"] = bool(required)
            if raw.get("on_decline") is not None:
                target = self.ref(f"{loc}.on_decline", raw["on_decline"], ids)
                out["on_decline"] = target
        else:
            out["scope"] = q_scope
            for key in ("text_version", "required", "on_decline"):
                if key in raw:
                    self.error(f"{loc}.{key}", f"only consent questions have {key}")
        self.type_fields(loc, qtype, raw, out)
        if raw.get("reprompt") is not None:
            out["reprompt"] = self.text(f"{loc}.reprompt", raw["reprompt"])
        max_tries = raw.get("max_tries", defaults.get("max_tries", 3))
        if isinstance(max_tries, bool) or not isinstance(max_tries, int) or not (
            1 <= max_tries <= 10
        ):
            self.error(f"{loc}.max_tries", "expected a whole number from 1 to 10")
            max_tries = 3
        out["max_tries"] = max_tries
        if qtype == "consent" and out.get("required"):
            # required consent is never assumed: too many unclear replies end the run
            on_fail = raw.get("on_fail", "end")
            if on_fail == "skip":
                self.error(f"{loc}.on_fail", "a required consent question cannot be skipped")
                on_fail = "end"
        else:
            on_fail = raw.get("on_fail", defaults.get("on_fail", "skip"))
        if on_fail not in ("skip", "end"):
            on_fail = self.ref(f"{loc}.on_fail", on_fail, ids) or "skip"
        out["on_fail"] = on_fail
        if raw.get("timeout") is not None:
            out["timeout"] = self.timeout(f"{loc}.timeout", raw["timeout"], ids)
        return out

    def type_fields(
        self, loc: str, qtype: str, raw: Mapping[str, Any], out: dict[str, Any]
    ) -> None:
        if qtype == "likert":
            lo, hi = 1, 5
            if raw.get("scale", 5) in (5, 10):
                hi = int(raw.get("scale", 5))
            else:
                self.error(f"{loc}.scale", "a Likert scale is 5 or 10 points")
                hi = 5
            out["min"], out["max"], out["integer"] = lo, hi, True
            labels = raw.get("labels") or {}
            if not isinstance(labels, Mapping):
                self.error(f"{loc}.labels", "expected a mapping of scale point -> text")
                labels = {}
            out["labels"] = {}
            for point, text in labels.items():
                if isinstance(point, bool) or not isinstance(point, int) or not lo <= point <= hi:
                    self.error(f"{loc}.labels.{point}", f"expected a point from {lo} to {hi}")
                    continue
                out["labels"][str(point)] = self.text(f"{loc}.labels.{point}", text)
        elif qtype in ("choice", "multi_choice", "language"):
            out["options"] = self.options(loc, qtype, raw.get("options"))
        elif qtype == "number":
            low, high = raw.get("min"), raw.get("max")
            for key, v in (("min", low), ("max", high)):
                if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                    self.error(f"{loc}.{key}", "expected a number")
            if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
                self.error(loc, "min is greater than max")
            out["min"] = low if isinstance(low, int | float) and not isinstance(low, bool) else None
            out["max"] = (
                high if isinstance(high, int | float) and not isinstance(high, bool) else None
            )
            out["integer"] = bool(raw.get("integer", False))
        elif qtype == "text":
            max_length = raw.get("max_length", 500)
            if isinstance(max_length, bool) or not isinstance(max_length, int) or not (
                1 <= max_length <= 2000
            ):
                self.error(f"{loc}.max_length", "expected a whole number from 1 to 2000")
                max_length = 500
            out["max_length"] = max_length
        elif qtype == "area":
            name = raw.get("gazetteer", "baltimore")
            out["gazetteer"] = name
            self.load_gazetteer(f"{loc}.gazetteer", name)
        extra = {"scale", "labels"} if qtype != "likert" else set()
        extra |= {"options"} if qtype not in ("choice", "multi_choice", "language") else set()
        extra |= {"min", "max", "integer"} if qtype != "number" else set()
        extra |= {"max_length"} if qtype != "text" else set()
        extra |= {"gazetteer"} if qtype != "area" else set()
        for key in sorted(extra & set(raw)):
            self.error(f"{loc}.{key}", f"{qtype} questions do not use {key}")

    def options(self, loc: str, qtype: str, raw: Any) -> list[dict[str, Any]]:
        if qtype == "language" and raw is None:
            return [
                {"value": lang, "label": dict.fromkeys(self.languages, LANGUAGE_NAMES.get(
                    lang, (lang, ()))[0]), "synonyms": list(LANGUAGE_NAMES.get(lang, ("", ()))[1]),
                 "category": None, "exclusive": False}
                for lang in self.languages
            ]
        if not isinstance(raw, list) or len(raw) < 2:
            self.error(f"{loc}.options", "expected a list of at least two options")
            return []
        out: list[dict[str, Any]] = []
        values: set[str] = set()
        for k, option in enumerate(raw):
            oloc = f"{loc}.options[{k}]"
            if not isinstance(option, Mapping):
                self.error(oloc, "expected a mapping with value and label")
                continue
            self.unknown_keys(oloc, option, OPTION_KEYS)
            value = option.get("value")
            if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
                self.error(f"{oloc}.value", "expected a value")
                continue
            value = str(value)
            if value in values:
                self.error(f"{oloc}.value", f"duplicate option value {value!r}")
            values.add(value)
            if qtype == "language" and value not in self.languages:
                self.error(f"{oloc}.value", f"{value!r} is not one of the flow's languages")
            label = self.text(f"{oloc}.label", option.get("label"), allow_plain=True) or {}
            synonyms_raw = option.get("synonyms", [])
            synonyms: list[str] = []
            if isinstance(synonyms_raw, Mapping):
                for lang, words in synonyms_raw.items():
                    if lang not in self.languages:
                        self.error(f"{oloc}.synonyms.{lang}", f"language {lang!r} is not in "
                                                              "languages")
                    if isinstance(words, list):
                        synonyms.extend(str(w) for w in words)
                    else:
                        self.error(f"{oloc}.synonyms.{lang}", "expected a list of words")
            elif isinstance(synonyms_raw, list):
                synonyms = [str(w) for w in synonyms_raw]
            else:
                self.error(f"{oloc}.synonyms", "expected a list, or a mapping language -> list")
            if qtype == "language":
                synonyms.extend(LANGUAGE_NAMES.get(value, ("", ()))[1])
            category = option.get("category")
            exclusive = option.get("exclusive", False)
            if exclusive and qtype != "multi_choice":
                self.error(f"{oloc}.exclusive", "only multi_choice options can be exclusive")
            out.append({"value": value, "label": label, "synonyms": synonyms,
                        "category": None if category is None else str(category),
                        "exclusive": bool(exclusive)})
        return out

    def timeout(self, loc: str, raw: Any, ids: Mapping[str, int]) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.error(loc, "expected a mapping with after, reminder and next")
            return None
        self.unknown_keys(loc, raw, TIMEOUT_KEYS)
        after = parse_duration(raw.get("after"))
        if after is None:
            self.error(f"{loc}.after", "expected a duration like 30m, 24h or 7d")
            after = 86400
        out: dict[str, Any] = {"after": after, "reminder": None, "next": None}
        if raw.get("reminder") is not None:
            out["reminder"] = self.text(f"{loc}.reminder", raw["reminder"])
        if raw.get("next") is not None:
            out["next"] = self.ref(f"{loc}.next", raw["next"], ids)
        if out["reminder"] is None and out["next"] is None:
            self.error(loc, "a timeout needs a reminder, a next node, or both")
        return out

    def load_gazetteer(self, loc: str, name: Any) -> None:
        if not isinstance(name, str) or not _ID.match(name):
            self.error(loc, "expected a gazetteer name like 'baltimore'")
            return
        if name in self.gazetteers:
            return
        if self.areas_dir is None:
            self.error(loc, f"no areas directory to find gazetteer {name!r}")
            return
        path = self.areas_dir / f"{name}.yaml"
        if not path.is_file():
            self.error(loc, f"gazetteer {name!r} not found ({path.name} is not in "
                            f"{self.areas_dir})")
            return
        stat = path.stat()
        data, problems = read_gazetteer(str(path), name, stat.st_mtime_ns, stat.st_size)
        self.problems.extend(problems)
        if data is not None:
            self.gazetteers[name] = data


    def graph_checks(
        self, start: str, nodes: list[dict[str, Any]], ids: Mapping[str, int]
    ) -> None:
        by_id = {n["id"]: n for n in nodes}
        edges: dict[str, list[str]] = {}
        for n in nodes:
            targets = [n.get("next")] + [b["next"] for b in n.get("branches", [])]
            ask = n.get("ask") or {}
            timeout = ask.get("timeout") or {}
            targets += [timeout.get("next"), ask.get("on_decline")]
            if ask.get("on_fail") not in (None, "skip", "end"):
                targets.append(ask["on_fail"])
            edges[n["id"]] = [t for t in targets if isinstance(t, str) and t in by_id]
            if ask.get("on_decline") and by_id.get(ask["on_decline"], {}).get("end") is None:
                self.error(f"nodes[{ids[n['id']]}].ask.on_decline",
                           "on_decline must lead to an end node")
        seen = {start}
        todo = [start]
        while todo:
            for target in edges.get(todo.pop(), []):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        for n in nodes:
            if n["id"] not in seen:
                self.error(f"nodes[{ids[n['id']]}]",
                           f"node {n['id']!r} is unreachable from start {start!r}")
        # a loop made only of say nodes would never wait for the resident
        says = {n["id"] for n in nodes if "ask" not in n and "end" not in n}
        for origin in says:
            stack, visited = [origin], set()
            while stack:
                current = stack.pop()
                for target in edges.get(current, []):
                    if target == origin:
                        self.error(f"nodes[{ids[origin]}]",
                                   "say nodes loop back here without asking anything")
                        stack = []
                        break
                    if target in says and target not in visited:
                        visited.add(target)
                        stack.append(target)

    def template_checks(self) -> None:
        for loc, _lang, text in self.texts:
            for name in placeholders(text):
                if not PLACEHOLDER.fullmatch("{{" + name + "}}"):
                    self.error(loc, f"bad placeholder {{{{{name}}}}} (only names like "
                                    "results.area are allowed)")
                else:
                    self.check_name(loc, name)

    def segment_checks(self) -> None:
        for loc, _lang, text in self.texts:
            info = segment_info(PLACEHOLDER.sub(SAMPLE_FILL, text))
            if info.segments > 1:
                why = (f"UCS-2 because of {info.non_gsm!r}, 70 per segment"
                       if info.encoding == "UCS-2" else "GSM-7, 160 per segment")
                self.warn(loc, f"needs {info.segments} SMS segments ({info.units} characters, "
                               f"{why})")


def _closest(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    return close[0] if close else None


# --- public API --------------------------------------------------------------------------
