"""Dashboard benchmark for `make bench`: page latency with 1 and 10 million usage events in PostgreSQL.

`run_sizes(stdout=..., sizes=[1_000_000, 10_000_000])` (called by `make bench`) measures each size in one run and
prints, per size (suffix `_1m`, `_10m`), and the ratio of the largest to the smallest (`overview_10m_vs_1m`,
`customer_page_10m_vs_1m`, flat as data grows means close to 1):

    overview_p95_ms: N        the organisation overview (/dashboards/?range=30), whole response
    customer_page_p95_ms: N   the biggest customer's consumption page (/dashboards/customers/<id>/?range=30)
    customer_page_vs_raw: R   that page's p95 over the p95 of a raw-events query for the same figures
                              (daily quantity and events per meter, and the top users/agents/teams, 30 days;
                              BENCH_DASHBOARD_RAW_REQUESTS times, default 5: it takes seconds at 10M events)

The data lives in its own database next to DATABASE_URL's (`<name>_bench_dash`, `<name>_bench_dash_1000000`), generated once in bulk with SQL
(generate_series into usage_event, then the rollups usage_daily and usage_daily_attribution aggregated from
those events, and the coarse rollups usage_weekly and usage_daily_meter summed from usage_daily) and reused while it holds the same number of events. Customers, contracts and wallets go through
the real services. The measurement runs in a child process pointed at that database (loopback only), so the
caller's connections and settings are untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

EVENTS = int(os.environ.get("BENCH_DASHBOARD_EVENTS", 10_000_000))
CUSTOMERS = int(os.environ.get("BENCH_DASHBOARD_CUSTOMERS", 250))
DAYS = 90
REQUESTS = int(os.environ.get("BENCH_DASHBOARD_REQUESTS", 40))
# The raw-events reference query takes seconds at 10M events (~20 s on 2 loaded cores): a few samples suffice.
RAW_REQUESTS = int(os.environ.get("BENCH_DASHBOARD_RAW_REQUESTS", 5))
CHUNK = 1_000_000
DATA_VERSION = 4  # 4: the coarse rollups (usage_weekly, usage_daily_meter)
MARKER = "bench_dashboards_marker"


def _ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] * 1000 if len(samples) > 1 else samples[0] * 1000


def run(stdout=None, *, events: int = EVENTS) -> dict:
    """Create or reuse the bench database, measure in a child process, print the three figures."""
    from django.conf import settings

    out = stdout or sys.stdout
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        out.write("dashboards: skipped (needs PostgreSQL in DATABASE_URL)\n")
        return {}
    suffix = "" if events == 10_000_000 else f"_{events}"
    name = f"{db['NAME']}_bench_dash{suffix}"[:63]
    _create_database(db, name)
    host = db.get("HOST") or "127.0.0.1"
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    url = f"postgres://{auth}@{host}:{db.get('PORT') or 5432}/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BENCH_DASHBOARD_EVENTS": str(events),
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev"),
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    }
    out.write(f"dashboards: {events:,} events in database {name} (generated once, then reused)\n")
    out.flush()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.dashboards"],
        env=env,
        cwd=str(Path(settings.BASE_DIR)),
        stdout=subprocess.PIPE,
        text=True,
    )
    result = {}
    for line in process.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            out.write(line)
            out.flush()
    if process.wait() != 0 or not result:
        raise RuntimeError("the dashboard benchmark failed (see above)")
    return result


def run_sizes(stdout=None, *, sizes: list[int]) -> dict:
    """The figures at each size (`overview_p95_ms_1m`, ...), and how the largest compares with the smallest:
    `overview_10m_vs_1m` and `customer_page_10m_vs_1m` (flat as data grows means close to 1)."""
    figures: dict = {}
    by_size = {}
    for events in sorted(sizes):
        result = run(stdout, events=events)
        if not result:
            return {}
        by_size[events] = result
        label = _label(events)
        for key in ("overview_p95_ms", "customer_page_p95_ms", "raw_query_p95_ms", "customer_page_vs_raw"):
            figures[f"{key}_{label}"] = result[key]
    small, large = min(by_size), max(by_size)
    # The unsuffixed names are the largest size's (10M by default), the DESIGN targets.
    figures.update({key: by_size[large][key] for key in ("overview_p95_ms", "customer_page_p95_ms")})
    if small != large:
        ratio = f"{_label(large)}_vs_{_label(small)}"
        figures[f"overview_{ratio}"] = round(by_size[large]["overview_p95_ms"] / by_size[small]["overview_p95_ms"], 2)
        figures[f"customer_page_{ratio}"] = round(
            by_size[large]["customer_page_p95_ms"] / by_size[small]["customer_page_p95_ms"], 2
        )
    return figures


def _label(events: int) -> str:
    return f"{events // 1_000_000}m" if events % 1_000_000 == 0 else f"{events // 1000}k"


def _create_database(db: dict, name: str) -> None:
    import psycopg

    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or "postgres",
        "dbname": "postgres",
    }
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    with psycopg.connect(**params, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- the child: generate (once) and measure -------------------------------------------------------------------

METERS = [  # code, product, unit, cost per unit (USD), price per unit (credits), mean quantity per event
    ("llm.input_tokens.fast", "llm", "token", "0.00000005", "0.000015", 3000),
    ("llm.output_tokens.fast", "llm", "token", "0.0000002", "0.00006", 800),
    ("llm.input_tokens.pro", "llm", "token", "0.000001", "0.00035", 2500),
    ("llm.output_tokens.pro", "llm", "token", "0.000004", "0.0015", 600),
    ("llm.input_tokens.frontier", "llm", "token", "0.000005", "0.0015", 2000),
    ("llm.output_tokens.frontier", "llm", "token", "0.00002", "0.006", 500),
    ("image.generations", "images", "image", "0.02", "4", 1),
    ("gpu.seconds", "compute", "second", "0.0006", "0.11", 120),
    ("docs.processed", "docs", "document", "0.003", "1", 1),
    ("agent.actions", "agents", "action", "0.001", "0.05", 1),  # 0.0005 USD a unit: below its cost
]
CREDIT_PRICE = "0.01"


def _log(message: str) -> None:
    print(f"  {message}", flush=True)


def _generated(cursor, events: int) -> bool:
    cursor.execute("SELECT to_regclass(%s)", [MARKER])
    if cursor.fetchone()[0] is None:
        return False
    cursor.execute(f"SELECT events, version FROM {MARKER}")
    row = cursor.fetchone()
    return row is not None and row[0] == events and row[1] == DATA_VERSION


def _reset(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {MARKER}")
    cursor.execute("SET ratedesk.allow_truncate = 'on'")  # the ledger and credit requests refuse TRUNCATE otherwise
    cursor.execute(
        "TRUNCATE usage_weekly, usage_daily_meter, usage_daily_attribution, usage_daily, usage_rated, "
        "usage_rating_cursor, usage_event, usage_rating_batch, alerts_notificationdelivery, alerts_alert, "
        "alerts_alertrule, alerts_historicalalertrule, wallets_ledgerallocation, wallets_ledgerentry, "
        "wallets_creditrequest, wallets_historicalcreditrequest, wallets_creditgrant, "
        "wallets_historicalcreditgrant, wallets_wallet, contracts_includedallowance, "
        "contracts_historicalincludedallowance, contracts_priceoverride, "
        "contracts_historicalpriceoverride, contracts_contract, contracts_historicalcontract, "
        "contracts_customer, contracts_historicalcustomer CASCADE"
    )
    cursor.execute("RESET ratedesk.allow_truncate")


def _setup_reference_data():
    """Catalog, customers with contracts (through the services) and wallets with 90 days of debits."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from apps.catalog.models import Meter, MeterCost, Product, RateTable
    from apps.contracts import services as contracts
    from apps.core.actors import SYSTEM
    from apps.wallets import services as wallets

    now = timezone.now()
    long_ago = now - timedelta(days=400)
    meters = {}
    for code, product, unit, cost, _price, _mean in METERS:
        p, _ = Product.objects.get_or_create(code=product, defaults={"name": product.title()})
        m, _ = Meter.objects.get_or_create(code=code, defaults={"product": p, "name": code, "unit": unit})
        MeterCost.objects.get_or_create(meter=m, effective_from=long_ago, defaults={"unit_cost": Decimal(cost)})
        meters[code] = m
    table, _ = RateTable.objects.get_or_create(
        code="bench-credits",
        defaults={"name": "Bench credits", "pricing_unit": "credits", "currency_per_unit": Decimal(CREDIT_PRICE)},
    )
    customers = []
    for i in range(CUSTOMERS):
        customer = contracts.customer_create(external_id=f"bench-{i:04d}", name=f"Bench customer {i:04d}", actor=SYSTEM)
        contracts.contract_create(
            customer_id=customer.pk,
            rate_table_id=table.pk,
            starts_at=now - timedelta(days=DAYS + 30),
            billing_model="prepaid",
            enforcement="soft",
            overdraft_limit=Decimal(100000),
            credit_price=Decimal(CREDIT_PRICE),
            billing_anchor_day=1,
            alert_thresholds=[70, 90, 100],
            allowances={meters["llm.input_tokens.fast"].pk: Decimal(50_000_000)},
            actor=SYSTEM,
        )
        wallets.wallet_grant(
            customer_id=customer.pk,
            kind="purchased",
            amount=Decimal(50_000_000),
            price_per_credit=Decimal(CREDIT_PRICE),
            effective_at=now - timedelta(days=DAYS + 10),
            idempotency_key=f"bench-grant-{i}",
            actor=SYSTEM,
        )
        customers.append(customer)
    for i, customer in enumerate(customers[:10]):  # the biggest: a ledger with a debit a day
        for d in range(DAYS, 0, -1):
            wallets.wallet_debit(
                customer_id=customer.pk,
                amount=Decimal(40_000 + 500 * (d % 7)),
                idempotency_key=f"bench-debit-{i}-{d}",
                reference="bench usage",
                actor=SYSTEM,
                at=now - timedelta(days=d, hours=1),
            )
    return customers, meters


