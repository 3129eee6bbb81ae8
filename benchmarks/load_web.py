"""Load test of the review app: N simulated reviewers against the real server on loopback.

    python benchmarks/load_web.py                          # N = 1 2 4 8 16, 10 s each, FakeEncoder
    python benchmarks/load_web.py --model default -d 20    # the shipped model and the real encoder
    python benchmarks/load_web.py --users 4 8 --duration 5
    python benchmarks/load_web.py --model default --users 16 --long 150000 --json long.json

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

``--long CHARS`` (issue 16, item 9): N reviewers (the first ``--users``) work as above but
pause ``--think`` seconds (2-8 by default: a person reads between steps) after each step;
after ``--lead`` seconds one more reviewer pastes an application of CHARS characters (the
shipped corpora's texts repeated) and the others go on until ``--tail`` seconds after it
is stored. It prints (and with ``--json`` writes) the long paste's time and the others'
p50/p95/max before it, while it was under way (requests started in that time, sign-in
excluded) and overall, per endpoint while it ran, and the decisions check.
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
    timeline: list[tuple[str, float, float]] = field(default_factory=list)  # (endpoint, started, seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, seconds: float, status: int, started: float | None = None) -> None:
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(seconds)
            self.statuses.setdefault(endpoint, Counter())[status] += 1
            self.timeline.append((endpoint, time.monotonic() - seconds if started is None else started, seconds))

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
             timeout_s: float = 30, *, think_s: tuple[float, float] = (0.0, 0.0),
             stop: threading.Event | None = None) -> None:
    """One reviewer's session: sign in, then suggest, add, read and decide until ``until`` (or ``stop``),
    pausing ``think_s`` (uniform, seconds) after each step."""
    rng = random.Random(seed)
    stop = stop or threading.Event()
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
        while time.monotonic() < until and not stop.wait(rng.uniform(*think_s)):
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


def long_text(chars: int) -> str:
    """A Swedish application of ``chars`` characters: the shipped corpora's project texts, repeated."""
    import goalmatch

    texts = [r.text for r in goalmatch.load_corpora()]
    out, i = [], 0
    while sum(map(len, out)) + 2 * len(out) < chars:
        out.append(texts[i % len(texts)])
        i += 1
    return "\n\n".join(out)[:chars]


def paste_long(base_url: str, who: str, text: str, result: dict[str, Any], timeout_s: float = 1800) -> None:
    """One reviewer pastes ``text`` as a new application (POST /applications); ``result`` gets its status and time."""
    with httpx.Client(base_url=base_url, timeout=timeout_s, follow_redirects=False) as client:
        page = client.get("/login")
        client.post("/login", data={"username": who, "password": PASSWORD, "csrf": _csrf(page.text), "next": "/new"})
        csrf = _csrf(client.get("/new").text)
        result["started"] = time.monotonic()
        try:
            response = client.post("/applications", data={"text": text, "title": "Lång ansökan", "csrf": csrf})
            result["status"] = response.status_code
        except httpx.HTTPError as exc:  # e.g. a timeout: the others' figures still count
            result["status"] = f"{type(exc).__name__}"
        result["seconds"] = time.monotonic() - result["started"]


def run_long(base_url: str, users: int, chars: int, *, think_s: tuple[float, float], lead_s: float, tail_s: float,
             timeout_s: float = 1800, progress_s: float = 15, seed: int = 7) -> tuple[Tally, dict[str, Any]]:
    """``users`` reviewers at work (pausing ``think_s`` between steps); after ``lead_s`` seconds one more
    pastes a ``chars``-character application; the others go on until ``tail_s`` seconds after it is stored."""
    tally, shared, stop = Tally(), [], threading.Event()
    text = long_text(chars)
    threads = [threading.Thread(target=reviewer, kwargs={"think_s": think_s, "stop": stop},
                                args=(base_url, f"granskare{i}", float("inf"), tally, shared, seed + i))
               for i in range(users)]
    for thread in threads:
        thread.start()
    time.sleep(lead_s)
    long_one: dict[str, Any] = {"chars": len(text)}
    paster = threading.Thread(target=paste_long, args=(base_url, f"granskare{users}", text, long_one, timeout_s))
    paster.start()
    while paster.join(progress_s) or paster.is_alive():  # a line now and then: a stuck run shows
        began = long_one.get("started", time.monotonic())
        with tally.lock:
            times = [seconds for name, at, seconds in tally.timeline if at >= began and name not in SIGN_IN]
        print(f"  {time.monotonic() - began:5.0f} s into the long paste: the others' {len(times)} requests since, "
              f"p95 {percentile(times, 0.95) * 1000:.0f} ms, max {max(times, default=0) * 1000:.0f} ms", flush=True)
    time.sleep(tail_s)
    stop.set()
    for thread in threads:
        thread.join()
    return tally, long_one


