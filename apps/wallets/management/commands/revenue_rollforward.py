import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ValidationFailed
from apps.wallets.revenue import COLUMNS, parse_period, rollforward, rollforward_json

HEADINGS = {
    "opening": "Opening",
    "purchased": "Purchased",
    "recognized": "Recognised",
    "breakage": "Breakage",
    "adjustments": "Adjustments",
    "closing": "Closing",
}


class Command(BaseCommand):
    help = (
        "The deferred revenue of prepaid credits for one UTC month, per customer and in total: opening + purchased "
        "- recognised - breakage + adjustments = closing, in the contract currency, to the cent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month, YYYY-MM (UTC), e.g. 2026-03.")
        parser.add_argument("--json", action="store_true", help="JSON: per customer and a `total` object.")

    def handle(self, *args, period: str, **options):
        try:
            month = parse_period(period)
        except ValidationFailed as error:
            raise CommandError(error.message) from None
        report = rollforward(period=month)
        if options.get("json"):
            self.stdout.write(jsonlib.dumps(rollforward_json(report), indent=2))
            return
        self.stdout.write(f"Deferred revenue roll-forward, {month.title} (UTC)")
        width = max([len(r.name) for r in report.rows + report.totals] + [8])
        header = f"{'Customer':<{width}}  {'Cur':<4}" + "".join(f"{HEADINGS[c]:>16}" for c in COLUMNS)
        self.stdout.write(header)
        for row in [*report.rows, *report.totals]:
            cells = "".join(f"{getattr(row.cents, c):>16,.2f}" for c in COLUMNS)
            self.stdout.write(f"{row.name:<{width}}  {row.currency:<4}{cells}")
