"""`python -m benchmarks [--only a,b] [--skip c]` (what `make bench` runs): performance figures measured in one run
on PostgreSQL (DATABASE_URL), printed as `name: value`."""

from __future__ import annotations

import argparse
import os
import sys
import time

PRIMARY = ("ingest_vs_copy", "replay_vs_copy", "rating_events_per_s", "rating_vs_ingest")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default="", help="Comma-separated section names to run (default: all).")
    parser.add_argument("--skip", default="", help="Comma-separated section names to skip.")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()
    from django.conf import settings

    from benchmarks import simulation as _simulation  # noqa: F401 - registers the `simulation` section
    from benchmarks import usage as bench

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("make bench measures PostgreSQL: set DATABASE_URL=postgres://... first.", file=sys.stderr)
        return 2
    wanted = {s for s in args.only.split(",") if s}
    skipped = {s for s in args.skip.split(",") if s}
    ctx = bench.BenchContext(stdout=sys.stdout, database=dict(settings.DATABASES["default"]))
    started = time.monotonic()
    for section in bench.sections():
        if (wanted and section.name not in wanted) or section.name in skipped:
            continue
        print(f"== {section.name}", flush=True)
        section_started = time.monotonic()
        figures = section.run(ctx) or {}
        for name, value in figures.items():
            if name not in PRIMARY:
                print(f"{name}: {bench.fmt(value)}")
        for name in PRIMARY:
            if name in figures:
                print(f"{name}: {bench.fmt(figures[name])}")
        ctx.figures.update(figures)
        print(f"({section.name} took {time.monotonic() - section_started:.0f}s)", flush=True)
    print(f"bench done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
