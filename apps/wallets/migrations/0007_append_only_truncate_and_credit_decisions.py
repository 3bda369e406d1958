"""The ledger refuses TRUNCATE too (UPDATE and DELETE were already refused), and a decided credit request is
frozen: PostgreSQL refuses any UPDATE of a request that is no longer pending, every DELETE, and TRUNCATE.
One helper for all append-only tables: apps.core.append_only."""
from django.db import migrations

from apps.core.append_only import append_only


class Migration(migrations.Migration):

    dependencies = [("wallets", "0006_included_credit_grants")]

    operations = [
        append_only("wallets_ledgerentry"),
        append_only("wallets_ledgerallocation"),
        append_only("wallets_creditrequest", updatable_while=("status", "pending")),
    ]
