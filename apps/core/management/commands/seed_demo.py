"""Seed believable demo data. Idempotent: running it again adds nothing already there."""
from __future__ import annotations

import importlib

from django.core.management.base import BaseCommand

# Order follows the one-way data flow: catalog <- contracts <- wallets <- usage <- alerts.
DEMO_MODULES = ["apps.core.demo", "apps.catalog.demo", "apps.contracts.demo", "apps.wallets.demo",
                "apps.usage.demo", "apps.alerts.demo"]


class Command(BaseCommand):
    help = "Create demo users, catalog, rate tables, customers, wallets and usage (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=["small", "medium", "large"], default="small",
                            help="small: a quick demo; medium/large: more customers and events for benchmarks.")

    def handle(self, *args, size, **options):
        self.stdout.write(self.style.MIGRATE_HEADING(f"Seeding demo data ({size})"))
        for name in DEMO_MODULES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:
                    continue
                raise
            module.seed(stdout=self.stdout, size=size)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
