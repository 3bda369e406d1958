from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError

from apps.contracts.selectors import customer_get
from apps.core.actors import SYSTEM
from apps.core.errors import DomainError
from apps.usage.services import usage_rerate


def _instant(value: str) -> datetime:
    """A date (start of that day, UTC) or an ISO 8601 instant (UTC if no offset)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date or instant: {value!r} (use 2026-11-01 or 2026-11-01T10:00:00Z).") from None
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time.min)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Re-rate usage with timestamps in [start, end) under the current versions, contracts and costs: "
        "reversals and new charges in the ledger, rollups rebuilt, the difference printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="Date or ISO instant (inclusive).")
        parser.add_argument("--end", required=True, help="Date or ISO instant (exclusive; a date means its start).")
        parser.add_argument("--customer", help="External id of one customer (default: all).")
        parser.add_argument("--reason", default="manage.py rerate")

    def handle(self, *args, start, end, customer=None, reason="", **options):
        customer_id = None
        if customer:
            found = customer_get(external_id=customer)
            if found is None:
                raise CommandError(f"No customer {customer!r}.")
            customer_id = found.pk
        try:
            summary = usage_rerate(
                start=_instant(start), end=_instant(end), customer_id=customer_id, actor=SYSTEM, reason=reason
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Re-rated {summary.start:%Y-%m-%d %H:%M} -> {summary.end:%Y-%m-%d %H:%M}: "
            f"{summary.events} events looked at, {summary.rerated} re-rated, "
            f"{summary.superseded} superseded, {summary.errors} could not be rated (batch {summary.key})."
        )
        for name, diff in summary.difference.items():
            self.stdout.write(
                f"  {name:<15} {summary.before[name]:>24f} -> {summary.after[name]:>24f}  difference {diff:f}"
            )
        for kind, entry, amount in summary.ledger:
            self.stdout.write(f"  ledger {kind} #{entry}: {amount:f}")
