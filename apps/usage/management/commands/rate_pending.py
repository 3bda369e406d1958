from django.core.management.base import BaseCommand

from apps.usage.services import DEFAULT_BATCH_SIZE, usage_rate_pending


class Command(BaseCommand):
    help = "Rate pending usage events in batches (what the Celery task does)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--max-batches", type=int, default=None)

    def handle(self, *args, batch_size, max_batches, **options):
        summary = usage_rate_pending(batch_size=batch_size, max_batches=max_batches)
        self.stdout.write(
            f"Rated {summary.events} events in {summary.batches} batches "
            f"({summary.written} records, {summary.superseded} superseded, "
            f"{summary.errors} could not be rated) in {summary.seconds}s."
        )
