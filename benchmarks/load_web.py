"""Load test of the review app: N simulated reviewers against the real server on loopback.

    python benchmarks/load_web.py                          # N = 1 2 4 8 16, 10 s each, FakeEncoder
    python benchmarks/load_web.py --model default -d 20    # the shipped model and the real encoder
    python benchmarks/load_web.py --users 4 8 --duration 5

Starts ``uvicorn`` in a subprocess on 127.0.0.1 (one worker process, as ``goalmatch serve``
runs it) over a fresh SQLite file, with the FakeEncoder on the shipped frameworks and
corpora (``--model fake``, the app's own overhead) or a model folder (``--model default``
or a path). For each N, N threads (one ``httpx`` client each) sign in and, for
``--duration`` seconds, do what a reviewer does: open the queue, paste an application
(suggest + store), ask the JSON API for suggestions, open an application and decide on
one of its frameworks (the API and the form, against the version they read, so reviewers
collide on purpose). It prints requests/s, p50/p95 per endpoint, the number of 5xx and
transport errors, and then checks in the database that every decision acknowledged with
a 2xx is stored exactly once (lost / duplicated). The N where it degrades is the first
with a p95 over 1 s on some endpoint, a 5xx or an error.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "load-test-password"
SECRET = "load-test-secret-0123456789abcdef"
TEXTS = (
    "Fiber och service i Soutujärvibygden. Syftet med projektet är att bygga ut fiber och stärka mobiltäckningen "
    "i byarna kring Soutujärvi. Projektet ska samtidigt inrätta ett servicekontor där bygdens föreningar och små "
    "företag kan dela på lokaler och tjänster.",
    "Kulturhuset i Överkalix. Projektet ordnar teater, musik och dans för barn och unga i hela kommunen och "
    "bygger om biblioteket till ett kulturhus.",
    "Exportlyftet. Små och medelstora företag i Norrbotten får stöd att börja exportera, med rådgivning om "
    "produktutveckling och innovation.",
    "Hållbara transporter. En pendelbuss mellan byarna och centralorten gör att fler kan pendla till arbete och "
    "studier utan bil.",
)
SLOW_P95_S = 1.0
SIGN_IN = ("GET /login", "POST /login")  # once per session, all reviewers at the same moment: not judged


@dataclass
class Tally:
    """What one run measured: latencies and statuses per endpoint, and the acknowledged decisions."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    acked: list[tuple[int, str, int, str]] = field(default_factory=list)  # (application, framework, version, who)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(seconds)
            self.statuses.setdefault(endpoint, Counter())[status] += 1

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def server_errors(self) -> int:
        return sum(n for c in self.statuses.values() for status, n in c.items() if status >= 500)


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(database_url: str, port: int, model: str) -> None:
    """The server process: load the model once, warm it up, serve on 127.0.0.1 until killed."""
    import uvicorn

    import goalmatch
    from goalmatch.web.app import create_app

    if model == "fake":
        from goalmatch.embed.encoder import FakeEncoder

        matcher = goalmatch.Matcher.train(goalmatch.frameworks(), goalmatch.load_corpora(), encoder=FakeEncoder())
    else:
        matcher = goalmatch.load(None if model == "default" else Path(model))
    matcher.suggest(TEXTS[0])  # load the language tools now, not on the first request
    app = create_app(matcher=matcher, database_url=database_url, secret=SECRET)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)


