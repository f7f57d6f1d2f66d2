import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models


class UserManager(BaseUserManager):
    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_admin", extra.pop("is_superuser", True))
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person (or script) using the API, logging in by email.

    `is_admin` gives every right in the API and access to the Django admin.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=120, blank=True, default="")
    is_admin = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    @property
    def is_staff(self):
        return self.is_admin

    def save(self, *args, **kwargs):
        # One flag for both notions: `is_admin`, the one the API and the admin pages show.
        # Django's is_superuser follows it, so unticking is_admin demotes the user.
        self.is_superuser = self.is_admin
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "is_admin" in update_fields:
            kwargs["update_fields"] = {*update_fields, "is_superuser"}
        super().save(*args, **kwargs)


class UserToken(models.Model):
    """An API token of a user (`Authorization: Token <key>`), stored as the SHA-256 digest
    of its key: the key itself is shown once, when it is issued, and never stored.

    A user may hold several (one per Login, one kept by `make run`, ...); deleting the row
    revokes the token.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    description = models.CharField(max_length=120, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "created"]

    def __str__(self):
        return self.description or f"Token of {self.user_id}"
