"""Catalog writes: products, meters, costs, rate tables and the maker-checker version workflow.

Lifecycle: draft -> pending_approval -> approved (scheduled -> active -> superseded, by instant);
pending_approval -> changes_requested -> (edit) -> pending_approval; draft -> discarded;
pending_approval -> (withdraw) -> draft; pending_approval -> rejected.
Only drafts (and versions with changes requested) change. Submitting freezes the content in a
hash; approval binds to that hash. Whoever created, edited or submitted a version (a VersionContributor)
can never approve, reject or request changes on it, whatever groups they hold.

`versions`: rate tables' versions and the review workflow; `rates`: a draft's rates and tiers; `products`: products,
meters, meter costs and rate tables; `common`: the shared guards. Every public name is importable from here.
"""

from __future__ import annotations

from .common import (
    EDITABLE,
    OPEN,
    S,
)
from .products import (
    meter_cost_create,
    meter_create,
    meter_save,
    product_save,
    rate_table_create,
)
from .rates import (
    RATE_FIELDS,
    parse_tiers,
    rate_add,
    rate_remove,
    rate_tiers_set,
    rate_update_field,
)
from .versions import (
    rate_table_version_approve,
    rate_table_version_create_draft,
    rate_table_version_discard,
    rate_table_version_reject,
    rate_table_version_request_changes,
    rate_table_version_revert,
    rate_table_version_set_cohort,
    rate_table_version_shadow_approve,
    rate_table_version_submit,
    rate_table_version_withdraw,
    version_content_hash,
)

__all__ = [
    "EDITABLE",
    "OPEN",
    "RATE_FIELDS",
    "S",
    "meter_cost_create",
    "meter_create",
    "meter_save",
    "parse_tiers",
    "product_save",
    "rate_add",
    "rate_remove",
    "rate_table_create",
    "rate_table_version_approve",
    "rate_table_version_create_draft",
    "rate_table_version_discard",
    "rate_table_version_reject",
    "rate_table_version_request_changes",
    "rate_table_version_revert",
    "rate_table_version_set_cohort",
    "rate_table_version_shadow_approve",
    "rate_table_version_submit",
    "rate_table_version_withdraw",
    "rate_tiers_set",
    "rate_update_field",
    "version_content_hash",
]