class Server:
    """``uvicorn`` in a subprocess (this file, ``--serve PORT MODEL``) over a fresh SQLite file (or a URL)."""

    def __init__(self, folder: Path, model: str = "fake", *, users: int = 16, startup_s: float = 180,
                 database_url: str | None = None) -> None:
        from goalmatch.web.store import Store

        self.database_url = database_url or f"sqlite:///{folder / 'load.sqlite3'}"
        store = Store(self.database_url)
        for i in range(users):
            store.create_user(f"granskare{i}", PASSWORD)
        store.engine.dispose()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "server.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.port), model],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "GOALMATCH_DATABASE_URL": self.database_url})  # not in the process listing
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {folder / 'server.log'}")
            try:
                if httpx.get(f"{self.base_url}/login", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {startup_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# ------------------------------------------------------------------ the reviewers


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def reviewer(base_url: str, who: str, until: float, tally: Tally, shared: list[int], seed: int,
             timeout_s: float = 30) -> None:
    """One reviewer's session: sign in, then suggest, add, read and decide until ``until``."""
    rng = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=timeout_s, follow_redirects=False) as client:

        def call(endpoint: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
            started = time.perf_counter()
            try:
                response = client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.errors[f"{endpoint}: {type(exc).__name__}"] += 1
                return None
            tally.record(endpoint, time.perf_counter() - started, response.status_code)
            return response

        page = call("GET /login", "GET", "/login")
        if page is None:
            return
        signed = call("POST /login", "POST", "/login",
                      data={"username": who, "password": PASSWORD, "csrf": _csrf(page.text), "next": "/queue"})
        if signed is None or signed.status_code != 303:
            return
        queue = call("GET /queue", "GET", "/queue")
        if queue is None or queue.status_code != 200:
            return
        csrf = _csrf(queue.text)
        headers = {"X-CSRF-Token": csrf}
        while time.monotonic() < until:
            roll = rng.random()
            text = f"{rng.choice(TEXTS)} ({who}, {rng.randrange(10**6)})"
            if roll < 0.15 or not shared:
                added = call("POST /applications", "POST", "/applications", data={"text": text, "csrf": csrf})
                if added is not None and added.status_code == 303:
                    with tally.lock:
                        shared.append(int(added.headers["location"].rsplit("/", 1)[1]))
            elif roll < 0.30:
                call("POST /api/suggest", "POST", "/api/suggest", json={"text": text}, headers=headers)
            elif roll < 0.40:
                call("GET /queue", "GET", "/queue")
            else:  # read an application and decide on one framework, half through the API, half the form
                with tally.lock:
                    app_id = rng.choice(shared[-20:])  # recent ones: reviewers collide on purpose
                read = call("GET /api/applications/ID", "GET", f"/api/applications/{app_id}", headers=headers)
                if read is None or read.status_code != 200:
                    continue
                body = read.json()
                frameworks = [f["framework_id"] for f in body["suggestions"]["frameworks"]]
                framework = rng.choice(frameworks)
                version = body["reviews"].get(framework, {}).get("version", 0)
                action = rng.choice(("accept", "reject"))
                if rng.random() < 0.5:
                    done = call("POST /api/…/decisions", "POST", f"/api/applications/{app_id}/decisions",
                                headers=headers, json={"framework_id": framework, "action": action,
                                                       "version": version})
                    ok = done is not None and done.status_code == 201
                else:
                    call("GET /applications/ID", "GET", f"/applications/{app_id}")
                    done = call("POST /applications/ID/decisions", "POST", f"/applications/{app_id}/decisions",
                                data={"csrf": csrf, "framework_id": framework, "action": action,
                                      "version": str(version)})
                    ok = done is not None and done.status_code == 303
                if ok:
                    with tally.lock:
                        tally.acked.append((app_id, framework, version + 1, who))


def run_load(base_url: str, users: int, duration_s: float, *, seed: int = 7) -> Tally:
    """``users`` reviewers in threads for ``duration_s`` seconds; returns what they measured."""
    tally = Tally()
    shared: list[int] = []
    until = time.monotonic() + duration_s
    threads = [threading.Thread(target=reviewer, args=(base_url, f"granskare{i}", until, tally, shared, seed + i))
               for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def check_decisions(database_url: str, acked: Sequence[tuple[int, str, int, str]]) -> dict[str, int]:
    """Every acknowledged decision stored exactly once; the review states agree with the trail."""
    import sqlalchemy as sa

    from goalmatch.web.schema import decisions, reviews

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(decisions.c.application_id, decisions.c.framework_id, decisions.c.version,
                                      decisions.c.reviewer)).all()
        states = conn.execute(sa.select(reviews.c.application_id, reviews.c.framework_id, reviews.c.version)).all()
    engine.dispose()
    stored = Counter((r.application_id, r.framework_id, r.version, r.reviewer) for r in rows)
    versions = Counter((r.application_id, r.framework_id, r.version) for r in rows)
    wanted = Counter(acked)
    latest: dict[tuple[int, str], int] = {}
    for r in rows:
        latest[(r.application_id, r.framework_id)] = max(latest.get((r.application_id, r.framework_id), 0), r.version)
    mismatched = sum(1 for s in states if latest.get((s.application_id, s.framework_id)) != s.version)
    return {
        "acknowledged": len(acked),
        "stored": len(rows),
        "lost": sum(1 for key in wanted if stored[key] == 0),
        # a version stored twice, or one version acknowledged twice (to the same or another reviewer)
        "duplicated": sum(1 for n in versions.values() if n > 1) + sum(
            1 for n in Counter((a, f, v) for a, f, v, _ in acked).values() if n > 1),
        "unacknowledged": sum(1 for key in stored if key not in wanted),  # e.g. a request cut off by a timeout
        "state_mismatch": mismatched,
    }


# ------------------------------------------------------------------ the report


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def summary(users: int, duration_s: float, tally: Tally, check: dict[str, int]) -> dict[str, Any]:
    per_endpoint = {name: (len(times), statistics.median(times), percentile(times, 0.95))
                    for name, times in sorted(tally.latencies.items())}
    worst = max((p95 for name, (_, _, p95) in per_endpoint.items() if name not in SIGN_IN), default=0.0)
    everything = [t for times in tally.latencies.values() for t in times]
    return {"users": users, "requests": tally.requests, "rps": tally.requests / duration_s,
            "p50": statistics.median(everything) if everything else float("nan"), "p95": percentile(everything, 0.95),
            "worst_p95": worst, "5xx": tally.server_errors, "errors": sum(tally.errors.values()),
            "conflicts": sum(c[409] for c in tally.statuses.values()), "endpoints": per_endpoint, **check,
            "acked_now": len(tally.acked),
            "degraded": worst > SLOW_P95_S or tally.server_errors > 0 or bool(tally.errors) or check["lost"] > 0
            or check["duplicated"] > 0 or check["state_mismatch"] > 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="N to try (1 2 4 8 16)")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per N (default 10)")
    parser.add_argument("--model", default="fake",
                        help="'fake' (FakeEncoder, default), 'default' (the shipped model) or a model folder")
    parser.add_argument("--per-endpoint", action="store_true", help="also print p50/p95 per endpoint")
    parser.add_argument("--database", help="a PostgreSQL URL to use instead of a fresh SQLite file (its tables "
                                           "must be empty)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        server = Server(Path(tmp), args.model, users=max(args.users), database_url=args.database)
        kind = "PostgreSQL" if args.database else "SQLite"
        print(f"server up in {time.perf_counter() - started:.1f} s (model {args.model}, {kind}, 1 uvicorn process); "
              f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results = []
        acked: list[tuple[int, str, int, str]] = []  # over all runs: they share the database
        try:
            for users in args.users:
                tally = run_load(server.base_url, users, args.duration)
                acked.extend(tally.acked)
                results.append(summary(users, args.duration, tally, check_decisions(server.database_url, acked)))
        finally:
            server.stop()
    print(f"\n{'N':>3} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'worst p95':>10} {'5xx':>4} {'err':>4} "
          f"{'409':>4} {'acked':>6} {'lost':>5} {'dup':>4}  degraded")
    for r in results:
        print(f"{r['users']:>3} {r['rps']:>7.1f} {r['p50'] * 1000:>8.1f} {r['p95'] * 1000:>8.1f} "
              f"{r['worst_p95'] * 1000:>8.1f}ms {r['5xx']:>4} {r['errors']:>4} {r['conflicts']:>4} "
              f"{r['acked_now']:>6} {r['lost']:>5} {r['duplicated']:>4}  {'yes' if r['degraded'] else 'no'}")
        if args.per_endpoint:
            for name, (n, p50, p95) in r["endpoints"].items():
                print(f"      {name:<32} n={n:<5} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
    first = next((r["users"] for r in results if r["degraded"]), None)
    print(f"\ndegrades at N = {first}" if first else f"\nno degradation up to N = {max(args.users)} "
          f"(p95 ≤ {SLOW_P95_S:.0f} s on every endpoint, no 5xx, nothing lost)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(os.environ["GOALMATCH_DATABASE_URL"], int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    sys.exit(main())
