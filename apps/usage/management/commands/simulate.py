import json
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.core.actors import SYSTEM
from apps.core.errors import DomainError
from apps.usage.simulation.selectors import simulation_json, simulation_report
from apps.usage.simulation.services import simulation_create, simulation_run


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--{name} must be a date like 2026-11-01, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Simulate a draft or pending rate-table version on real usage: re-rate the range through the real engine in "
        "a transaction that is rolled back (nothing is written but the stored simulation), and print what each "
        "customer's bill would be. Dates are inclusive, UTC; default: each affected contract's current and "
        "previous billing period."
    )

    def add_arguments(self, parser):
        parser.add_argument("version_id", help="Id of the rate-table version (see its page's URL).")
        parser.add_argument("--start", help="First day, YYYY-MM-DD (with --end).")
        parser.add_argument("--end", help="Last day, YYYY-MM-DD, inclusive (with --start).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object (decimals as strings).")

    def handle(self, *args, version_id, start=None, end=None, json=False, **options):
        try:
            version = int(version_id)
        except ValueError:
            raise CommandError(f"VERSION_ID must be a number, not {version_id!r}.") from None
        first, last = _day(start, "start"), _day(end, "end")
        if (first is None) != (last is None):
            raise CommandError("Give both --start and --end, or neither (the default range).")
        try:
            simulation = simulation_create(version_id=version, actor=SYSTEM, start=first, end=last)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        progress_stream = sys.stderr if json else self.stdout

        def progress(done: int, total: int) -> None:
            progress_stream.write(f"  simulated {done}/{total} customers\n")
            progress_stream.flush()

        simulation = simulation_run(simulation_id=simulation.pk, progress=progress)
        if simulation.state != simulation.State.DONE:
            raise CommandError(f"Simulation {simulation.pk} failed: {simulation.error}")
        report = simulation_report(simulation)
        if json:
            self.stdout.write(_dumps(simulation_json(report)))
            return
        total = report.total
        self.stdout.write(
            f"Simulation {simulation.pk} of {simulation.version} ({simulation.content_hash[:12]}), "
            f"{report.first_day} .. {report.last_day}: {len(report.customers)} customers, {simulation.events} events."
        )
        self.stdout.write(
            f"  amount ({simulation.pricing_unit}) {total.now['amount']:f} -> {total.simulated['amount']:f}  "
            f"difference {total.amount_change:f}"
        )
        for customer in report.customers:
            flag = "  BILL SHOCK" if customer.shock else ""
            pct = f" ({customer.amount_pct:+.2f} %)" if customer.amount_pct is not None else ""
            self.stdout.write(
                f"  {customer.external_id:<24} {customer.now['amount']:f} -> {customer.simulated['amount']:f}{pct}{flag}"
            )


def _dumps(payload: dict) -> str:
    return json.dumps(payload, indent=2)
