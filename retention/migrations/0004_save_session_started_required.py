"""Every save now has its session's start (0003 filled them): required, and indexed for
analytics (workspace, mode, session start, source)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0003_save_session_columns"),
    ]

    operations = [
        migrations.AlterField(
            model_name="save",
            name="session_started_at",
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name="save",
            index=models.Index(
                fields=["tenant", "livemode", "session_started_at", "session_source"],
                name="save_session_started_idx",
            ),
        ),
    ]