def long_summary(tally: Tally, long_one: dict[str, Any]) -> dict[str, Any]:
    """The others' latencies (p50/p95/max) while the long application was under way, and over the whole run."""
    begin, end = long_one["started"], long_one["started"] + long_one["seconds"]
    judged = [(name, at, seconds) for name, at, seconds in tally.timeline if name not in SIGN_IN]

    def stats(rows: list[tuple[str, float, float]]) -> dict[str, Any]:
        times = [seconds for _, _, seconds in rows]
        return {"n": len(times), "p50": statistics.median(times) if times else None,
                "p95": percentile(times, 0.95) if times else None, "max": max(times, default=None)}

    during = [row for row in judged if begin <= row[1] < end]
    return {"long": long_one, "during": stats(during), "before": stats([row for row in judged if row[1] < begin]),
            "overall": stats(judged),
            "during_per_endpoint": {name: stats([r for r in during if r[0] == name])
                                    for name in sorted({r[0] for r in during})},
            "5xx": tally.server_errors, "errors": dict(tally.errors)}


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
    parser.add_argument("--long", type=int, metavar="CHARS",
                        help="the long-application scenario: the first N of --users reviewers (pausing --think) "
                             "while one more pastes an application of CHARS characters (e.g. 150000)")
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 8.0], metavar=("LO", "HI"),
                        help="with --long: seconds a reviewer pauses after each step, uniform (default 2 8)")
    parser.add_argument("--lead", type=float, default=15.0, help="with --long: seconds of work before the paste")
    parser.add_argument("--tail", type=float, default=5.0, help="with --long: seconds of work after it")
    parser.add_argument("--long-timeout", type=float, default=900,
                        help="with --long: seconds the long paste's client waits (default 900)")
    parser.add_argument("--json", type=Path, help="with --long: write the figures to this file too")
    args = parser.parse_args(argv)
    if args.long:
        return main_long(args)

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


def main_long(args: argparse.Namespace) -> int:
    """The long-application scenario (issue 16, item 9): the others' p50/p95/max while it is under way."""
    import json

    users = args.users[0]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        server = Server(Path(tmp), args.model, users=users + 1, database_url=args.database)
        before = os.getloadavg()
        print(f"server up in {time.perf_counter() - started:.1f} s (model {args.model}, 1 uvicorn process); "
              f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.2f}' for x in before)}", flush=True)
        try:
            tally, long_one = run_long(server.base_url, users, args.long, think_s=tuple(args.think),
                                       lead_s=args.lead, tail_s=args.tail, timeout_s=args.long_timeout)
            check = check_decisions(server.database_url, tally.acked)
        finally:
            server.stop()
    result = {"command": " ".join(sys.argv), "model": args.model, "users": users, "think_s": args.think,
              "cpus": os.cpu_count(), "load_before": before, "load_after": os.getloadavg(),
              **long_summary(tally, long_one), **check}
    result["long"].pop("started", None)
    ms = lambda v: "-" if v is None else f"{v * 1000:.0f} ms"  # noqa: E731
    print(f"\n{users} reviewers (pausing {args.think[0]:g}-{args.think[1]:g} s) while one pastes "
          f"{long_one['chars']:,} characters: that one took {long_one['seconds']:.1f} s (status {long_one['status']})")
    for name in ("before", "during", "overall"):
        r = result[name]
        print(f"  the others, {name:<8} n={r['n']:<5} p50 {ms(r['p50'])}  p95 {ms(r['p95'])}  max {ms(r['max'])}")
    for name, r in result["during_per_endpoint"].items():
        print(f"      {name:<32} n={r['n']:<5} p50 {ms(r['p50'])}  p95 {ms(r['p95'])}  max {ms(r['max'])}")
    print(f"  5xx {result['5xx']}, errors {sum(result['errors'].values())}, decisions acknowledged "
          f"{check['acknowledged']}, lost {check['lost']}, duplicated {check['duplicated']}")
    p95 = result["during"]["p95"]
    under = p95 is not None and p95 < SLOW_P95_S
    print(f"  the others' p95 while it ran: {ms(p95)} ({'under' if under else 'NOT under'} {SLOW_P95_S:g} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(os.environ["GOALMATCH_DATABASE_URL"], int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    sys.exit(main())
