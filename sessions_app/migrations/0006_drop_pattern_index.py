"""Drop the LIKE-pattern index PostgreSQL gets for a character primary key.

Nothing searches session ids by pattern, and every index is written again for each row
the expiry sweep turns.
"""

from django.db import migrations


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'sessions_app_session' "
            "AND indexname LIKE 'sessions_app_session_id_%%_like'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0005_leaner_indexes")]

    operations = [migrations.RunPython(drop_like_index, migrations.RunPython.noop)]
