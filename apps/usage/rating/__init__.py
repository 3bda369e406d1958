"""Rating, as a package of named steps (see engine.py for the run):

- pricing.py  - pure arithmetic: an event's price at its period position, credits/currency, caps, draw splits;
- types.py    - the values passed between steps (EventInput, Resolved | Unrated, Charge, WalletDraw, RatedRow);
- resolve.py  - resolve terms: contract in force, version, rate, billing period, meter cost;
- sequence.py - sequence positions: cursors, late suffixes to re-price, what cannot be stored;
- draw.py     - settle against the wallet: give-backs, included credits, one debit per period, true-ups;
- settle.py   - settle, pure: priced items + the wallet draw -> RatedRow (allowance, credits, overage, caps);
- write.py    - write: rated rows (COPY), supersessions, cursors, event states;
- rollups.py  - recompute and replace the touched rollup buckets;
- engine.py   - the orchestrator (`Engine`), used by apps.usage.services.
"""

from .engine import Engine, failure_reason, lock_customers
from .rollups import rebuild_rollups, rebuild_rollups_between
from .types import SUFFIX_FIELDS, TOTAL_FIELDS, EventInput, RunResult

__all__ = [
    "SUFFIX_FIELDS",
    "TOTAL_FIELDS",
    "Engine",
    "EventInput",
    "RunResult",
    "failure_reason",
    "lock_customers",
    "rebuild_rollups",
    "rebuild_rollups_between",
]
