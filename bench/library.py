"""Library API throughput and latency on PostgreSQL: playtime heartbeats and GET library.

A fresh PostgreSQL database is seeded with players (each owning a shelf of games and holding
an open playtime session), then wrk (one thread, keep-alive connections) replays
  * ``POST /api/v1/library/playtime/heartbeat`` cycling through the players' sessions, and
  * ``GET /api/v1/library/?limit=20`` cycling through the players,
each with the player's own bearer token, against library API worker processes sharing one
port (SO_REUSEPORT). The heartbeat rate limit is switched off for the run: wrk sends each
session far more heartbeats than a client would. Each load is preceded by a short warm-up
(connections opened, statements prepared) that is not counted.

Beside throughput and latency, each load reports the CPU time spent per request by the API
workers, the PostgreSQL backends serving them, and wrk (on a machine shared with other work
that figure is steadier than requests per second), and how many cores everything else kept
busy meanwhile. ``--profile DIR`` writes a cProfile of each
worker there. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from library_api import create_app
from library_api.activity_models import PlaytimeSession
from library_api.database import create_engine
from library_api.models import CatalogEntry, LibraryEntry, User
from library_api.options import LibraryOptions
from library_api.store import LibraryStore
from peerpipe.config import Config
from peerpipe.service import free_port, run_event_loop
from peerpipe.tokens import Role, mint_token

WRK = "/usr/bin/wrk"
POSTGRES_URL = os.environ.get(
    "PEERPIPE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PLATFORM_KEY = "bench-library-platform-key-0123456789abcdef0123"
BASE = "/api/v1/library"
GOAL = {"rps": 5000, "p95_ms": 100, "p99_ms": 200}


@dataclass(frozen=True)
class Plan:
    players: int
    games_per_player: int
    seconds: int
    connections: int
    workers: int


FULL = Plan(players=2000, games_per_player=40, seconds=20, connections=64, workers=2)
QUICK = Plan(players=1000, games_per_player=30, seconds=8, connections=48, workers=2)
WARM_UP_SECONDS = 2
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
BENCH_OPTIONS = LibraryOptions(min_heartbeat_interval_seconds=0.0, afk_limit_seconds=86400.0)


def serve(args: argparse.Namespace) -> None:
    """One library API worker (a child process of the bench)."""
    config = Config(platform_key=PLATFORM_KEY, log_level="WARNING", data_dir=Path(args.data_dir))
    config = replace(config, library=replace(config.library, database_url=args.database_url))

    async def run() -> None:
        runner = web.AppRunner(create_app(config, BENCH_OPTIONS), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port, reuse_port=True).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    profile = cProfile.Profile(time.process_time) if args.profile else None
    if profile is not None:
        profile.enable()
    run_event_loop(run())
    if profile is not None:
        profile.disable()
        profile.dump_stats(Path(args.profile) / f"worker-{os.getpid()}.prof")


async def _admin(sql: str) -> None:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def seed(url: str, plan: Plan) -> list[tuple[str, str]]:
    """Players with their games and one open session each: (user, session id)."""
    store = LibraryStore(url)
    await store.open()  # migrates
    await store.close()
    now = datetime.now(UTC)
    users = [f"player-{n:05d}" for n in range(plan.players)]
    games = [f"game-{n:04d}" for n in range(plan.games_per_player)]
    sessions = [(user, secrets.token_hex(16)) for user in users]
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(User), [{"user_id": user, "created_at": now} for user in users]
            )
            await connection.execute(
                insert(CatalogEntry),
                [
                    {
                        "game_id": game,
                        "title": game.replace("-", " ").title(),
                        "publisher": "Bench",
                        "details": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for game in games
                ],
            )
            await connection.execute(
                insert(LibraryEntry),
                [
                    {
                        "user_id": user,
                        "game_id": game,
                        "acquisition_type": "purchase",
                        "acquired_at": now,
                        "installation_status": "none",
                        "updated_at": now,
                    }
                    for user in users
                    for game in games
                ],
            )
            await connection.execute(
                insert(PlaytimeSession),
                [
                    {
                        "session_id": sid,
                        "user_id": user,
                        "game_id": games[0],
                        "device_id": "bench",
                        "owner_id": user,
                        "started_at": now,
                        "last_heartbeat_at": now,
                    }
                    for user, sid in sessions
                ],
            )
        # Planner statistics, as a database that grew by use has them.
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return sessions


def wrk_script(requests: list[tuple[str, str, str, str]]) -> str:
    """A script cycling through (method, path, token, body) requests."""
    rows = ",\n".join(
        "{" + ", ".join(json.dumps(part) for part in request) + "}" for request in requests
    )
    return f"""
local calls = {{
{rows}
}}
local n = #calls
local i = math.random(n)
request = function()
  i = i + 1
  if i > n then i = 1 end
  local call = calls[i]
  local headers = {{["Authorization"] = "Bearer " .. call[3]}}
  if call[4] ~= "" then headers["Content-Type"] = "application/json" end
  local body = nil
  if call[4] ~= "" then body = call[4] end
  return wrk.format(call[1], call[2], headers, body)
end
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d,"
    .. " \\"non2xx\\": %d, \\"p50_us\\": %d, \\"p95_us\\": %d, \\"p99_us\\": %d}}\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used (every core, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def backend_pids(database: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (the workers' pools)."""
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


