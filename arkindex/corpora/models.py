import uuid

from django.conf import settings
from django.db import models


class Level(models.IntegerChoices):
    """Access levels shared by corpus and farm memberships."""

    GUEST = 10
    CONTRIBUTOR = 50
    ADMIN = 100


class Corpus(models.Model):
    """A collection of documents that worker processes run on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=250)
    public = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "corpora"
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class CorpusMembership(models.Model):
    """A user's access level on a corpus."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="corpus_memberships"
    )
    level = models.PositiveSmallIntegerField(choices=Level.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corpus", "user"], name="unique_corpus_membership")
        ]

    def __str__(self):
        return f"{self.user} on {self.corpus}: {self.level}"
