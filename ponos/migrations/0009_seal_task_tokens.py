"""Existing task tokens are sealed and hashed as new ones are: the code of tasks running
through the upgrade keeps authenticating with the token it was given.

The sealing is written out here rather than imported, so this migration stays as it ran.
"""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations

BATCH = 1000
PURPOSE = b"ponos.task-token:"


def keystream(task_id):
    return hmac.new(settings.SECRET_KEY.encode(), PURPOSE + task_id.bytes, hashlib.sha512).digest()


def xor(data, stream):
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def batches(queryset):
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        page = list(page[:BATCH])
        if not page:
            return
        yield page
        last = page[-1].pk


def update(schema_editor, rows, columns, nulls=()):
    """Set `columns` of the tasks of `rows` (tuples of the id, then a value per column),
    and set `nulls` to NULL."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One UPDATE per batch, joined to the batch's VALUES: bulk_update's CASE
            # expressions, or one UPDATE per row, take minutes on a large table.
            sets = [f"{column} = v.column{n}" for n, column in enumerate(columns, 2)]
            sets += [f"{column} = NULL" for column in nulls]
            row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
            cursor.execute(
                f"UPDATE ponos_task AS t SET {', '.join(sets)} "  # noqa: S608 (no input in it)
                f"FROM (VALUES {', '.join([row] * len(rows))}) AS v WHERE t.id = v.column1",
                [value for row in rows for value in row],
            )
        else:
            # SQLite, in-process: one prepared UPDATE per row is fast enough.
            sets = [f"{column} = %s" for column in columns]
            sets += [f"{column} = NULL" for column in nulls]
            cursor.executemany(
                f"UPDATE ponos_task SET {', '.join(sets)} WHERE id = %s",  # noqa: S608
                [(*row[1:], row[0].hex) for row in rows],
            )


def seal(apps, schema_editor):
    Task = apps.get_model("ponos", "Task")
    for page in batches(Task.objects.only("pk", "token").filter(token__isnull=False)):
        rows = [
            (
                task.pk,
                xor(task.token.encode(), keystream(task.pk)).hex(),
                hashlib.sha256(task.token.encode()).hexdigest(),
            )
            for task in page
        ]
        update(schema_editor, rows, ["token_mask", "token_hash"], nulls=["token"])


def unseal(apps, schema_editor):
    Task = apps.get_model("ponos", "Task")
    for page in batches(Task.objects.only("pk", "token_mask")):
        rows = [
            (task.pk, xor(bytes.fromhex(task.token_mask), keystream(task.pk)).decode())
            for task in page
        ]
        update(schema_editor, rows, ["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("ponos", "0008_task_token_digest_fields"),
    ]

    operations = [migrations.RunPython(seal, unseal)]
