"""Benchmark: the dashboard with a million jobs in the store, measured over HTTP.

    .venv/bin/python bench/dashboard.py                 # 1,000,000 jobs, a few minutes
    .venv/bin/python bench/dashboard.py --jobs 100000   # quicker
    .venv/bin/python bench/dashboard.py --database-url postgresql://...   # an existing server

It fills a fresh database (its own SQL: one generate_series INSERT and one for
the state history, not the runtime path), runs VACUUM ANALYZE as autovacuum would, starts the dashboard
with uvicorn in a child process on 127.0.0.1, and times sequential requests
to each page and API view. Nothing is cached: counts, tenants, job types and
the day's chart read the counters the transitions keep (migration 0009). The
last line is one JSON object with p50/p95/p99 in milliseconds per view. The
target: p99 of every view under 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "craft_jobs"

# 12 job types, 20 tenants, 3 queues; states in roughly a busy system's mix.
FILL = """
INSERT INTO craft_jobs.jobs (
    job_type, queue, state, parameters, tenant_id, user_id, metadata, attempt, runs, max_attempts,
    run_at, scheduled_for, created_at, enqueued_at, started_at, finished_at, state_changed_at,
    expires_at, server_id, last_error)
SELECT
    'job-type-' || (g %% 12),
    (ARRAY['default', 'mail', 'reports'])[1 + g %% 3],
    s.state::craft_jobs.job_state,
    jsonb_build_object('customer_id', g %% 50000, 'email', 'user' || (g %% 50000) || '@example.com',
                       'amount', (g %% 997) * 1.5, 'ref', md5(g::text)),
    'tenant-' || (g %% 20),
    'user-' || (g %% 300),
    '{}'::jsonb,
    CASE WHEN s.state = 'Failed' THEN 2 ELSE 0 END,
    CASE WHEN s.state IN ('Succeeded', 'Failed', 'Processing') THEN 1 ELSE 0 END,
    3,
    CASE WHEN s.state = 'Scheduled' THEN %(now)s::timestamptz + interval '1 hour' END,
    t.created, t.created, t.created,
    CASE WHEN s.state IN ('Succeeded', 'Failed', 'Processing') THEN t.created + interval '2 seconds' END,
    CASE WHEN s.state IN ('Succeeded', 'Failed') THEN t.created + interval '2 seconds' + (g %% 30) * interval '1 second'
         WHEN s.state = 'Deleted' THEN t.created + interval '1 minute' END,
    t.created + interval '1 minute',
    CASE WHEN s.state IN ('Succeeded', 'Deleted') THEN %(now)s::timestamptz + interval '7 days' END,
    CASE WHEN s.state = 'Processing' THEN 'bench-server' END,
    CASE WHEN s.state = 'Failed' THEN jsonb_build_object('type', 'PaymentError', 'exit_code', 1,
         'message', 'card declined for order ' || g, 'stack', 'Traceback ...') END
FROM generate_series(1, %(jobs)s) AS g
CROSS JOIN LATERAL (SELECT CASE
    WHEN g %% 1000 < 900 THEN 'Succeeded' WHEN g %% 1000 < 940 THEN 'Failed'
    WHEN g %% 1000 < 970 THEN 'Deleted' WHEN g %% 1000 < 985 THEN 'Enqueued'
    WHEN g %% 1000 < 993 THEN 'Scheduled' WHEN g %% 1000 < 996 THEN 'Processing'
    ELSE 'Awaiting' END AS state) AS s
-- Spread over the last 7 days, oldest first, so ids grow with time.
CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - interval '7 days'
                           + (g::float8 / %(jobs)s) * interval '7 days' AS created) AS t
"""

# The state history the engine writes on each transition: Enqueued, Processing
# once started, and the outcome once finished (the overview chart reads these).
FILL_HISTORY = """
INSERT INTO craft_jobs.job_states (job_id, state, reason, created_at, tenant_id)
SELECT j.id, h.state::craft_jobs.job_state, 'bench', h.at,
       CASE WHEN h.state IN ('Succeeded', 'Failed') THEN j.tenant_id END
FROM craft_jobs.jobs j
CROSS JOIN LATERAL (VALUES ('Enqueued', j.enqueued_at), ('Processing', j.started_at),
                           (j.state::text, j.finished_at)) AS h(state, at)
