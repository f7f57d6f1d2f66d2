from django.db import migrations, models

import ponos.models


class Migration(migrations.Migration):
    """Room for the sealed token and its digest; the clear token stays until they are
    filled (0009), so that every step can be undone."""

    dependencies = [
        ("ponos", "0007_task_claimed_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="task",
            name="token",
            field=models.CharField(default=ponos.models.generate_token, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="task",
            name="token_mask",
            field=models.CharField(default="", editable=False, max_length=128),
        ),
        migrations.AddField(
            model_name="task",
            name="token_hash",
            # Its unique index is built once the digests are written (0010).
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
    ]
