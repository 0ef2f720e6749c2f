"""Live service under load: concurrent clients mixing bars, decide and learn on loopback, then durability checks.

A real ``tradebrain serve`` (uvicorn, SQLite journal with ``synchronous=FULL``) in a subprocess; N asyncio clients
(httpx, one keep-alive connection each), each with its own ticker warmed up first, loop over a fixed mix of calls
for a bounded time: a new bar, a decision with component scores, trades learned (from the last "buy" decision when
there is one, else with components), and now and then a repeat of a trade id already acknowledged (it must be
answered as a duplicate). It prints throughput and p50/p99 latency per route and the errors, then checks:

* every acknowledged learn is in the journal exactly once, and nothing unacknowledged is (lost, doubled, extra);
* the brain's trade count equals the journal's; every repeat was answered as a duplicate;
* a restart on the same journal answers every read endpoint as before (statistics, weights, performance,
  regime of each ticker, breaker).

Aims (issue 26): 32 clients for 60 s: 0 errors, decide p99 <= 20 ms, learn >= 1,000/s, nothing lost or doubled.

Usage::

    python -m experiments.benchmarks.live_load --clients 32 --duration 60 --out runs/bench/live_load.json
    python -m experiments.benchmarks.live_load --bundle runs/quickstart-.../bundle --clients 16 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

TOKEN = "bench-token-0123456789abcdef"
API = "/api/learning"
WARM_BARS = 130
READS = ("/statistics", "/weights", "/performance", "/circuit-breaker", "/report")


@dataclass
class Tally:
    """What the clients saw: latencies by route, errors, acknowledged trade ids, repeats answered."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    repeats: int = 0
    repeats_not_duplicate: int = 0