def _generate(events: int) -> None:
    from django.db import connection, transaction

    from apps.usage.rating.rollups import refill_coarse_rollups

    started = time.monotonic()
    with connection.cursor() as cursor:
        _reset(cursor)
    with transaction.atomic():
        customers, meters = _setup_reference_data()
    _log(f"customers, contracts and wallets: {len(customers)} in {time.monotonic() - started:.0f}s")
    customer_ids = [c.pk for c in customers]
    meter_ids = [meters[m[0]].pk for m in METERS]
    means = [m[5] for m in METERS]
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '512MB'")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET synchronous_commit = off")
        # Skip the foreign-key triggers for the bulk load (superuser only; the ids come from these tables); when that
        # is not allowed, load with the checks.
        with contextlib.suppress(Exception):
            cursor.execute("SET session_replication_role = replica")
        cursor.execute("ALTER TABLE usage_event DROP CONSTRAINT IF EXISTS usage_event_unique_id_per_customer")
        cursor.execute("DROP INDEX IF EXISTS usage_event_customer_ts")
        # Skewed customers (the first ones are the biggest: ~15 % of all events for customer 0), 90 days with a
        # weekly rhythm and growth, ten meters, people, agents and teams in the attributes.
        insert = """
            INSERT INTO usage_event (customer_id, event_id, meter_id, quantity, "timestamp", attributes, payload_hash,
                                     received_at, state, rating_error)
            SELECT (%(customers)s::bigint[])[1 + floor(%(n)s * power(random(), 3))::int],
                   'bench-' || g,
                   (%(meters)s::bigint[])[m],
                   greatest(1, round((%(means)s::int[])[m] * (0.3 + random() * 1.4))),
                   ts, jsonb_build_object('user', 'u-' || (g %% 40), 'agent',
                                          (ARRAY['summarizer','triage-bot','copilot','crawler','planner'])[1 + g %% 5],
                                          'team', (ARRAY['legal','support','research','sales'])[1 + g %% 4]),
                   '', ts, 'rated', ''
            FROM generate_series(%(start)s, %(stop)s) AS g,
                 LATERAL (SELECT 1 + floor(random() * 10)::int AS m,
                                 now() - make_interval(secs => (power(random(), 1.15) * %(span)s)) AS ts
                          WHERE g > 0) AS x
        """
        for start in range(1, events + 1, CHUNK):
            stop = min(start + CHUNK - 1, events)
            t0 = time.monotonic()
            cursor.execute(
                insert,
                {
                    "customers": customer_ids,
                    "n": len(customer_ids),
                    "meters": meter_ids,
                    "means": means,
                    "start": start,
                    "stop": stop,
                    "span": DAYS * 86400 - 600,
                },
            )
            _log(f"usage_event: {stop:>11,} rows ({time.monotonic() - t0:.1f}s for this million)")
        t0 = time.monotonic()
        cursor.execute(
            "ALTER TABLE usage_event ADD CONSTRAINT usage_event_unique_id_per_customer UNIQUE (customer_id, event_id)"
        )
        cursor.execute('CREATE INDEX usage_event_customer_ts ON usage_event (customer_id, "timestamp")')
        _log(f"usage_event indexes rebuilt in {time.monotonic() - t0:.0f}s")

        prices = ", ".join(
            f"({meters[code].pk}, {price}::numeric, {cost}::numeric)" for code, _p, _u, cost, price, _m in METERS
        )
        allowance_meter = meters["llm.input_tokens.fast"].pk
        # Rollups aggregated from those events (in parallel into a scratch table, then inserted in day order,
        # the order rating writes them in production: recent days sit together on disk).
        billable = f"CASE WHEN e.meter_id = {allowance_meter} THEN 0 ELSE e.quantity END"
        t0 = time.monotonic()
        cursor.execute("DROP TABLE IF EXISTS bench_rollup_tmp")
        cursor.execute(f"""
            CREATE UNLOGGED TABLE bench_rollup_tmp AS
            SELECT e.customer_id, e.meter_id, (e."timestamp" AT TIME ZONE 'UTC')::date AS day, count(*) AS events,
                   sum(e.quantity) AS quantity, sum(e.quantity) - sum({billable}) AS included,
                   sum({billable}) * p.price AS amount, sum(e.quantity) * p.cost AS cost
            FROM usage_event e JOIN (VALUES {prices}) AS p(meter_id, price, cost) ON p.meter_id = e.meter_id
            GROUP BY e.customer_id, e.meter_id, (e."timestamp" AT TIME ZONE 'UTC')::date, p.price, p.cost
        """)
        cursor.execute(f"""
            INSERT INTO usage_daily (customer_id, meter_id, day, currency, events, quantity, included_quantity,
                                     credit_quantity, overage_quantity, over_limit_quantity, amount, credits,
                                     overage_amount, revenue, cost, over_limit_events, updated_at)
            SELECT customer_id, meter_id, day, 'USD', events, quantity, included, quantity - included, 0, 0,
                   amount, amount, 0, amount * {CREDIT_PRICE}, cost, 0, now()
            FROM bench_rollup_tmp ORDER BY day, customer_id, meter_id
        """)
        _log(f"usage_daily: {cursor.rowcount:,} rows rolled up in {time.monotonic() - t0:.0f}s")
        t0 = time.monotonic()
        refill_coarse_rollups()  # usage_weekly and usage_daily_meter from usage_daily, as rating keeps them
        _log(f"usage_weekly and usage_daily_meter filled in {time.monotonic() - t0:.0f}s")
        t0 = time.monotonic()
        cursor.execute("DROP TABLE bench_rollup_tmp")
        # first per customer x day x attribute set (hashing the jsonb), then one row per user, agent and team
        cursor.execute(f"""
            CREATE UNLOGGED TABLE bench_rollup_tmp AS
            WITH per_set AS (
                SELECT e.customer_id, (e."timestamp" AT TIME ZONE 'UTC')::date AS day, e.attributes,
                       count(*) AS events, sum({billable} * p.price) AS amount, sum(e.quantity * p.cost) AS cost
                FROM usage_event e JOIN (VALUES {prices}) AS p(meter_id, price, cost) ON p.meter_id = e.meter_id
                GROUP BY 1, 2, 3)
            SELECT s.customer_id, s.day, a.kind, a.value, sum(s.events) AS events, sum(s.amount) AS amount,
                   sum(s.cost) AS cost
            FROM per_set s
            CROSS JOIN LATERAL (VALUES ('user', s.attributes->>'user'), ('agent', s.attributes->>'agent'),
                                       ('team', s.attributes->>'team')) AS a(kind, value)
            GROUP BY 1, 2, 3, 4
        """)
        cursor.execute(f"""
            INSERT INTO usage_daily_attribution (customer_id, day, kind, value, events, amount, credits, revenue,
                                                 cost, updated_at)
            SELECT customer_id, day, kind, value, events, amount, amount, amount * {CREDIT_PRICE}, cost, now()
            FROM bench_rollup_tmp ORDER BY day, customer_id, kind, value
        """)
        _log(f"usage_daily_attribution: {cursor.rowcount:,} rows rolled up in {time.monotonic() - t0:.0f}s")
        cursor.execute("DROP TABLE bench_rollup_tmp")
        cursor.execute("SET session_replication_role = DEFAULT")
        t0 = time.monotonic()
        for table in ("usage_event", "usage_daily", "usage_daily_attribution", "usage_weekly", "usage_daily_meter"):
            # as autovacuum would have
            cursor.execute(f"VACUUM ANALYZE {table}")
        _log(f"vacuumed and analyzed in {time.monotonic() - t0:.0f}s")
        cursor.execute(f"CREATE TABLE {MARKER} (events bigint, version int, created_at timestamptz)")
        cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s, now())", [events, DATA_VERSION])
    _log(f"generated in {time.monotonic() - started:.0f}s")


