"""Reads of the users module's read models, for its API: profiles and the directory in
Postgres, public cards in Redis."""

from __future__ import annotations

from django.db.models import QuerySet
from django_redis import get_redis_connection

from apps.users.models import DirectoryEntry, ProfileView
from apps.users.read_models import ProfileCards


def profile(profile_id: str) -> ProfileView | None:
    return ProfileView.objects.filter(profile_id=profile_id).first()


def card(profile_id: str) -> dict[str, str] | None:
    """A public profile card; None when there is none."""
    raw = get_redis_connection("default").hgetall(ProfileCards.live().key("card", profile_id))
    return {k.decode(): v.decode() for k, v in raw.items()} if raw else None


def directory() -> QuerySet[DirectoryEntry]:
    """Every registered person not erased (for staff)."""
    return DirectoryEntry.objects.filter(erased=False, registered_at__isnull=False)
