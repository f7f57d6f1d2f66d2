from django.db import migrations, models


class Migration(migrations.Migration):
    """No task token is stored in clear any more: only sealed, and as a digest."""

    dependencies = [
        ("ponos", "0009_seal_task_tokens"),
    ]

    operations = [
        migrations.RemoveField(model_name="task", name="token"),
        migrations.AlterField(
            model_name="task",
            name="token_mask",
            field=models.CharField(editable=False, max_length=128),
        ),
        migrations.AlterField(
            model_name="task",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]
