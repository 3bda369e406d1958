import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PRIMARY = ("ingest_vs_copy", "replay_vs_copy", "rating_events_per_s")


class Command(BaseCommand):
    help = ("Performance figures in one run on PostgreSQL (DATABASE_URL), printed as `name: value`: "
            "ingest_vs_copy, replay_vs_copy, rating_events_per_s, and whatever other apps register "
            "(apps.usage.bench.register).")

    def add_arguments(self, parser):
        parser.add_argument("--only", default="", help="Comma-separated section names to run (default: all).")
        parser.add_argument("--skip", default="", help="Comma-separated section names to skip.")

    def handle(self, *args, only="", skip="", **options):
        from apps.usage import bench

        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            raise CommandError("make bench measures PostgreSQL: set DATABASE_URL=postgres://... first.")
        wanted = {s for s in only.split(",") if s}
        skipped = {s for s in skip.split(",") if s}
        ctx = bench.BenchContext(stdout=self.stdout, database=dict(settings.DATABASES["default"]))
        started = time.monotonic()
        for section in bench.sections():
            if (wanted and section.name not in wanted) or section.name in skipped:
                continue
            self.stdout.write(f"== {section.name}")
            section_started = time.monotonic()
            figures = section.run(ctx) or {}
            for name, value in figures.items():
                if name not in PRIMARY:
                    self.stdout.write(f"{name}: {bench.fmt(value)}")
            for name in PRIMARY:
                if name in figures:
                    self.stdout.write(f"{name}: {bench.fmt(figures[name])}")
            ctx.figures.update(figures)
            self.stdout.write(f"({section.name} took {time.monotonic() - section_started:.0f}s)")
            sys.stdout.flush()
        self.stdout.write(f"bench done in {time.monotonic() - started:.0f}s")
