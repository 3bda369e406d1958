"""`make soak` (python -m benchmarks.soak): Ratedesk in production shape under a fixed event rate, with faults.

It starts, on a scratch PostgreSQL database (`<DATABASE_URL name>_soak`, dropped afterwards):
- its own broker: `redis-server` on a free loopback port (no persistence, like a broker that loses its queue),
- gunicorn with 2 workers (`config.settings.soak`: production-like, rating queued after each ingestion commit),
- a Celery worker with 2 processes and Celery beat (whose sweep rates whatever a lost task left pending),
then sends usage through `POST /api/v1/events` (100 events a request) at `--rate` events/s for `--seconds`, with
stable ids and retries until each request is answered 200. Faults, at fixed instants of the run:
- `--kill-worker-at S`: SIGKILL the worker's whole process group, restart it one second later;
- `--stop-broker-at S` (with `--broker-down S`, default 15): stop the broker and start it again on the same port.
Every 0.5 s it samples the age of the oldest pending event (the lag) and the backlog (events pending). When sending
stops it waits for the backlog to drain, then checks every sent event: stored, rated exactly once / twice / never,
and the wallet conservation identity for every customer. It prints `name: value` lines; exit status 1 when an
event was lost or doubled or a wallet does not reconcile.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

SAMPLE_EVERY = 0.5
PER_REQUEST = 100


@dataclass
class Sent:
    requests: int = 0
    events: int = 0
    non_200: int = 0  # answers other than 200 (each retried)
    connection_errors: int = 0  # no answer at all (each retried)
    statuses: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _pctl(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Processes:
    """The production shape: broker, web, worker, beat; each in its own process group."""

    def __init__(self, *, ctx, base_dir: Path, workdir: Path):
        self.ctx = ctx
        self.base_dir = base_dir
        self.workdir = workdir
        self.redis_port = _free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": ctx.url(),
            "DJANGO_SETTINGS_MODULE": "config.settings.soak",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SECRET_KEY": "soak-" + "x" * 50,
            "PYTHONUNBUFFERED": "1",
        }
        self.redis: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.logs: list = []

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop_all)
        self.logs.append(log)
        return subprocess.Popen(
            command, env=self.env, cwd=str(self.base_dir), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_redis(self) -> None:
        self.redis = self._spawn(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with _connect("127.0.0.1", self.redis_port):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop_redis(self) -> None:
        _kill(self.redis, signal.SIGKILL)

    def start_worker(self) -> None:
        celery = str(Path(sys.executable).with_name("celery"))
        self.worker = self._spawn(
            "worker",
            [
                celery,
                "-A",
                "config",
                "worker",
                "-c",
                "2",
                "--pool",
                "prefork",
                "-l",
                "warning",
                "-n",
                f"soak-{time.monotonic_ns()}@%h",
            ],
        )

    def kill_worker(self) -> None:
        _kill(self.worker, signal.SIGKILL)

    def start_beat(self) -> None:
        celery = str(Path(sys.executable).with_name("celery"))
        self.beat = self._spawn(
            "beat", [celery, "-A", "config", "beat", "-l", "warning", "-s", str(self.workdir / "beat-schedule")]
        )

    def stop_all(self) -> None:
        for process in (self.beat, self.worker, self.redis):
            _kill(process, signal.SIGTERM, wait=10)
            _kill(process, signal.SIGKILL)
        for log in self.logs:
            log.close()


def _free_port() -> int:
    from benchmarks.usage import _free_port as free

    return free()


def _connect(host: str, port: int):
    import socket

    return socket.create_connection((host, port), timeout=1)


def _kill(process: subprocess.Popen | None, sig: int, wait: float = 5) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(wait)


def _bodies(ctx, *, total: int) -> list[bytes]:
    """Stable ids, timestamps set when sent (the bodies carry a placeholder), customers and meters round robin."""
    import random

    rng = random.Random(7)
    ids, meters = ctx.state["external_ids"], ctx.state["meters"]
    bodies = []
    for start in range(0, total, PER_REQUEST):
        events = []
        for i in range(start, min(start + PER_REQUEST, total)):
            meter = meters[i % len(meters)]
            quantity = rng.randint(1, 8) if meter.endswith("images") else rng.randint(100, 40_000)
            events.append(
                {
                    "id": f"soak-{i:09d}",
                    "customer": ids[i % len(ids)],
                    "meter": meter,
                    "quantity": str(quantity),
                    "timestamp": "@TS@",
                    "attributes": {"agent": "soak", "team": "eng"} if i % 2 else {"user": f"u-{i % 97}"},
                }
            )
        bodies.append(json.dumps({"events": events}, separators=(",", ":")).encode())
    return bodies


def _send(*, port: int, raw_key: str, bodies: list[bytes], rate: float, sent: Sent, threads: int) -> None:
    """Request i is due at start + i * PER_REQUEST / rate; each is retried until answered 200. The timestamp of a
    request's events is fixed at its first attempt, so a retry carries the same payload (a duplicate, not a new
    event)."""
    interval = PER_REQUEST / rate
    started = time.monotonic()
    counter = iter(range(len(bodies)))
    counter_lock = threading.Lock()
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with counter_lock:
                index = next(counter, None)
            if index is None:
                break
            delay = started + index * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z").encode()
            body = bodies[index].replace(b"@TS@", stamp)
            while True:
                try:
                    conn.request("POST", "/api/v1/events", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with sent.lock:
                        sent.connection_errors += 1
                    time.sleep(0.2)
                    continue
                with sent.lock:
                    sent.statuses[response.status] = sent.statuses.get(response.status, 0) + 1
                    if response.status == 200:
                        sent.requests += 1
                        sent.events += body.count(b'"id":')
                        break
                    sent.non_200 += 1
                time.sleep(0.2)
        conn.close()

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY seconds: the age of the oldest pending event and the number pending."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, float, int]] = []  # (monotonic, lag seconds, pending)
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        conn = None
        while not self.stopped.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True)
                row = conn.execute(
                    "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(received_at)), 0) "
                    "FROM usage_event WHERE state = 'pending'"
                ).fetchone()
                self.samples.append((time.monotonic(), float(row[1]), int(row[0])))
            except Exception:  # noqa: BLE001 (PostgreSQL restarting: sample again)
                conn = None
            self.stopped.wait(SAMPLE_EVERY)
        if conn is not None:
            conn.close()

    def latest_pending(self) -> int | None:
        return self.samples[-1][2] if self.samples else None


def _check(url: str, *, sent_ids: int) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM usage_event").fetchone()[0]
        pending = conn.execute("SELECT count(*) FROM usage_event WHERE state = 'pending'").fetchone()[0]
        errored = conn.execute("SELECT count(*) FROM usage_event WHERE state = 'error'").fetchone()[0]
        once, twice = conn.execute(
            "SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1) FROM "
            "(SELECT event_id, count(*) AS n FROM usage_rated WHERE superseded_at IS NULL GROUP BY event_id) r"
        ).fetchone()
    return {
        "stored": stored,
        "rated_once": once,
        "rated_twice": twice,
        "rated_never": sent_ids - once - twice,
        "left_pending": pending,
        "errored": errored,
        "lost": sent_ids - stored,
    }


def run(
    *,
    rate: float,
    seconds: float,
    kill_worker_at: float | None,
    stop_broker_at: float | None,
    broker_down: float,
    threads: int,
    drain_timeout: float,
) -> int:
    from django.conf import settings

    from benchmarks.usage import BenchContext, _fixtures, scratch_database

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("make soak needs PostgreSQL: set DATABASE_URL=postgres://... first.", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("make soak starts its own broker: install redis-server (apt-get install redis-server).", file=sys.stderr)
        return 2
    ctx = BenchContext(stdout=sys.stdout, database=dict(settings.DATABASES["default"]))
    total = int(rate * seconds)
    total -= total % PER_REQUEST
    workdir = Path(os.environ.get("SOAK_DIR", "/tmp/ratedesk-soak"))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with scratch_database(ctx, suffix="soak"):
        _fixtures(ctx)
        bodies = _bodies(ctx, total=total)
        processes = Processes(ctx=ctx, base_dir=Path(settings.BASE_DIR), workdir=workdir)
        from benchmarks.usage import gunicorn

        print(f"soak: {total:,} events at {rate:,.0f}/s for {seconds:.0f}s; logs in {workdir}", flush=True)
        try:
            processes.start_redis()
            processes.start_worker()
            processes.start_beat()
            with gunicorn(
                ctx,
                settings_module="config.settings.soak",
                extra_env={
                    "CELERY_BROKER_URL": processes.env["CELERY_BROKER_URL"],
                    "CELERY_TASK_ALWAYS_EAGER": "false",
                },
            ) as port:
                figures = _drive(
                    ctx,
                    processes,
                    port=port,
                    bodies=bodies,
                    rate=rate,
                    seconds=seconds,
                    kill_worker_at=kill_worker_at,
                    stop_broker_at=stop_broker_at,
                    broker_down=broker_down,
                    threads=threads,
                    drain_timeout=drain_timeout,
                )
        finally:
            processes.stop_all()
        figures.update(_wallets_reconcile(ctx))
    for name, value in figures.items():
        print(f"{name}: {value}")
    ok = (
        figures["lost"] == 0
        and figures["rated_twice"] == 0
        and figures["rated_never"] == 0
        and figures["conservation_broken"] == 0
    )
    print(f"soak: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def _drive(
    ctx,
    processes: Processes,
    *,
    port: int,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    kill_worker_at: float | None,
    stop_broker_at: float | None,
    broker_down: float,
    threads: int,
    drain_timeout: float,
) -> dict:
    sent = Sent()
    sampler = Sampler(ctx.url())
    sampler.start()
    started = time.monotonic()
    faults: list[str] = []

    def faulter() -> None:
        plan = []
        if kill_worker_at is not None:
            plan.append((kill_worker_at, "kill"))
        if stop_broker_at is not None:
            plan.append((stop_broker_at, "broker"))
        for at, what in sorted(plan):
            delay = started + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if what == "kill":
                processes.kill_worker()
                faults.append(f"worker SIGKILL at {time.monotonic() - started:.1f}s")
                time.sleep(1)
                processes.start_worker()
            else:
                processes.stop_redis()
                faults.append(f"broker stopped at {time.monotonic() - started:.1f}s for {broker_down:.0f}s")
                time.sleep(broker_down)
                processes.start_redis()
                faults.append(f"broker back at {time.monotonic() - started:.1f}s")

    fault_thread = threading.Thread(target=faulter, daemon=True)
    fault_thread.start()
    _send(port=port, raw_key=ctx.state["raw_key"], bodies=bodies, rate=rate, sent=sent, threads=threads)
    send_done = time.monotonic()
    fault_thread.join()
    drained_at = None
    deadline = time.monotonic() + drain_timeout
    while time.monotonic() < deadline:
        time.sleep(SAMPLE_EVERY)
        recent = [s for s in sampler.samples if s[0] > max(send_done, time.monotonic() - 1.5)]
        if recent and recent[-1][2] == 0:
            drained_at = next(s[0] for s in sampler.samples if s[0] >= send_done and s[2] == 0)
            break
    sampler.stopped.set()
    sampler.join()
    lags = [lag for _, lag, _ in sampler.samples]
    backlog = [pending for _, _, pending in sampler.samples]
    figures = {
        "sent": sent.events,
        "requests": sent.requests,
        "send_seconds": round(send_done - started, 1),
        "achieved_rate": round(sent.events / max(send_done - started, 1e-9)),
        "non_200_answers": sent.non_200,
        "connection_errors": sent.connection_errors,
        "statuses": ",".join(f"{k}x{v}" for k, v in sorted(sent.statuses.items())),
        "faults": "; ".join(faults) or "none",
    }
    figures.update(_check(ctx.url(), sent_ids=sent.events))
    figures.update(
        {
            "lag_p50_s": round(_pctl(lags, 50), 1),
            "lag_p95_s": round(_pctl(lags, 95), 1),
            "lag_max_s": round(max(lags, default=0.0), 1),
            "backlog_peak": max(backlog, default=0),
            "drain_seconds": round(drained_at - send_done, 1)
            if drained_at is not None
            else f"not drained within {drain_timeout:.0f}s",
        }
    )
    return figures


def _wallets_reconcile(ctx) -> dict:
    from apps.wallets.selectors import wallet_conservation

    broken = 0
    customers = ctx.state["customer_ids"]
    for customer_id in customers.values():
        if not wallet_conservation(customer_id=customer_id).holds:
            broken += 1
    return {"conservation_checked": len(customers), "conservation_broken": broken}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=6000, help="events per second sent (default 6000)")
    parser.add_argument("--seconds", type=float, default=60, help="how long to send (default 60)")
    parser.add_argument(
        "--kill-worker-at",
        type=float,
        default=None,
        help="SIGKILL the Celery worker at this second of the run (then restart it)",
    )
    parser.add_argument(
        "--stop-broker-at",
        type=float,
        default=None,
        help="stop the broker at this second of the run (restarted after --broker-down seconds)",
    )
    parser.add_argument("--broker-down", type=float, default=15, help="seconds the broker stays down (default 15)")
    parser.add_argument("--threads", type=int, default=8, help="client connections sending (default 8)")
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the backlog (300)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()
    return run(
        rate=args.rate,
        seconds=args.seconds,
        kill_worker_at=args.kill_worker_at,
        stop_broker_at=args.stop_broker_at,
        broker_down=args.broker_down,
        threads=args.threads,
        drain_timeout=args.drain_timeout,
    )


if __name__ == "__main__":
    sys.exit(main())
