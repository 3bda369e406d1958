"""Catalog pages. Thin: parse, call a service or selector, render (full page or htmx partial).

`products`: products and meters; `versions`: rate tables, their versions and a draft's rates; `reviews`: the review
queue and decisions. Every view is importable from here (`views.product_list` in urls.py).
"""

from __future__ import annotations

from .base import (
    EDIT,
    VIEW,
)
from .products import (
    meter_detail,
    meter_edit,
    meter_list,
    product_edit,
    product_history,
    product_list,
)
from .reviews import (
    panel_price_changes,
    review_detail,
    review_queue,
)
from .versions import (
    rate_add,
    rate_cell_save,
    rate_remove,
    rate_table_create,
    rate_table_detail,
    rate_table_list,
    rate_table_new_draft,
    rate_tiers,
    version_detail,
    version_discard,
    version_revert,
    version_submit,
    version_withdraw,
)

__all__ = [
    "EDIT",
    "VIEW",
    "meter_detail",
    "meter_edit",
    "meter_list",
    "panel_price_changes",
    "product_edit",
    "product_history",
    "product_list",
    "rate_add",
    "rate_cell_save",
    "rate_remove",
    "rate_table_create",
    "rate_table_detail",
    "rate_table_list",
    "rate_table_new_draft",
    "rate_tiers",
    "review_detail",
    "review_queue",
    "version_detail",
    "version_discard",
    "version_revert",
    "version_submit",
    "version_withdraw",
]
