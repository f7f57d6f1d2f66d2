"""API tokens of users: issued once in clear, stored as digests, looked up by digest."""

import hashlib
import secrets

from arkindex.users.models import UserToken


def hash_key(key):
    """The stored form of a token key. Keys are 256 random bits (or the 160 of the keys of
    earlier releases), so a fast digest is enough: nothing can be guessed from it, and the
    lookup of a digest through its unique index compares no secret in Python."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(user, description=""):
    """A new token for `user`; returns its key, which is never stored nor shown again."""
    key = secrets.token_hex(32)
    UserToken.objects.create(user=user, key_hash=hash_key(key), description=description[:120])
    return key


def find_token(key):
    """The token with this key, with its user, or None (one query)."""
    return UserToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()


def token_authenticates(key, user):
    """Whether `key` is a live token of `user` (e.g. a key kept in a file)."""
    return UserToken.objects.filter(key_hash=hash_key(key), user=user).exists()
