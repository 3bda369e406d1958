"""Step 4, write: rated rows (COPY on PostgreSQL), supersessions, kept positions, cursors and event states."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from apps.core.money import ZERO

from ..models import RatedUsage, RatingCursor, UsageEvent
from .types import TOTAL_FIELDS, Charge, RatedRow, RunState, _Work


def _add_totals(totals: dict, records: Sequence[RatedUsage] | Sequence[RatedRow]) -> None:
    """Add the records' figures to the totals, one record after the other: the same operations, in the same
    order, as adding `1 * figure` record by record (so the same Decimals, in the context's precision)."""
    one = Decimal(1).__mul__
    for name in TOTAL_FIELDS:
        totals[name] = sum(map(one, map(attrgetter(name), records)), totals.get(name, ZERO))


_json = json.JSONEncoder().encode  # json.dumps(value) with its default arguments, without its per-call checks


def fast_insert(model: type[Model], objects: Sequence[Any]) -> None:
    """Insert rows without the ORM's per-row statement building (ids are not read back): COPY on PostgreSQL,
    executemany elsewhere. `objects` are model instances or any objects with the fields' attnames (the rating
    hot path writes frozen RatedRow values: building 50-field model instances costs more than writing them)."""
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    for field in fields:  # auto_now_add fields are filled like the ORM would
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            for obj in objects:
                if getattr(obj, field.attname, None) is None:
                    setattr(obj, field.attname, now)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column or f.attname) for f in fields)
    names = [f.attname for f in fields]
    json_at = [i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
    if connection.vendor == "postgresql":
        values = attrgetter(*names)
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                row = list(values(obj))
                for i in json_at:
                    value = row[i]
                    row[i] = "[]" if value == [] else _json(value)  # most records have no allocations
                copy.write_row(row)
        return
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in objects]
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)  # noqa: S608 - names from the model


class WriteStep(RunState):
    # --- writes ------------------------------------------------------------------------------------------
    def _cursor_changes(
        self,
        customer_id: int,
        new_items: list[Charge],
        rows: list[RatedRow],
        superseded: list[RatedUsage],
        cursors: dict,
    ) -> list[RatingCursor]:
        """Cursors stay exact sums of the current records per customer x meter x period (and the last
        position rated): what leaves with the superseded records, what comes with the new ones."""
        missing = {(r.meter_id, r.period_start) for r in superseded} - set(cursors)
        if missing:
            for cursor in RatingCursor.objects.filter(
                customer_id=customer_id, period_start__in={p for _, p in missing}
            ):
                cursors.setdefault((cursor.meter_id, cursor.period_start), cursor)
        changed: dict[tuple[int, datetime], RatingCursor] = {}

        def cursor_for(
            meter_id: int, period_start: datetime, contract_id: int, period_end: datetime | None
        ) -> RatingCursor:
            key = (meter_id, period_start)
            cursor = cursors.get(key)
            if cursor is None:
                cursor = RatingCursor(
                    customer_id=customer_id,
                    meter_id=meter_id,
                    period_start=period_start,
                    period_end=period_end or period_start,
                    contract_id=contract_id,
                    quantity=ZERO,
                    overage_units=ZERO,
                )
                cursors[key] = cursor
            changed[key] = cursor
            return cursor

        for record in superseded:
            cursor = cursor_for(record.meter_id, record.period_start, record.contract_id, None)
            cursor.quantity -= record.quantity
            cursor.overage_units -= record.overage_units
        for item, row in zip(new_items, rows, strict=True):
            cursor = cursor_for(row.meter_id, row.period_start, row.contract_id, item.period[1])
            cursor.quantity += row.quantity
            cursor.overage_units += row.overage_units  # signed: a credit note on overage frees cap room
            if cursor.last_timestamp is None or (cursor.last_timestamp, cursor.last_event_ref) < item.event.key:
                cursor.last_timestamp, cursor.last_event_ref = item.event.key
        return list(changed.values())

    def _write(self, work: list[_Work]) -> None:
        """All customers' records, supersessions and cursors of the run, in a few statements."""
        self.result.changed.update(w.customer_id for w in work if w.rows or w.superseded)
        superseded = [r for w in work for r in w.superseded]
        if superseded:
            ids = [r.pk for r in superseded]
            for start in range(0, len(ids), 5000):
                RatedUsage.objects.filter(pk__in=ids[start : start + 5000]).update(
                    superseded_at=self.now, superseded_by=self.batch
                )
            _add_totals(self.result.totals_before, superseded)
            for record in superseded:
                self._touched.add((record.customer_id, record.day))
            self.result.superseded += len(superseded)
        kept = [r for w in work for r in w.kept_priors]
        if kept and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE usage_rated r SET prior_quantity = v.p FROM json_to_recordset(%s::json) "
                    "AS v(id bigint, p numeric) WHERE r.id = v.id",
                    [json.dumps([{"id": r.pk, "p": str(r.prior_quantity)} for r in kept])],
                )
        elif kept:
            RatedUsage.objects.bulk_update(kept, ["prior_quantity"], batch_size=500)
        rows = [row for w in work for row in w.rows]
        fast_insert(RatedUsage, rows)
        _add_totals(self.result.totals_after, rows)
        self._added.extend((row.customer_id, row.day, row.event_id) for row in rows)
        # Events rated for the first time (or again after an error); a re-rated one is already `rated`.
        self._rated_event_ids.extend(
            row.event_id
            for w in work
            for item, row in zip(w.new_items, w.rows, strict=True)
            if item.event.current is None
        )
        self.result.written += len(rows)
        cursors = [c for w in work for c in w.cursors]
        if cursors:
            RatingCursor.objects.bulk_create(
                cursors,
                batch_size=1000,
                update_conflicts=True,
                unique_fields=["customer", "meter", "period_start"],
                update_fields=["quantity", "overage_units", "last_timestamp", "last_event_ref"],
            )

    def _finish(self) -> None:
        if self._rated_event_ids and connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # one text parameter rather than thousands
                cursor.execute(
                    "UPDATE usage_event SET state = 'rated', rating_error = '' "
                    "WHERE id = ANY(string_to_array(%s, ',')::bigint[])",
                    [",".join(map(str, self._rated_event_ids))],
                )
        elif self._rated_event_ids:
            for start in range(0, len(self._rated_event_ids), 5000):
                UsageEvent.objects.filter(pk__in=self._rated_event_ids[start : start + 5000]).update(
                    state=UsageEvent.State.RATED, rating_error=""
                )
        for message, ids in self._errors.items():
            for start in range(0, len(ids), 5000):
                UsageEvent.objects.filter(pk__in=ids[start : start + 5000]).update(
                    state=UsageEvent.State.ERROR, rating_error=message[:200]
                )
            self.result.errors += len(ids)
