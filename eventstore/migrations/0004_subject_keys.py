"""Per-person encryption keys for personal data in events (eventstore.personal)."""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0003_es_append_function")]

    operations = [
        migrations.CreateModel(
            name="SubjectKey",
            fields=[
                ("subject_id", models.TextField(primary_key=True, serialize=False)),
                ("key", models.BinaryField()),
                ("created_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
            options={"db_table": "es_subject_key"},
        ),
    ]