WHERE h.at IS NOT NULL
"""

# What the enqueue statements add to the job counters for the jobs FILL wrote
# (insert_job and insert_jobs_batch count their own rows, migration 0009).
FILL_COUNTS = """
INSERT INTO craft_jobs.job_counts (state, tenant_id, queue, job_type, shard, jobs)
SELECT state, tenant_id, queue, job_type, 0, count(*) FROM craft_jobs.jobs GROUP BY 1, 2, 3, 4
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def prepare(url: str, jobs: int) -> dict[str, int]:
    sys.path.insert(0, str(ROOT / "operator" / "src"))
    from craft_jobs.store.migrations import migrate
    from craft_jobs.store.queries import load_queries
    from craft_jobs.store.store import OUTCOME_HOURS_KEPT

    await migrate(url, SCHEMA)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("INSERT INTO craft_jobs.servers VALUES ('bench-server', 'engine', 'bench', 1, 20, NULL, 3, now(), now())")
        now = datetime.now(timezone.utc)
        conn.execute(FILL, {"jobs": jobs, "now": now})
        conn.execute(FILL_HISTORY)
        conn.execute(FILL_COUNTS)
        # As the engine's expiry loop does: the closed hours' outcomes, for the day's chart.
        conn.execute(load_queries(SCHEMA)["roll_up_outcomes"], {"now": now, "kept_since": now - OUTCOME_HOURS_KEPT})
        filled = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE craft_jobs.jobs")
        conn.execute("VACUUM ANALYZE craft_jobs.job_states")
        # The fill's million rows are written out now, not during the first view's requests.
        conn.execute("CHECKPOINT")
        prepared = time.perf_counter() - started
        middle = conn.execute("SELECT id FROM craft_jobs.jobs ORDER BY id OFFSET %s LIMIT 1", (jobs // 2,)).fetchone()[0]
    print(f"filled {jobs:,} jobs in {filled:.1f} s (with VACUUM ANALYZE {prepared:.1f} s)", flush=True)
    return {"middle_id": middle}


def serve(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "CRAFT_JOBS_CONNECTION_STRING": url, "CRAFT_JOBS_DASHBOARD_AUTH_MODE": "none",
           "PYTHONPATH": str(ROOT / "operator" / "src")}
    code = ("import asyncio, sys; from craft_jobs.options import load_options; "
            "from craft_jobs.dashboard.app import serve; "
            f"asyncio.run(serve(load_options(), '127.0.0.1', {port}))")
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def measure(base: str, views: dict[str, str], rounds: int) -> dict[str, dict[str, float]]:
    results = {}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"accept": "text/html"}) as http:
        for _ in range(100):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        for name, path in views.items():
            for _ in range(3):  # warm the pool and the database's buffers
                (await http.get(path)).raise_for_status()
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = await http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            results[name] = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1),
                             "p99_ms": round(percentile(times, 0.99), 1)}
            r = results[name]
            print(f"{name:28s} p50 {r['p50_ms']:7.1f} ms   p95 {r['p95_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms  {path}",
                  flush=True)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100, help="requests per view")
    parser.add_argument("--database-url", help="a PostgreSQL server to create the bench database on")
    args = parser.parse_args()

    server = None
    base_url = args.database_url or os.environ.get("CRAFT_JOBS_TEST_DATABASE_URL")
    if not base_url:
        sys.path.insert(0, str(ROOT / "operator" / "src"))
        from craft_jobs.store.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="craft-jobs-bench-")))
        base_url = server.start()
    name = f"craft_jobs_dashboard_bench_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(base_url)
    params["dbname"] = name
    url = make_conninfo(**params)
    child = None
    try:
        marks = await prepare(url, args.jobs)
        port = free_port()
        child = serve(url, port)
        views = {
            "overview page": "/jobs/",
            "job list page (all)": "/jobs/jobs",
            "job list page (Failed)": "/jobs/jobs?state=Failed",
            "job list page (deep page)": f"/jobs/jobs?state=Succeeded&before_id={marks['middle_id']}",
            "job list (type+tenant)": "/jobs/jobs?state=Succeeded&job_type=job-type-5&tenant=tenant-5",
            "job list (search)": "/jobs/jobs?state=Failed&search=order%2012345",
            "job list page 20 (numbered)": "/jobs/jobs?state=Succeeded&page=20",
            "job list (queue filter, counts per tab)": "/jobs/jobs?queue=mail",
            "retries page": "/jobs/retries",
            "queues page": "/jobs/queues",
            "api overview": "/api/stats/overview",
            "api jobs": "/api/jobs?state=Enqueued",
        }
        results = await measure(f"http://127.0.0.1:{port}", views, args.rounds)
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()
    slow = [name for name, r in results.items() if r["p99_ms"] >= 150]
    print(f"p99 under 150 ms in every view: {'yes' if not slow else 'no: ' + ', '.join(slow)}", flush=True)
    print(json.dumps({"jobs": args.jobs, "views": results, "p99_under_150ms": not slow}))


if __name__ == "__main__":
    asyncio.run(main())
