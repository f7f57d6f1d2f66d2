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


def seal(apps, schema_editor):
    Task = apps.get_model("ponos", "Task")
    for page in batches(Task.objects.only("pk", "token").filter(token__isnull=False)):
        for task in page:
            task.token_mask = xor(task.token.encode(), keystream(task.pk)).hex()
            task.token_hash = hashlib.sha256(task.token.encode()).hexdigest()
            task.token = None
        Task.objects.bulk_update(page, ["token_mask", "token_hash", "token"])


def unseal(apps, schema_editor):
    Task = apps.get_model("ponos", "Task")
    for page in batches(Task.objects.only("pk", "token_mask")):
        for task in page:
            task.token = xor(bytes.fromhex(task.token_mask), keystream(task.pk)).decode()
        Task.objects.bulk_update(page, ["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("ponos", "0008_task_token_digest_fields"),
    ]

    operations = [migrations.RunPython(seal, unseal)]
