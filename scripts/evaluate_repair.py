#!/usr/bin/env python
"""Measure how well :func:`goalmatch.text.repair.repair` undoes PDF diacritic damage.

(a) synthetic: the clean seeds (000, 001, 002, 004) are broken the way the PDF broke seed 003
    (:func:`goalmatch.text.repair.break_like_pdf`, several seeds; once with every line damaged,
    once with a share of lines left clean, as in seed 003), repaired, and compared word by
    word with the clean text;
(b) seed 003: the raw text is repaired and the lines of each hand-checked insats in
    ``data/seed003-insatser.jsonl`` are aligned (difflib on word sequences, field by field,
    then any hand-checked word left over may match a left-over word of the same lines, as the
    hand-checker reordered some cells) with its hand-checked name, description and effects
    text; words are letters/digits, compared ignoring case (the hand-checker capitalised cell
    starts), so A/Å still count; only hand-checked words count;
(c) clean text: the clean seeds and the Swedish page excerpts must come back unchanged.

Usage::

    python scripts/evaluate_repair.py [--shared ../shared] [--out repair-eval.json] [--show 20]
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from goalmatch.text.lexicon import get_lexicon  # noqa: E402
from goalmatch.text.repair import break_like_pdf, repair  # noqa: E402

CLEAN_SEEDS = ("000", "001", "002", "004")
_WS_WORD = re.compile(r"\S*[^\W\d_]\S*")  # a whitespace-separated word holding a letter
_WORD = re.compile(r"[^\W_]+")  # letters/digits only: table layout and hyphens don't count


def _words(text: str, pattern: re.Pattern[str] = _WS_WORD) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in pattern.finditer(text)]


def _matched(a: list[str], b: list[str], *, any_order: bool = False) -> dict[int, int]:
    """Index pairs of equal words in the best in-order alignment of ``a`` and ``b``.

    With ``any_order``, words of ``a`` left over are then matched with any left-over equal
    word of ``b`` (hand-checked cells were sometimes put together in another order).
    """
    pairs: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            pairs[block.a + k] = block.b + k
    if any_order:
        free: dict[str, list[int]] = {}
        used = set(pairs.values())
        for j, word in enumerate(b):
            if j not in used:
                free.setdefault(word, []).append(j)
        for i, word in enumerate(a):
            if i not in pairs and free.get(word):
                pairs[i] = free[word].pop(0)
    return pairs


def _seed_file(shared: Path, prefix: str) -> Path:
    found = sorted((shared / "seeds").glob(f"{prefix}_*.txt"))
    if not found:
        raise SystemExit(f"no seed {prefix}_*.txt under {shared / 'seeds'}")
    return found[0]


def synthetic(shared: Path, seeds: range, clean_lines: float) -> dict:
    """(a): break the clean seeds, repair them, count words."""
    total = right = broken = fixed = touched = lost = again = 0
    misses: list[dict] = []
    for prefix in CLEAN_SEEDS:
        clean = _seed_file(shared, prefix).read_text(encoding="utf-8")
        cw = _words(clean)
        for seed in seeds:
            damaged = break_like_pdf(clean, seed, clean_lines=clean_lines)
            result = repair(damaged)
            again += len(repair(result.text).changes)
            dw, rw = _words(damaged), _words(result.text)
            unbroken = _matched([w for w, *_ in cw], [w for w, *_ in dw])
            good = _matched([w for w, *_ in cw], [w for w, *_ in rw])
            spans = [(c.start, c.end) for c in result.changes]
            for i, (word, *_) in enumerate(cw):
                total += 1
                ok = i in good
                right += ok
                if i in unbroken:
                    _, s, e = dw[unbroken[i]]
                    touched += any(cs < e and s < ce for cs, ce in spans)
                    lost += not ok
                else:
                    broken += 1
                    fixed += ok
                if not ok and len(misses) < 200:
                    misses.append({"seed_file": prefix, "seed": seed, "word": word})
    return {
        "clean_lines": clean_lines,
        "seeds": list(seeds),
        "words": total,
        "word_accuracy": right / total,
        "broken_words": broken,
        "broken_fixed_share": fixed / broken if broken else 1.0,
        "correct_words_changed": touched,
        "correct_words_lost": lost,
        "changes_on_second_repair": again,
        "misses": misses,
    }


def seed003(shared: Path, snippets: bool = False) -> dict:
    """(b): repair seed 003 (whole, or each insats's lines alone) and compare the hand-checked insatser."""
    raw = _seed_file(shared, "003").read_text(encoding="utf-8")
    started = time.perf_counter()
    result = repair(raw)
    seconds = time.perf_counter() - started
    idempotent = not repair(result.text).changes
    lines = raw.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    deltas = sorted(result.changes)

    def to_repaired(pos: int) -> int:
        return pos + sum(len(c.replacement) - (c.end - c.start) for c in deltas if c.end <= pos)

    total = right = before = broken = fixed = lost = 0
    misses: list[dict] = []
    for line in (shared / "data" / "seed003-insatser.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        first, last = record["source_lines"]
        o_start, o_end = starts[first - 1], starts[last]
        raw_words = [w.lower() for w, *_ in _words(raw[o_start:o_end], _WORD)]
        if snippets:  # what a user pasting this insats alone would get
            repaired = repair(raw[o_start:o_end]).text
        else:
            repaired = result.text[to_repaired(o_start) : to_repaired(o_end)]
        rep_words = [w.lower() for w, *_ in _words(repaired, _WORD)]
        for field in ("name", "description", "effects_text"):
            hand = [w.lower() for w, *_ in _words(record[field], _WORD)]
            was, now = _matched(hand, raw_words, any_order=True), _matched(hand, rep_words, any_order=True)
            for i, word in enumerate(hand):
                total += 1
                right += i in now
                before += i in was
                if i not in was:
                    broken += 1
                    fixed += i in now
                elif i not in now:
                    lost += 1
                if i not in now:
                    misses.append({"id": record["id"], "field": field, "word": word})
    return {
        "records": len((shared / "data" / "seed003-insatser.jsonl").read_text(encoding="utf-8").splitlines()),
        "words": total,
        "word_accuracy_before": before / total,
        "word_accuracy": right / total,
        "broken_words": broken,
        "broken_fixed_share": fixed / broken if broken else 1.0,
        "correct_words_lost": lost,
        "changes": len(result.changes),
        "repair_seconds": round(seconds, 2),
        "idempotent": idempotent,
        "misses": misses,
    }


def _clean_samples(shared: Path) -> dict[str, list[str]]:
    """Clean texts by language: the clean seeds, page excerpts and Agenda 2030 texts; English SDG texts."""
    swedish = [_seed_file(shared, p).read_text(encoding="utf-8") for p in CLEAN_SEEDS]
    swedish += [p.read_text(encoding="utf-8") for p in sorted((shared / "data" / "pages").glob("*.txt"))]
    for name in ("sdg_goals_sv.jsonl", "sdg_targets_sv_partial.jsonl"):
        path = shared / "data" / "sdg" / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                swedish.append("\n".join(str(v) for k, v in json.loads(line).items() if not k.endswith("url")))
    english: list[str] = []
    path = shared / "data" / "trail22" / "Test_data.csv"
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as fh:
            english = [row["text"] for row in csv.DictReader(fh)]
    return {"sv": swedish, "en": english}


def clean_texts(shared: Path) -> dict:
    """(c): clean texts must come back unchanged, even when the cheap test is skipped (``force``)."""
    report: dict = {}
    for lang, texts in _clean_samples(shared).items():
        words = sum(len(_WS_WORD.findall(t)) for t in texts)
        gated = [list(c) for t in texts for c in repair(t).changes]
        forced = [[*c, t[max(0, c.start - 30) : c.end + 30]] for t in texts for c in repair(t, force=True).changes]
        report[lang] = {
            "texts": len(texts),
            "words": words,
            "changes": len(gated),
            "changes_forced": len(forced),
            "changed_forced": forced[:50],
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared folder (seeds, data)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--seeds", type=int, default=5, help="damage seeds per clean text in (a)")
    parser.add_argument("--show", type=int, default=15, help="print this many missed words per part")
    args = parser.parse_args(argv)
    if not (args.shared / "seeds").is_dir():
        parser.error(f"{args.shared}: no seeds folder; pass --shared")

    started = time.perf_counter()
    get_lexicon()
    report: dict[str, Any] = {"lexicon_seconds": round(time.perf_counter() - started, 2)}
    report["a_all_lines"] = synthetic(args.shared, range(args.seeds), clean_lines=0.0)
    report["a_mixed_lines"] = synthetic(args.shared, range(args.seeds), clean_lines=0.3)
    report["b_seed003"] = seed003(args.shared)
    report["b_seed003_snippets"] = seed003(args.shared, snippets=True)
    report["c_clean"] = clean_texts(args.shared)

    rows = [("part", "words", "before", "after", "broken", "fixed", "correct changed")]
    for key in ("a_all_lines", "a_mixed_lines"):
        r = report[key]
        rows.append(
            (
                key,
                str(r["words"]),
                "",
                f"{r['word_accuracy']:.2%}",
                str(r["broken_words"]),
                f"{r['broken_fixed_share']:.2%}",
                f"{r['correct_words_changed']} ({r['correct_words_lost']} lost)",
            )
        )
    for key in ("b_seed003", "b_seed003_snippets"):
        b = report[key]
        rows.append(
            (
                key,
                str(b["words"]),
                f"{b['word_accuracy_before']:.2%}",
                f"{b['word_accuracy']:.2%}",
                str(b["broken_words"]),
                f"{b['broken_fixed_share']:.2%}",
                f"({b['correct_words_lost']} lost)",
            )
        )
    b = report["b_seed003"]
    for lang, c in report["c_clean"].items():
        rows.append(
            (f"c_clean_{lang}", str(c["words"]), "", "", "", "", f"{c['changes']} ({c['changes_forced']} forced)")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    a = report["a_all_lines"]
    print(
        f"lexicon load {report['lexicon_seconds']} s; seed 003 repair {b['repair_seconds']} s; "
        f"repairing again changes nothing: seed 003 {b['idempotent']}, "
        f"synthetic {a['changes_on_second_repair'] + report['a_mixed_lines']['changes_on_second_repair'] == 0}"
    )
    for key in ("a_all_lines", "b_seed003", "b_seed003_snippets"):
        if report[key]["misses"] and args.show:
            print(f"\nmissed in {key}:", ", ".join(m["word"] for m in report[key]["misses"][: args.show]))
    for lang, c in report["c_clean"].items():
        if c["changes_forced"]:
            print(f"\nclean {lang} text changed when forced:", c["changed_forced"][: args.show])
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
