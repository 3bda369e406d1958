"""Per-process memo of the ingestion hot path's lookups: customer external id -> pk, meter code -> meter spec.

Both change rarely and never in place (external ids and codes are fixed, customers and meters are never deleted),
so a miss is the only reason to ask the database; entries also expire (meters after 10 s, so a deactivated meter
stops being accepted within that time; customers after 60 s). Saving or deleting a Customer or a Meter in this
process clears both memos at once (tests recreate them between cases)."""

from __future__ import annotations

import threading
import time

from apps.catalog.selectors import meters_by_code
from apps.contracts.selectors import customer_ids_by_external_id

METER_TTL = 10.0
CUSTOMER_TTL = 60.0


class Memo:
    def __init__(self, ttl: float, max_size: int = 200_000):
        self.ttl = ttl
        self.max_size = max_size
        self._values: dict = {}
        self._loaded_at = time.monotonic()
        self._lock = threading.Lock()

    def get(self, keys, load) -> dict:
        """The known entries for `keys`; `load(missing_keys) -> dict` fills misses (unknown keys stay unknown
        and are asked again next time)."""
        now = time.monotonic()
        with self._lock:
            if now - self._loaded_at > self.ttl or len(self._values) > self.max_size:
                self._values, self._loaded_at = {}, now
            values = self._values
        missing = [k for k in keys if k not in values]
        if missing:
            found = load(missing)
            with self._lock:
                self._values.update(found)
            values = {**values, **found}
        return {k: values[k] for k in keys if k in values}

    def clear(self) -> None:
        with self._lock:
            self._values, self._loaded_at = {}, time.monotonic()


customers = Memo(CUSTOMER_TTL)
meters = Memo(METER_TTL)


def customer_ids(external_ids) -> dict[str, int]:
    return customers.get(set(external_ids), customer_ids_by_external_id)


def meter_specs(codes) -> dict:
    return meters.get(set(codes), lambda missing: meters_by_code())


def clear(**kwargs) -> None:
    customers.clear()
    meters.clear()
