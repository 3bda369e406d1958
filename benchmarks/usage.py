"""`make bench` (python -m benchmarks): performance figures measured in one run on PostgreSQL, printed `name: value`.

Sections are registered in order; each gets the shared BenchContext and returns its figures (a dict), which the
runner prints. Another module adds figures with:

    from benchmarks.usage import register
    register("dashboards", my_section, order=100)   # my_section(ctx) -> {"overview_p95_ms": ...}

The usage sections run against a scratch database (`<DATABASE_URL name>_bench`, created and dropped here), on
loopback only, with bounded loops:

- ingestion: the same N rows (100 events a request) three ways: raw `COPY ... FROM STDIN` of pre-rendered text
  into usage_event (the baseline), through the HTTP API (two gunicorn workers on a local port, committed before
  the 2xx), and the same requests again (replay: all duplicates, 0 rows added).
  ingest_vs_copy = API events/s over COPY rows/s; replay_vs_copy = replayed attempts/s over COPY rows/s.
- rating: the ingested events rated by RATING_PROCESSES (as many as the gunicorn workers: 2) processes, each
  running `usage_rate_pending` at once (claiming disjoint customers); rating_events_per_s = events over the wall
  clock from their first claim to nothing pending; rating_vs_ingest = rating_events_per_s / ingest_events_per_s of
  the same run and rows; rating_events_per_process and rating_process_cpu_s show the split. Every event must be
  rated exactly once (BENCH_RATING_PROCESSES=1 for an A/B run with one process).
"""

from __future__ import annotations

import gc
import http.client
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

EVENTS = int(os.environ.get("BENCH_EVENTS", 100_000))
PER_REQUEST = 100
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", 50))
CLIENT_THREADS = int(os.environ.get("BENCH_CLIENT_THREADS", 6))
WORKERS = 2
WORKER_THREADS = int(os.environ.get("BENCH_WORKER_THREADS", 2))
RATING_PROCESSES = int(os.environ.get("BENCH_RATING_PROCESSES", WORKERS))
SQL_PROFILE = os.environ.get("BENCH_SQL_PROFILE", "") not in ("", "0")
PY_PROFILE = os.environ.get("BENCH_PY_PROFILE", "")


@dataclass
class BenchContext:
    stdout: object
    database: dict  # settings.DATABASES["default"] of the caller
    bench_db: str = ""
    figures: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)  # sections share data here

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def url(self, name: str | None = None) -> str:
        db = self.database
        auth = db.get("USER") or "postgres"
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name or self.bench_db}"


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[BenchContext], dict]
    order: int = 50


_SECTIONS: list[Section] = []


def register(name: str, run: Callable[[BenchContext], dict], *, order: int = 50) -> None:
    if all(s.name != name for s in _SECTIONS):
        _SECTIONS.append(Section(name, run, order))


def sections() -> list[Section]:
    return sorted(_SECTIONS, key=lambda s: s.order)


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


# --- the scratch database -----------------------------------------------------------------------------------


def _admin_connection(ctx: BenchContext):
    import psycopg

    db = ctx.database
    return psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