RAW_DAILY = """
SELECT meter_id, ("timestamp" AT TIME ZONE 'UTC')::date AS day, count(*), sum(quantity)
FROM usage_event WHERE customer_id = %s AND "timestamp" >= %s AND "timestamp" < %s
GROUP BY 1, 2
"""
RAW_ATTRIBUTION = """
SELECT a.kind, a.value, count(*)
FROM usage_event e CROSS JOIN LATERAL (VALUES ('user', e.attributes->>'user'), ('agent', e.attributes->>'agent'),
                                              ('team', e.attributes->>'team')) AS a(kind, value)
WHERE e.customer_id = %s AND e."timestamp" >= %s AND e."timestamp" < %s
GROUP BY 1, 2 ORDER BY 3 DESC
"""


def _measure() -> dict:
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from apps.contracts.models import Customer
    from apps.core.models import User
    from apps.core.roles import Role
    from apps.insights import selectors as ds

    user, _ = User.objects.get_or_create(username="bench-owner", defaults={"email": "bench@example.com"})
    user.groups.set(Group.objects.filter(name=Role.MONETIZATION_OWNER.value))
    client = Client()
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id, count(*) FROM usage_event GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        biggest_id, biggest_events = cursor.fetchone()
    biggest = Customer.objects.get(pk=biggest_id)
    period, _ = ds.parse_range({"range": "30"})
    urls = {"overview": "/dashboards/?range=30", "customer": f"/dashboards/customers/{biggest.external_id}/?range=30"}
    _log(f"biggest customer {biggest.external_id}: {biggest_events:,} events in 90 days")

    def timed(fn, requests: int = REQUESTS, warm: int = 3) -> list[float]:
        for _ in range(warm):
            fn()
        samples = []
        for _ in range(requests):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return samples

    def get(url):
        def fn():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return fn

    def raw():
        with connection.cursor() as cursor:
            cursor.execute(RAW_DAILY, [biggest_id, period.start_at, period.end_at])
            cursor.fetchall()
            cursor.execute(RAW_ATTRIBUTION, [biggest_id, period.start_at, period.end_at])
            cursor.fetchall()

    overview = timed(get(urls["overview"]))
    customer = timed(get(urls["customer"]))
    raw_samples = timed(raw, RAW_REQUESTS, 1)
    result = {
        "overview_p95_ms": round(_ms(overview)),
        "customer_page_p95_ms": round(_ms(customer)),
        "raw_query_p95_ms": round(_ms(raw_samples)),
        "customer_page_vs_raw": round(_ms(customer) / _ms(raw_samples), 2),
    }
    _log(
        f"overview p50 {statistics.median(overview) * 1000:.0f} ms, customer page p50 "
        f"{statistics.median(customer) * 1000:.0f} ms, raw-events query p95 {result['raw_query_p95_ms']} ms "
        f"({REQUESTS} requests each, in-process client; raw query {RAW_REQUESTS} times)"
    )
    return result


def _child() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    events = int(os.environ.get("BENCH_DASHBOARD_EVENTS", EVENTS))
    with connection.cursor() as cursor:
        ready = _generated(cursor, events)
    if not ready:
        _log("generating the bench data (once: a few minutes on 2 cores)")
        _generate(events)
    print("RESULT " + json.dumps(_measure()), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _child()
