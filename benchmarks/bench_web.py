"""p50/p95 latency of the review app's suggest path, in-process (FastAPI TestClient, SQLite file).

    python benchmarks/bench_web.py                 # the shipped model (real encoder)
    python benchmarks/bench_web.py --fake -n 50    # FakeEncoder on the shipped frameworks: app overhead only

    python benchmarks/bench_web.py --profile       # where the work of one POST /api/suggest goes
    python benchmarks/bench_web.py --long 27000 150000   # matcher.suggest on long texts, by stage

Measures three requests, each ``-n`` times after one warm-up: pasting an application
(POST /applications: suggest + store + redirect), showing it (GET /applications/ID:
highlights, evidence, forms) and the JSON API (POST /api/suggest), and the same text
through ``matcher.suggest`` alone, without the web app: the difference is what the web
layer adds. Prints one line per request with p50, p95 and max in milliseconds, the
machine's CPU count and load average (other work on the machine shows in the figures).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEXT = (
    "Fiber och service i Soutujärvibygden\n\n"
    "Syftet med projektet är att bygga ut fiber och stärka mobiltäckningen i byarna kring Soutujärvi. "
    "Projektet ska samtidigt inrätta ett servicekontor där bygdens föreningar och små företag kan dela "
    "på lokaler och tjänster. Målet är att fler unga familjer ska kunna bo kvar och att besöksnäringen "
    "ska få bättre förutsättningar."
)


def _matcher(fake: bool) -> Any:
    import goalmatch

    if not fake:
        return goalmatch.load()
    from goalmatch.embed.encoder import FakeEncoder

    return goalmatch.Matcher.train(goalmatch.frameworks(), goalmatch.load_corpora(), encoder=FakeEncoder())


def _percentiles(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    p50, top = statistics.median(ordered), ordered[-1]
    return f"p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {top * 1000:7.1f} ms"


def long_figures(matcher: Any, sizes: list[int]) -> None:
    """``matcher.suggest`` on texts of ``sizes`` characters (the corpora's texts repeated), once each under
    cProfile, and the cumulative time of its stages in that run: preparing the text, splitting it into
    sentences, cutting it into passages (tokens counted), encoding the passages (sentence vectors from
    the same pass), and the rest (the heads, the evidence, the key terms)."""
    import cProfile
    import pstats

    import goalmatch

    texts = [r.text for r in goalmatch.load_corpora()]
    matcher.suggest("\n\n".join(texts)[:20_000])  # language tools and e5's torch pass loaded
    stages = {"prepare": "prepare", "sentences": "sentences", "passages": "chunk", "encoding": "_encode_spans"}
    for size in sizes:
        text = "\n\n".join(texts * (size // sum(map(len, texts)) + 1))[:size]
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        result = matcher.suggest(text)
        profiler.disable()
        total = time.perf_counter() - started
        found: dict[str, float] = {}
        for (file, _, name), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
            if "goalmatch" in file and name in stages.values():
                found[name] = found.get(name, 0.0) + row[3]  # cumulative seconds
        parts = {label: found.get(name, 0.0) for label, name in stages.items()}
        rest = total - parts["prepare"] - parts["passages"] - parts["encoding"]  # sentences: inside chunk too
        print(f"{size:>8,} characters ({len(result.frameworks)} frameworks): suggest {total:6.1f} s (profiled): "
              + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in parts.items())
              + f", the rest {rest:.2f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="timed requests of each kind (default 20)")
    parser.add_argument("--fake", action="store_true", help="FakeEncoder instead of the shipped model")
    parser.add_argument("--profile", action="store_true",
                        help="profile what one POST /api/suggest does (the service's suggest and the JSON "
                             "encoding; cProfile, top 30 by cumulative time)")
    parser.add_argument("--long", type=int, nargs="+", metavar="CHARS",
                        help="instead: matcher.suggest on texts of these sizes, by stage (issue 16, item 9)")
    args = parser.parse_args(argv)
    if args.long:
        long_figures(_matcher(args.fake), args.long)
        return 0

    from fastapi.testclient import TestClient

    from goalmatch.web.app import create_app

    started = time.perf_counter()
    matcher = _matcher(args.fake)
    loaded = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(matcher=matcher, database_url=f"sqlite:///{Path(folder) / 'bench.sqlite3'}",
                         secret="benchmark-secret-0123456789")
        app.state.review.store.create_user("bench", "benchmark-password")
        client = TestClient(app, follow_redirects=False)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "bench", "password": "benchmark-password", "csrf": csrf})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/new").text).group(1)  # type: ignore[union-attr]

        timings: dict[str, list[float]] = {"POST /applications": [], "GET /applications/ID": [],
                                           "POST /api/suggest": [], "matcher.suggest (no web)": []}
        for i in range(args.n + 1):  # the first round warms up (spaCy, caches) and is not counted
            t0 = time.perf_counter()
            response = client.post("/applications", data={"text": f"{TEXT} ({i})", "csrf": csrf})
            t1 = time.perf_counter()
            assert response.status_code == 303, response.text
            page = client.get(response.headers["location"])
            t2 = time.perf_counter()
            assert page.status_code == 200
            api = client.post("/api/suggest", json={"text": f"{TEXT} ({i})"}, headers={"X-CSRF-Token": csrf})
            t3 = time.perf_counter()
            assert api.status_code == 200
            matcher.suggest(f"{TEXT} [{i}]", top_k=3).to_dict()  # the library alone, same work as the API
            t4 = time.perf_counter()
            if i:
                timings["POST /applications"].append(t1 - t0)
                timings["GET /applications/ID"].append(t2 - t1)
                timings["POST /api/suggest"].append(t3 - t2)
                timings["matcher.suggest (no web)"].append(t4 - t3)
        if args.profile:  # the handler runs in a worker thread, out of cProfile's sight: profile its parts here
            import cProfile
            import pstats

            from fastapi.encoders import jsonable_encoder

            service = app.state.review
            profiler = cProfile.Profile()
            profiler.enable()
            result = service.suggest(f"{TEXT} (profil)", 3)
            jsonable_encoder(result)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        app.state.review.store.engine.dispose()

    model = "FakeEncoder" if args.fake else "models/default"
    print(f"model {model} (loaded in {loaded:.1f} s), {args.n} requests each, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, times in timings.items():
        print(f"{name:<22} {_percentiles(times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
