"""Would counting short texts move the shipped heads' support floors? (issue 13; in-domain data only)

    python scripts/measure_floor_excerpts.py

For each shipped framework: the floor the shipped head has, the 2 % quantile of the support
of the 43 records of ``corpora/projects`` (how ``goalmatch.model.floor`` sets it), and the
same quantile with each record's first 80 words added as a text of its own. Measured on
2026-12-06: the excerpts move the floors by 0.001 to 0.005 only, since the records are short
already (median 72 words), so a floor that counts short texts was not built.
"""

from __future__ import annotations

import numpy as np

import goalmatch
from goalmatch._paths import corpora_dir
from goalmatch.data.corpus import load_corpus_paths

EXCERPT_WORDS = 80


def main() -> None:
    matcher = goalmatch.load()
    texts = [r.text for r in load_corpus_paths(sorted((corpora_dir() / "projects").glob("*.jsonl")))]
    words = [len(t.split()) for t in texts]
    print(f"{len(texts)} records, words: min {min(words)}, median {int(np.median(words))}, max {max(words)}")
    full = matcher.encoder.encode(texts)
    excerpts = matcher.encoder.encode([" ".join(t.split()[:EXCERPT_WORDS]) for t in texts])
    print(f"{'framework':28s} {'floor':>7s} {'q2':>7s} {'q2 +excerpts':>13s}")
    for fid, head in matcher.heads.items():
        s_full, s_ex = head._scores(full)[1], head._scores(excerpts)[1]
        both = np.quantile(np.r_[s_full, s_ex], 0.02)
        print(f"{fid:28s} {head.min_similarity_:7.4f} {np.quantile(s_full, 0.02):7.4f} {both:13.4f}")


if __name__ == "__main__":
    main()
