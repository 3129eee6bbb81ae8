"""How often prepare() repairs text that is not Swedish, and whether broken Swedish still is.

The PDF repair knows Swedish words only; prepare() keeps a repair only for text that reads
as Swedish before it or after it (see ``goalmatch.text.prepare._swedish_after_all``).

    python scripts/measure_repair_gate.py --shared ../shared
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import evaluate_repair as er  # noqa: E402

from goalmatch.text.prepare import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    dk = [json.loads(line) for line in (args.shared / "data/benchmarks/dk-erdf.jsonl").open(encoding="utf-8")]
    off = [json.loads(line) for line in (ROOT / "benchmarks/data/offtopic.jsonl").open(encoding="utf-8")]
    broken = []
    for prefix in er.CLEAN_SEEDS:  # the seeds broken like the PDF, every line, seed 0
        clean = er._seed_file(args.shared, prefix).read_text(encoding="utf-8")
        broken += [p for p in er.break_like_pdf(clean, 0, clean_lines=0.0).split("\n\n") if len(p.split()) > 12]
    sets = {
        "Danish regional-fund projects (dk-erdf)": [r["title"] + ". " + r["text"] for r in dk],
        "off-topic set, Norwegian/Danish/English": [r["text"] for r in off if r["language"] in ("no", "da", "en")],
        "broken Swedish paragraphs (seeds 000/001/002/004)": broken,
    }
    for name, texts in sets.items():
        repaired = sum(prepare(t).repaired for t in texts)
        print(f"{name}: {len(texts)} texts, {repaired} repaired")


if __name__ == "__main__":
    main()
