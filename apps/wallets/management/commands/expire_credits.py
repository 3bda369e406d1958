from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.wallets.services import wallet_expire_due


class Command(BaseCommand):
    help = "Expire every credit grant whose expiry instant has passed (the beat task does this every few minutes)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Pretend it is this instant (ISO 8601 with a time zone), e.g. for backfills.")

    def handle(self, *args, now=None, **options):
        at: datetime | None = None
        if now:
            at = parse_datetime(now)
            if at is None or at.tzinfo is None:
                raise CommandError("--now must be an ISO 8601 instant with a time zone, e.g. 2026-12-01T00:00:00Z")
        count = wallet_expire_due(now=at)
        self.stdout.write(f"Expired {count} grant{'s' if count != 1 else ''}.")
