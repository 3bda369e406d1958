"""Seed believable demo data. Idempotent: running it again adds nothing already there."""

from __future__ import annotations

import importlib

from django.conf import settings
from django.core.management.base import BaseCommand
from django.test.utils import override_settings

# Order follows the one-way data flow: catalog <- contracts <- wallets <- usage <- alerts.
DEMO_MODULES = [
    "apps.core.demo",
    "apps.catalog.demo",
    "apps.contracts.demo",
    "apps.wallets.demo",
    "apps.usage.demo",
    "apps.usage.simulation.demo",
    "apps.usage.closing.demo",
    "apps.alerts.demo",
]


class Command(BaseCommand):
    help = "Create demo users, catalog, rate tables, customers, wallets and usage (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--size",
            choices=["small", "medium", "large"],
            default="small",
            help="small: a quick demo; medium/large: more customers and events for benchmarks.",
        )

    def handle(self, *args, size, **options):
        self.stdout.write(self.style.MIGRATE_HEADING(f"Seeding demo data ({size})"))
        # History is backfilled day by day: don't evaluate alerts or send mail per backfilled batch
        # (the alerts demo evaluates once at the end, without notifying).
        quiet = {**settings.RATEDESK, "ALERTS_EVALUATE_AFTER_RATING": False, "ALERTS_NOTIFY": False}
        with override_settings(RATEDESK=quiet):
            self._seed(size)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _seed(self, size: str) -> None:
        for name in DEMO_MODULES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:
                    continue
                raise
            module.seed(stdout=self.stdout, size=size)
