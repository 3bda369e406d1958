"""Append-only tables, enforced by PostgreSQL itself (one helper for every app's migrations).

`append_only(table)` returns a migration operation that installs, on PostgreSQL (`never_deleted(table)`: the same
for DELETE and TRUNCATE only, for rows whose state may change):
- a row trigger refusing UPDATE and DELETE (optionally: UPDATE only while a row is still open, e.g. a pending
  credit request may be decided once, after which it is frozen), and
- a statement trigger refusing TRUNCATE.

Refusals raise SQLSTATE 23001 (restrict_violation), which Django surfaces as an IntegrityError.

TRUNCATE is the one statement a test-suite flush needs (Django's transactional tests and live-server browser
tests empty every table with it). A session may allow it by setting `ratedesk.allow_truncate = on`; nothing in
the application sets it, production connections never do; the test settings set it on their connections, and
the tests that prove the protection switch it off again. UPDATE and DELETE have no such switch.
SQLite (the embedded demo database) gets no triggers; the services never update or delete these rows.
"""

from __future__ import annotations

from django.db import migrations

FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION ratedesk_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('ratedesk.allow_truncate', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'UPDATE' AND TG_NARGS >= 2 AND to_jsonb(OLD) ->> TG_ARGV[0] = TG_ARGV[1] THEN
        -- a row still open (e.g. status = 'pending') may be updated; once decided it is frozen
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused (record a new entry instead)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def _install(table: str, open_column: str | None, open_value: str | None, refused: str = "UPDATE OR DELETE"):
    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        args = f"'{open_column}', '{open_value}'" if open_column else ""
        schema_editor.execute(FUNCTION_SQL, params=None)
        for statement in (
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
            f"CREATE TRIGGER {table}_append_only BEFORE {refused} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ratedesk_append_only({args});",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION ratedesk_append_only();",
        ):
            schema_editor.execute(statement, params=None)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};", params=None)

    return forwards, backwards


def append_only(table: str, *, updatable_while: tuple[str, str] | None = None) -> migrations.RunPython:
    """A migration operation making `table` append-only on PostgreSQL.

    `updatable_while=("status", "pending")` lets a row be updated while that column holds that value (so an open
    request can be decided once); every other UPDATE, every DELETE and TRUNCATE are refused."""
    column, value = updatable_while or (None, None)
    forwards, backwards = _install(table, column, value)
    return migrations.RunPython(forwards, backwards, elidable=False)


def never_deleted(table: str) -> migrations.RunPython:
    """A migration operation refusing DELETE and TRUNCATE on `table` (PostgreSQL): its rows may change state but
    are kept forever, so rows that reference them need no foreign-key check on every insert."""
    forwards, backwards = _install(table, None, None, refused="DELETE")
    return migrations.RunPython(forwards, backwards, elidable=False)