@contextmanager
def scratch_database(ctx: BenchContext, *, suffix: str = "bench"):
    """Create `<name>_<suffix>`, point Django's default connection at it and migrate; drop it afterwards."""
    from django.core.management import call_command
    from django.db import connection, connections

    ctx.bench_db = f"{ctx.database['NAME']}_{suffix}"[:63]
    with _admin_connection(ctx) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{ctx.bench_db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{ctx.bench_db}"')
    original = connection.settings_dict["NAME"]
    connections.close_all()
    connection.settings_dict["NAME"] = ctx.bench_db
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield ctx
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = original
        with _admin_connection(ctx) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{ctx.bench_db}" WITH (FORCE)')


# --- fixtures through the real services -------------------------------------------------------------------------


def _fixtures(ctx: BenchContext) -> None:
    from django.utils import timezone

    from apps.catalog import services as catalog
    from apps.catalog.models import Meter, Product, RateTable
    from apps.contracts import services as contracts
    from apps.core.actors import SYSTEM, Actor
    from apps.core.models import User
    from apps.core.roles import Role
    from apps.core.services import api_key_create, user_create
    from apps.wallets import services as wallets

    now = timezone.now()
    owner = Actor(
        user=user_create(username="bench-owner", password="x" * 12, roles=[Role.MONETIZATION_OWNER], actor=SYSTEM)
    )
    finance = Actor(
        user=user_create(username="bench-finance", password="x" * 12, roles=[Role.FINANCE_APPROVER], actor=SYSTEM)
    )
    product = Product.objects.create(code="bench", name="Bench")
    meters = [
        Meter.objects.create(product=product, code="bench.input_tokens", name="Input tokens", unit="token"),
        Meter.objects.create(product=product, code="bench.output_tokens", name="Output tokens", unit="token"),
        Meter.objects.create(product=product, code="bench.images", name="Images", unit="image"),
    ]
    table = RateTable.objects.create(code="bench-credits", name="Bench credits", pricing_unit="credits")
    draft = catalog.rate_table_version_create_draft(rate_table_id=table.id, actor=owner)
    for meter, price in zip(meters, ("15", "60", "4"), strict=False):
        per = "1" if meter.unit == "image" else "1000000"
        rate = catalog.rate_add(
            version_id=draft.id, meter_id=meter.id, unit_price=price, price_per_units=per, actor=owner
        )
    from apps.catalog.pricing import TierSpec

    catalog.rate_update_field(rate_id=rate.id, field="pricing_model", value="graduated", actor=owner)
    catalog.rate_tiers_set(
        rate_id=rate.id,
        tiers=[TierSpec(Decimal(1000), Decimal(4), Decimal(0)), TierSpec(None, Decimal(3), Decimal(0))],
        actor=owner,
    )
    effective = now - timedelta(days=40)
    version = catalog.rate_table_version_submit(
        version_id=draft.id,
        effective_from=effective,
        reason="bench",
        backdate_reason="bench",
        actor=owner,
        now=effective - timedelta(1),
    )
    catalog.rate_table_version_approve(
        version_id=version.id, content_hash=version.content_hash, actor=finance, now=effective - timedelta(seconds=1)
    )
    external_ids = []
    for i in range(CUSTOMERS):
        customer = contracts.customer_create(external_id=f"bench-{i:04d}", name=f"Bench {i:04d}", actor=owner)
        contracts.contract_create(
            customer_id=customer.pk,
            rate_table_id=table.id,
            starts_at=now - timedelta(days=60),
            billing_model=("prepaid", "hybrid", "postpaid")[i % 3],
            enforcement=("hard", "soft", "unlimited")[i % 3],
            overdraft_limit=Decimal(5000) if i % 3 == 1 else Decimal(0),
            allowances={meters[0].id: Decimal(5_000_000)},
            actor=finance,
        )
        if i % 3 != 2:
            wallets.wallet_grant(
                customer_id=customer.pk,
                kind="purchased",
                amount=Decimal(10_000_000),
                price_per_credit=Decimal("0.01"),
                effective_at=now - timedelta(days=60),
                idempotency_key=f"bench-grant-{i}",
                actor=SYSTEM,
            )
        external_ids.append(customer.external_id)
    key = api_key_create(name="bench", actor=SYSTEM)
    ctx.state.update(
        external_ids=external_ids,
        meters=[m.code for m in meters],
        raw_key=key.raw_key,
        api_key_id=key.api_key.pk,
        now=now,
    )
    ctx.state["customer_ids"] = dict(contracts_ids(external_ids))
    ctx.state["meter_ids"] = {m.code: m.id for m in meters}
    User.objects.filter(username__startswith="bench-").update(is_active=True)


def contracts_ids(external_ids):
    from apps.contracts.selectors import customer_ids_by_external_id

    return customer_ids_by_external_id(external_ids).items()


def _events(ctx: BenchContext, n: int) -> list[dict]:
    import random

    rng = random.Random(42)
    now = ctx.state["now"]
    ids, meters = ctx.state["external_ids"], ctx.state["meters"]
    events = []
    for i in range(n):
        meter = meters[i % len(meters)]
        quantity = rng.randint(1, 8) if meter.endswith("images") else rng.randint(100, 40_000)
        ts = now - timedelta(seconds=(n - i) * 0.02 + rng.random())
        attrs = {"agent": rng.choice(["summarizer", "triage"]), "team": "eng"} if i % 2 else {"user": f"u-{i % 97}"}
        events.append(
            {
                "id": f"bench-{i:08d}",
                "customer": ids[i % len(ids)],
                "meter": meter,
                "quantity": str(quantity),
                "timestamp": ts.isoformat().replace("+00:00", "Z"),
                "attributes": attrs,
            }
        )
    return events


# --- ingestion -------------------------------------------------------------------------------------------------


def _copy_text(ctx: BenchContext, events: list[dict]) -> bytes:
    """The same rows ingestion writes, rendered as COPY text (not timed)."""
    from apps.usage.ingestion import parse_quantity, parse_timestamp, payload_hash

    customer_ids, meter_ids = ctx.state["customer_ids"], ctx.state["meter_ids"]
    received = ctx.state["now"].isoformat()
    key = ctx.state["api_key_id"]
    lines = []
    for e in events:
        attributes = json.dumps(e["attributes"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        quantity, ts = parse_quantity(e["quantity"]), parse_timestamp(e["timestamp"])
        digest = payload_hash(meter_code=e["meter"], quantity=quantity, timestamp=ts, attributes_json=attributes)
        attributes = attributes.replace("\\", "\\\\")
        lines.append(
            f"{customer_ids[e['customer']]}\t{e['id']}\t{meter_ids[e['meter']]}\t{quantity}\t"
            f"{ts.isoformat()}\t{attributes}\t{digest}\t{key}\t{received}\tpending\t"
        )
    return ("\n".join(lines) + "\n").encode()


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET ratedesk.allow_truncate = 'on'")  # events and batches refuse TRUNCATE otherwise
        cursor.execute(
            "TRUNCATE usage_event, usage_rated, usage_rating_batch, usage_rating_cursor, usage_daily, "
            "usage_daily_attribution, usage_weekly, usage_daily_meter CASCADE"
        )
        cursor.execute("RESET ratedesk.allow_truncate")
        cursor.execute("VACUUM ANALYZE usage_event")


def _copy_rate(ctx: BenchContext, text: bytes, rows: int) -> float:
    import psycopg

    with psycopg.connect(ctx.url()) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(
                'COPY usage_event (customer_id, event_id, meter_id, quantity, "timestamp", attributes, '
                "payload_hash, api_key_id, received_at, state, rating_error) FROM STDIN"
            ) as copy,
        ):
            for start in range(0, len(text), 1 << 20):
                copy.write(text[start : start + (1 << 20)])
        conn.commit()
        elapsed = time.perf_counter() - started
    return rows / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(ctx: BenchContext, *, settings_module: str = "config.settings.bench", extra_env: dict | None = None):
    """Two gunicorn workers on a loopback port, pointed at the bench database."""
    from django.conf import settings

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": ctx.url(),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "CELERY_BROKER_URL": "",
        "SECRET_KEY": "bench-" + "x" * 50,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    binary = Path(sys.executable).with_name("gunicorn")
    command = [
        str(binary) if binary.exists() else "gunicorn",
        "config.wsgi",
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--threads",
        str(WORKER_THREADS),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=str(settings.BASE_DIR),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/meters", headers={"Authorization": f"Bearer {ctx.state['raw_key']}"})
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(
                    "gunicorn did not start: "
                    + (process.stderr.read(2000).decode() if process.poll() is not None else "timeout")
                )
            time.sleep(0.2)
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def _post_all(port: int, raw_key: str, bodies: list[bytes]) -> tuple[float, dict]:
    """Send every body once from CLIENT_THREADS keep-alive connections; events/s and the summed responses."""
    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(body)
    totals = {"ingested": 0, "duplicates": 0, "rejected": 0, "errors": 0}
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local = {"ingested": 0, "duplicates": 0, "rejected": 0, "errors": 0}
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            for _attempt in range(3):
                try:
                    conn.request("POST", "/api/v1/events", body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            else:
                local["errors"] += 1
                continue
            if response.status != 200:
                local["errors"] += 1
                continue
            data = json.loads(payload)
            local["ingested"] += data["ingested"]
            local["duplicates"] += data["duplicates"]
            local["rejected"] += len(data["rejected"])
        conn.close()
        with lock:
            for k, v in local.items():
                totals[k] += v

    threads = [threading.Thread(target=client) for _ in range(CLIENT_THREADS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return len(bodies) * PER_REQUEST / elapsed, totals


def ingestion_section(ctx: BenchContext) -> dict:
    events = _events(ctx, EVENTS)
    bodies = [json.dumps({"events": events[i : i + PER_REQUEST]}).encode() for i in range(0, len(events), PER_REQUEST)]
    text = _copy_text(ctx, events)
    ctx.say(
        f"ingestion: {len(events):,} events, {len(bodies)} requests of {PER_REQUEST}, {WORKERS} gunicorn "
        f"workers x {WORKER_THREADS} threads, {CLIENT_THREADS} client connections"
    )
    copies = []
    for _ in range(2):
        _truncate()
        copies.append(_copy_rate(ctx, text, len(events)))
    copy_rate = max(copies)
    _truncate()
    with gunicorn(ctx) as port:
        warm = [
            json.dumps({"events": [dict(e, id=f"warm-{i}-{e['id']}") for e in events[:PER_REQUEST]]}).encode()
            for i in range(20)
        ]
        _post_all(port, ctx.state["raw_key"], warm)  # warm the workers (imports, connections, caches)
        _truncate()  # only the warm-up events are stored (events are never deleted one by one)
        ingest_rate, first = _post_all(port, ctx.state["raw_key"], bodies)
        replay_rate, second = _post_all(port, ctx.state["raw_key"], bodies)
    from apps.usage.models import UsageEvent

    stored = UsageEvent.objects.count()
    if (
        first["ingested"] != len(events)
        or second["duplicates"] != len(events)
        or stored != len(events)
        or first["errors"]
        or second["errors"]
    ):
        raise RuntimeError(f"ingestion did not land exactly once: first {first}, replay {second}, stored {stored}")
    ctx.state["ingested"] = len(events)
    return {
        "copy_rows_per_s": copy_rate,
        "ingest_events_per_s": ingest_rate,
        "replay_events_per_s": replay_rate,
        "ingest_vs_copy": ingest_rate / copy_rate,
        "replay_vs_copy": replay_rate / copy_rate,
    }


@contextmanager
def _muted(signal_):
    receivers = signal_.receivers
    signal_.receivers = []
    signal_.sender_receivers_cache.clear()
    try:
        yield
    finally:
        signal_.receivers = receivers
        signal_.sender_receivers_cache.clear()


@contextmanager
def _sql_timed(connection, statements: dict[str, list]):
    """With BENCH_SQL_PROFILE=1: the time each statement (by its first words) took, summed (a rating process waits
    on its database more than it computes; this says on what)."""
    if not SQL_PROFILE:
        yield
        return

    def timed(execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            add(" ".join(str(sql).split())[:90], t0)

    def add(name: str, t0: float) -> None:
        entry = statements.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - t0

    from apps.usage.rating import rollups, write

    copy, commit = write.fast_insert, connection._commit

    def timed_copy(model, objects):
        t0 = time.perf_counter()
        try:
            return copy(model, objects)
        finally:
            add(f"COPY {model._meta.db_table}", t0)

    def timed_commit():
        t0 = time.perf_counter()
        try:
            return commit()
        finally:
            add("COMMIT", t0)

    write.fast_insert = rollups.fast_insert = timed_copy
    connection._commit = timed_commit
    try:
        with connection.execute_wrapper(timed):
            yield
    finally:
        write.fast_insert = rollups.fast_insert = copy
        connection._commit = commit


def _rating_process(database_name: str, ready, go, results) -> None:
    """One rating worker (a spawned process): set up Django on the bench database, say ready, wait for the go,
    then rate until nothing is pending. Alert evaluation follows each batch through a signal; in production it
    runs on its own Celery workers (here it would run inline), so it is left out of the figure."""
    import traceback

    try:
        import django

        django.setup()
        from django.db import connection

        from apps.usage.services import usage_rate_pending
        from apps.usage.signals import usage_rated

        connection.settings_dict["NAME"] = database_name
        connection.ensure_connection()
        ready.put(os.getpid())
        go.wait()
        statements: dict[str, list] = {}
        gc_seconds = [0.0, 0.0]  # cyclic garbage collection: time in collections, and when the current one began

        def gc_timed(phase: str, info: dict) -> None:
            if phase == "start":
                gc_seconds[1] = time.process_time()
            else:
                gc_seconds[0] += time.process_time() - gc_seconds[1]

        gc.callbacks.append(gc_timed)
        started, cpu = time.monotonic(), time.process_time()
        profiler = None
        if PY_PROFILE:  # BENCH_PY_PROFILE=dir: each process's cProfile stats, for `python -m pstats`
            import cProfile

            profiler = cProfile.Profile()
        with _muted(usage_rated), _sql_timed(connection, statements):
            if profiler is not None:
                profiler.enable()
            summary = usage_rate_pending()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(os.path.join(PY_PROFILE, f"rating-{os.getpid()}.prof"))
        ended, cpu = time.monotonic(), time.process_time() - cpu
        gc.callbacks.remove(gc_timed)
        connection.close()
        results.put(
            {
                "events": summary.events,
                "batches": summary.batches,
                "started": started,
                "ended": ended,
                "cpu": cpu,
                "gc": gc_seconds[0],
                "statements": statements,
                "error": None,
            }
        )
    except BaseException:  # noqa: BLE001 - reported by the parent
        results.put({"error": traceback.format_exc()})


def rating_section(ctx: BenchContext, *, ingest_rate: float | None = None) -> dict:
    import multiprocessing

    from django.db import connection

    from apps.usage.models import RatedUsage, UsageEvent

    if not ctx.state.get("ingested"):
        return {}
    spawn = multiprocessing.get_context("spawn")
    ready, go, results = spawn.Queue(), spawn.Event(), spawn.Queue()
    processes = [
        spawn.Process(target=_rating_process, args=(ctx.bench_db, ready, go, results), daemon=True)
        for _ in range(RATING_PROCESSES)
    ]
    connection.close()
    for process in processes:
        process.start()
    outcomes = []
    try:
        waiting = len(processes)
        while waiting:
            try:
                ready.get(timeout=1)
                waiting -= 1
            except queue.Empty:
                if any(not p.is_alive() for p in processes):
                    break  # it failed setting up: its error is in `results`
        go.set()
        outcomes = [results.get(timeout=3600) for _ in processes]
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    failed = [o["error"] for o in outcomes if o["error"]]
    if failed or len(outcomes) != len(processes):
        raise RuntimeError("a rating process failed:\n" + "\n".join(failed))
    seconds = max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes)
    events = sum(o["events"] for o in outcomes)
    pending = UsageEvent.objects.filter(state="pending").count()
    current = RatedUsage.objects.filter(superseded_at__isnull=True)
    rated, distinct = current.count(), current.values("event_id").distinct().count()
    if pending or rated != ctx.state["ingested"] or distinct != rated or events != rated:
        raise RuntimeError(
            f"rating left {pending} pending, {rated} rated ({distinct} distinct events, {events} claimed) "
            f"of {ctx.state['ingested']}"
        )
    rate = events / seconds
    if SQL_PROFILE:
        total: dict[str, list] = {}
        for outcome in outcomes:
            for sql, (count, spent) in outcome["statements"].items():
                entry = total.setdefault(sql, [0, 0.0])
                entry[0] += count
                entry[1] += spent
        ctx.say(f"rating SQL, both processes ({sum(e[1] for e in total.values()):.1f} s of {2 * seconds:.1f} s):")
        for sql, (count, spent) in sorted(total.items(), key=lambda kv: -kv[1][1])[:12]:
            ctx.say(f"  {spent:6.2f} s {count:5d}x  {sql}")
    figures = {
        "rating_processes": len(processes),
        "rating_events": events,
        "rating_batches": sum(o["batches"] for o in outcomes),
        "rating_events_per_process": "/".join(str(o["events"]) for o in outcomes),
        # Python CPU seconds of each process (its database backend's work not included): on a busy machine the
        # wall clock says little, this says whether both processes worked and how much work an event costs.
        "rating_process_cpu_s": "/".join(f"{o['cpu']:.1f}" for o in outcomes),
        "rating_process_gc_s": "/".join(f"{o['gc']:.1f}" for o in outcomes),
        "rating_seconds": round(seconds, 2),
        "rating_events_per_s": round(rate),
    }
    if ingest_rate:
        figures["rating_vs_ingest"] = rate / ingest_rate
    return figures


def usage_sections(ctx: BenchContext) -> dict:
    """Ingestion then rating in one scratch database."""
    if ctx.database.get("ENGINE") != "django.db.backends.postgresql":
        ctx.say("usage: skipped (needs PostgreSQL: set DATABASE_URL)")
        return {}
    figures = {}
    with scratch_database(ctx):
        _fixtures(ctx)
        figures.update(ingestion_section(ctx))
        figures.update(rating_section(ctx, ingest_rate=figures.get("ingest_events_per_s")))
    return figures


def _dashboards(ctx: BenchContext) -> dict:
    try:
        from benchmarks import dashboards as bench_dashboards
    except ImportError:
        return {}
    out = io.StringIO()
    sizes = [int(n) for n in os.environ.get("BENCH_DASHBOARD_SIZES", "1000000,10000000").split(",") if n.strip()]
    result = bench_dashboards.run_sizes(stdout=out, sizes=sizes)
    for line in out.getvalue().splitlines():
        if ":" not in line or line.split(":")[0] not in result:
            ctx.say(line)
    return result


register("usage", usage_sections, order=10)
register("dashboards", _dashboards, order=100)