def _pct(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1e3
    if ms.size == 0:
        return {"n": 0}
    return {"n": int(ms.size), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def _bar(ticker_seed: int, i: int) -> dict[str, Any]:
    """Bar ``i`` of a smooth synthetic series, one minute apart from 2000-01-01 (UTC)."""
    c = 100.0 * math.exp(0.02 * math.sin(i / 7.0 + ticker_seed) + 0.0001 * i)
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(946_684_800 + 60 * i))
    return {"time": t, "open": c, "high": c * 1.002, "low": c * 0.998, "close": c, "volume": 1000.0}


class RawHTTP:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: JSON POSTs to one server, nothing else.

    The load generator shares the machine's cores with the server; this client spends a fraction of httpx's CPU
    per call (``--client httpx`` uses httpx instead, for comparison).
    """

    def __init__(self, url: str) -> None:
        host, port = url.split("://", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {API}{path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status_line = await self.reader.readline()
        if not status_line:
            self.writer = None
            raise ConnectionError("the server closed the connection")
        length, keep = 0, True
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                keep = False
        payload = await self.reader.readexactly(length)
        if not keep:
            self.writer.close()
            self.writer = None
        return int(status_line.split()[1]), payload

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()


class HttpxHTTP:
    """The same calls through ``httpx.AsyncClient`` (one keep-alive connection)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.AsyncClient(base_url=url + API, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        r = await self.http.post(path, json=body)
        return r.status_code, r.content

    async def aclose(self) -> None:
        await self.http.aclose()


class Client:
    """One client: its own connection and ticker; ``mix`` is the cycle of calls it repeats."""

    def __init__(self, k: int, url: str, mix: list[str], tally: Tally, rng: random.Random, kind: str) -> None:
        self.k, self.mix, self.tally, self.rng = k, mix, tally, rng
        self.ticker = f"load-{k}"
        self.http: RawHTTP | HttpxHTTP = RawHTTP(url) if kind == "raw" else HttpxHTTP(url)
        self.n_bars = WARM_BARS
        self.trade = 0
        self.buy: str | None = None

    async def warm_up(self) -> None:
        bars = [_bar(self.k, i) for i in range(WARM_BARS)]
        status, payload = await self.http.post("/bars", {"ticker": self.ticker, "bars": bars})
        if status != 200 or not json.loads(payload)["ready"]:
            raise RuntimeError(f"warm-up of {self.ticker}: {status} {payload[:300]!r}")

    async def call(self, route: str, body: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        try:
            status, payload = await self.http.post(route, body)
        except Exception as exc:  # a refused or dropped connection is an error of the run, not a crash
            self.tally.errors.append(f"{route}: {type(exc).__name__}: {exc}")
            return None
        self.tally.latency[route].append(time.perf_counter() - t0)
        self.tally.statuses[route][status] += 1
        if status != 200:
            self.tally.errors.append(f"{route}: {status} {payload[:200]!r}")
            return None
        return json.loads(payload)

    async def step(self, op: str) -> None:
        rng = self.rng
        if op == "bars":
            bar = _bar(self.k, self.n_bars)
            self.n_bars += 1
            await self.call("/bars", {"ticker": self.ticker, "bars": [bar], "portfolio_state": {"equity": 1e5}})
        elif op == "decide":
            scores = {c: round(rng.uniform(-1, 1), 3) for c in ("theme", "technical", "ai", "sentiment")}
            d = await self.call("/decide", {"ticker": self.ticker, "component_scores": scores})
            if d is not None and d["action"] == "buy":
                self.buy = d["decision_id"]
        elif op == "learn":
            if self.tally.acked and rng.random() < 0.05:  # a client retrying a trade it already sent
                tid = rng.choice(self.tally.acked)
                out = await self.call("/learn", {"trade_id": tid, "net_return": 0.5, "components": {"ai": 0.9}})
                self.tally.repeats += 1
                self.tally.repeats_not_duplicate += int(out is not None and not out["duplicate"])
                return
            self.trade += 1
            tid = f"c{self.k}-{self.trade}"
            body: dict[str, Any] = {"trade_id": tid, "net_return": round(rng.gauss(0.001, 0.02), 5)}
            if self.buy is not None:
                body["decision_id"], self.buy = self.buy, None
            else:
                body["components"] = {c: round(rng.uniform(-1, 1), 3) for c in ("theme", "technical", "ai")}
            out = await self.call("/learn", body)
            if out is not None and out["accepted"]:
                self.tally.acked.append(tid)

    async def run(self, stop_at: float, interval: float) -> None:
        # clients start at a random place of the mix and (paced) of the interval: not all in step
        i = self.rng.randrange(len(self.mix))
        next_at = time.perf_counter() + self.rng.uniform(0.0, interval)
        while time.perf_counter() < stop_at:
            if interval:  # open loop: calls at fixed times, latency counted from the planned time
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await self.step(self.mix[i % len(self.mix)])
            i += 1
        await self.http.aclose()


def parse_mix(text: str) -> list[str]:
    """``"bars=1,decide=2,learn=4"`` -> the interleaved cycle of calls."""
    counts = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        if name not in ("bars", "decide", "learn") or not n.isdigit():
            raise SystemExit(f"--mix {text!r}: use bars=N,decide=N,learn=N (whole numbers)")
        counts[name] = int(n)
    total = sum(counts.values())
    # spread each call kind evenly over the cycle (largest remainder)
    return [name for _, name in sorted((i / n, name) for name, n in counts.items() for i in range(n))][:total]


class Server:
    """``tradebrain serve`` in a subprocess on a free loopback port."""

    def __init__(self, bundle: Path, store: Path, synchronous: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TRADEBRAIN_TOKEN": TOKEN}
        cmd = [sys.executable, "-m", "experiments.cli", "serve", "--bundle", str(bundle), "--store", str(store)]
        cmd += ["--port", str(self.port), "--synchronous", synchronous, "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        import httpx

        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + API + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("the server did not answer in 60 s")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def reads(url: str, tickers: list[str]) -> dict[str, Any]:
    """Every read endpoint's answer (the restart check compares them)."""
    import httpx

    with httpx.Client(base_url=url + API, timeout=30) as c:
        out = {path: c.get(path).json() for path in READS}
        for t in tickers:
            out[f"/regime?ticker={t}"] = c.get("/regime", params={"ticker": t}).json()
            out[f"/weights?ticker={t}"] = c.get("/weights", params={"ticker": t}).json()
    return out


async def drive(
    url: str,
    clients: int,
    duration: float,
    mix: list[str],
    rate: float = 0.0,
    seed: int = 0,
    on_start: Any = None,
    kind: str = "raw",
) -> Tally:
    """Warm up one ticker per client, call ``on_start()``, then run the clients for ``duration`` seconds."""
    tally = Tally()
    pool = [Client(k, url, mix, tally, random.Random(seed + k), kind) for k in range(clients)]
    await asyncio.gather(*(c.warm_up() for c in pool))
    if on_start is not None:
        on_start()
    stop_at = time.perf_counter() + duration
    interval = clients / rate if rate else 0.0
    await asyncio.gather(*(c.run(stop_at, interval) for c in pool))
    return tally


def journal_check(store: Path, acked: list[str]) -> dict[str, int]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = [r[0] for r in db.execute("SELECT trade_id FROM trades")]
    stored, ack = set(rows), set(acked)
    return {
        "acknowledged": len(ack),
        "acknowledged_twice_by_the_service": len(acked) - len(ack),
        "stored_rows": len(rows),
        "lost": len(ack - stored),
        "doubled": len(rows) - len(stored),
        "stored_not_acknowledged": len(stored - ack),
    }


def commit_latency(folder: Path, synchronous: str, n: int = 200) -> dict[str, float]:
    """p50/p99 of one small SQLite commit (WAL, ``synchronous``) in ``folder``: the fsync a lone write costs."""
    db = sqlite3.connect(folder / "probe.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (payload) VALUES (?)", ("x" * 300,))
        db.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    db.close()
    return _pct(times)


def run(args: argparse.Namespace, bundle: Path, folder: Path) -> dict[str, Any]:
    store = folder / "journal.sqlite"
    server = Server(bundle, store, args.synchronous)
    mix = parse_mix(args.mix)
    try:
        start: list[float] = []

        def on_start() -> None:  # CPU and time of the load itself (the warm-up posts are left out)
            start.extend([server.cpu_s(), time.process_time(), time.perf_counter()])

        run_clients = drive(server.url, args.clients, args.duration, mix, args.rate, args.seed, on_start, args.client)
        tally = asyncio.run(run_clients)
        cpu = {
            "server_s": server.cpu_s() - start[0],
            "clients_s": time.process_time() - start[1],
            "wall_s": time.perf_counter() - start[2],
        }
        import httpx

        stats = httpx.get(server.url + API + "/statistics").json()
        health = httpx.get(server.url + API + "/health").json()
        tickers = sorted(stats["tickers"])
        before = reads(server.url, tickers)
    finally:
        server.stop()
    again = Server(bundle, store, args.synchronous)
    try:
        after = reads(again.url, tickers)
    finally:
        again.stop()
    routes = {
        route: {**_pct(lat), "per_s": len(lat) / args.duration, "statuses": dict(tally.statuses[route])}
        for route, lat in sorted(tally.latency.items())
    }
    journal = health["journal"]
    return {
        "routes": routes,
        "errors": len(tally.errors),
        "error_examples": tally.errors[:10],
        "journal": {
            **journal_check(store, tally.acked),
            "brain_trades": stats["trades"],
            "repeats_sent": tally.repeats,
            "repeats_not_answered_duplicate": tally.repeats_not_duplicate,
            "commits": journal["commits"],
            "changes_committed": journal["changes"],
            "changes_per_commit": journal["changes"] / max(1, journal["commits"]),
        },
        "restart": {
            "endpoints_compared": len(before),
            "different": sorted(k for k in before if before[k] != after.get(k)),
        },
        "cpu": cpu,
        "single_commit": commit_latency(folder, args.synchronous),
        "load_avg_after": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle folder (default: train and export a tiny run, about 15 s)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--mix", default="bars=1,decide=2,learn=6", help="calls per cycle (default %(default)s)")
    parser.add_argument("--rate", type=float, default=0.0, help="total calls/s, paced (default 0: as fast as possible)")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite durability")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="raw asyncio streams or httpx")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.bundle:
            bundle = Path(args.bundle)
        else:
            from experiments.benchmarks.live_latency import tiny_bundle

            bundle = tiny_bundle(Path(tmp) / "runs")
        result = {
            "machine": {
                "python": platform.python_version(),
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "load_avg_before": os.getloadavg(),
                "date": time.strftime("%Y-%m-%d"),
            },
            "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"bundle": str(bundle)},
            **run(args, bundle, Path(tmp)),
        }
    print(json.dumps(result, indent=1))
    write_json(args.out, result, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
