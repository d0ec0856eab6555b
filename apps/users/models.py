"""Tables of the users read models. Only the projections in read_models.py write them (the
engine empties and rebuilds them on replay); the API reads them."""

from __future__ import annotations

from django.db import models


class ProfileView(models.Model):
    """The owner's own profile (users.profiles)."""

    profile_id = models.CharField(primary_key=True, max_length=64)
    display_name = models.TextField(blank=True)
    bio = models.TextField(blank=True)
    locale = models.CharField(max_length=16)
    time_zone = models.CharField(max_length=64)
    avatar_url = models.TextField(blank=True)
    kinds = models.JSONField(default=list)
    channels = models.JSONField(default=list)
    watchlist = models.JSONField(default=list)
    version = models.IntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "users_profile"
        verbose_name = "profile"

    def __str__(self) -> str:
        return self.display_name or self.profile_id


class DirectoryEntry(models.Model):
    """The staff user directory (users.directory), built from accounts and users events. An
    erased person leaves a tombstone without personal data, so a late event of theirs (the two
    topics are applied independently) cannot bring a row back."""

    account_id = models.CharField(primary_key=True, max_length=64)
    email = models.CharField(max_length=254, blank=True)
    display_name = models.TextField(blank=True)
    roles = models.JSONField(default=list)
    locked = models.BooleanField(default=False)
    erased = models.BooleanField(default=False)
    registered_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "users_directory"
        verbose_name = "directory entry"
        verbose_name_plural = "user directory"
        indexes = [
            models.Index(fields=["registered_at", "account_id"]),
            models.Index(fields=["display_name", "account_id"]),
            models.Index(fields=["email", "account_id"]),
        ]

    def __str__(self) -> str:
        return self.email or self.account_id