def run_wrk(
    url: str,
    requests: list[tuple[str, str, str, str]],
    seconds: int,
    connections: int,
    workdir: Path,
) -> dict:
    script = workdir / f"library-{time.monotonic_ns()}.lua"
    script.write_text(wrk_script(requests))
    argv = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "-s", str(script), url]  # fmt: skip
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    found = re.search(r"WRKJSON (\{.*\})", output)
    if found is None:
        raise RuntimeError(f"wrk printed no summary: {output}")
    figures = json.loads(found.group(1))
    seconds = figures["duration_us"] / 1e6
    return {
        "rps": round(figures["requests"] / seconds, 1),
        "p50_ms": round(figures["p50_us"] / 1000, 3),
        "p95_ms": round(figures["p95_us"] / 1000, 3),
        "p99_ms": round(figures["p99_us"] / 1000, 3),
        "requests": figures["requests"],
        "errors": figures["errors"] + figures["non2xx"],
    }


async def wait_ready(url: str, deadline: float) -> None:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("library workers did not become healthy")


def start_workers(
    plan: Plan, port: int, url: str, data_dir: Path, profile: str
) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, __file__, "--serve", "--port", str(port), "--database-url", url,
            "--data-dir", str(data_dir), "--profile", profile]  # fmt: skip
    return [subprocess.Popen(argv) for _ in range(plan.workers)]


async def measure(
    base: str,
    requests: list[tuple[str, str, str, str]],
    plan: Plan,
    workdir: Path,
    workers: list[subprocess.Popen[bytes]],
    database: str,
) -> dict:
    """One load: a warm-up, then the measured run with the CPU each party spent on it."""
    await asyncio.to_thread(run_wrk, base, requests, WARM_UP_SECONDS, plan.connections, workdir)
    backends = await backend_pids(database)
    parties = {"api": [w.pid for w in workers], "postgres": backends}
    before = {name: sum(map(process_cpu_seconds, pids)) for name, pids in parties.items()}
    wrk_before, busy_before, started = children_cpu_seconds(), machine_busy_seconds(), time.time()
    figures = await asyncio.to_thread(
        run_wrk, base, requests, plan.seconds, plan.connections, workdir
    )
    spent = {name: sum(map(process_cpu_seconds, pids)) - before[name]
             for name, pids in parties.items()}  # fmt: skip
    spent["wrk"] = children_cpu_seconds() - wrk_before
    busy, elapsed = machine_busy_seconds() - busy_before, time.time() - started
    served = max(1, figures["requests"])
    figures["cpu_us_per_request"] = {
        name: round(seconds * 1e6 / served, 1) for name, seconds in spent.items()
    }
    figures["postgres_backends"] = len(backends)
    # Cores kept busy by everything else during the run (other work on the machine, and
    # PostgreSQL's background writers): the context the throughput was measured in.
    figures["other_cpu_cores"] = round(max(0.0, busy - sum(spent.values())) / elapsed, 2)
    return figures


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


async def bench(plan: Plan, profile: str) -> dict:
    name = f"peerpipe_bench_{secrets.token_hex(4)}"
    load_before = os.getloadavg()[0]
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    try:
        started = time.monotonic()
        sessions = await seed(url, plan)
        seeded = time.monotonic() - started
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            port = free_port()
            workers = start_workers(plan, port, url, workdir, profile)
            try:
                base = f"http://127.0.0.1:{port}"
                await wait_ready(base, time.monotonic() + 30)
                tokens = {user: mint_token(PLATFORM_KEY, user, Role.USER) for user, _ in sessions}
                beats = [("POST", f"{BASE}/playtime/heartbeat", tokens[user],
                          json.dumps({"session_id": sid})) for user, sid in sessions]  # fmt: skip
                shelves = [("GET", f"{BASE}/?limit=20", tokens[user], "") for user, _ in sessions]
                heartbeat = await measure(base, beats, plan, workdir, workers, name)
                get_library = await measure(base, shelves, plan, workdir, workers, name)
            finally:
                stop_workers(workers)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "bench": "library",
        "database": "postgresql",
        "workers": plan.workers,
        "connections": plan.connections,
        "seconds_per_load": plan.seconds,
        "players": plan.players,
        "games_per_player": plan.games_per_player,
        "seed_seconds": round(seeded, 1),
        # Other work on the machine competes for its 2 cores: the 1-minute load average.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "heartbeat": heartbeat,
        "get_library": get_library,
        "goal": GOAL,
        "goal_met": all(
            load["rps"] >= GOAL["rps"] and load["p95_ms"] < GOAL["p95_ms"]
            and load["p99_ms"] < GOAL["p99_ms"] for load in (heartbeat, get_library)
        ),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--workers", type=int, default=None, help="library API processes")
    parser.add_argument("--profile", default="", help="write each worker's cProfile to this dir")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    plan = QUICK if args.quick else FULL
    if args.workers:
        plan = replace(plan, workers=args.workers)
    profile = str(Path(args.profile).resolve()) if args.profile else ""
    if profile:
        Path(profile).mkdir(parents=True, exist_ok=True)
    print(json.dumps(asyncio.run(bench(plan, profile))))


if __name__ == "__main__":
    main()
