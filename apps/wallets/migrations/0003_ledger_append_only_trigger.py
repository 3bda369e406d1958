"""The ledger is append-only: on PostgreSQL a trigger refuses UPDATE and DELETE on ledger entries and allocations.

SQLite has no such trigger here (the embedded demo database); the services never update or delete ledger rows.
TRUNCATE (used by test database flushes) is not affected.
"""
from django.db import migrations

TABLES = ["wallets_ledgerentry", "wallets_ledgerallocation"]

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION wallets_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused (write a correcting entry instead)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION wallets_ledger_append_only();")


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS wallets_ledger_append_only();")


class Migration(migrations.Migration):

    dependencies = [("wallets", "0002_ledger_effective_at_requested_grant_source")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
