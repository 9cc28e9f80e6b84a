"""Events get fewer indexes: the workspace's own (event_by_tenant starts with it) and the
LIKE-pattern ones PostgreSQL gets for the character id and session id go, since nothing
searches them by prefix. Each index is written again for every event, and the expiry
sweep writes a million at once."""

import django.db.models.deletion
from django.db import migrations, models


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'webhooks_event' "
            "AND (indexname LIKE 'webhooks_event_id_%%_like'"
            " OR indexname LIKE 'webhooks_event_session_id_%%_like')"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_membership_weekly_report"),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(drop_like_indexes, migrations.RunPython.noop),
    ]
