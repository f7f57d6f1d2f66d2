"""The API tokens of the previous release (DRF's authtoken table, keys in clear) become
hashed UserTokens: every existing key keeps authenticating, and no key stays stored."""

import hashlib

from django.db import migrations

BATCH = 1000


def hash_old_tokens(apps, schema_editor):
    OldToken = apps.get_model("authtoken", "Token")
    UserToken = apps.get_model("users", "UserToken")
    while True:
        batch = list(OldToken.objects.order_by("key")[:BATCH])
        if not batch:
            break
        UserToken.objects.bulk_create(
            [
                UserToken(
                    user_id=old.user_id,
                    key_hash=hashlib.sha256(old.key.encode()).hexdigest(),
                    description=f"Issued on {old.created:%Y-%m-%d}, before tokens were hashed",
                )
                for old in batch
            ],
            ignore_conflicts=True,
        )
        # The clear keys go: a copy of the database must not hand out working tokens.
        OldToken.objects.filter(key__in=[old.key for old in batch]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_user_tokens"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    # Going back cannot restore the clear keys: the tokens of later releases are lost.
    operations = [migrations.RunPython(hash_old_tokens, migrations.RunPython.noop)]
