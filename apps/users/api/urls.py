from django.urls import path

from apps.shared import api as _converters  # noqa: F401 - registers uuid_str
from apps.users.api import views

urlpatterns = [
    path("profiles/me/", views.ProfileMeApi.as_view(), name="profile-me"),
    path("profiles/me/preferences/", views.PreferencesApi.as_view(), name="profile-preferences"),
    path("profiles/me/watchlist/", views.WatchlistApi.as_view(), name="profile-watch"),
    path(
        "profiles/me/watchlist/<uuid_str:product_id>/",
        views.WatchlistItemApi.as_view(),
        name="profile-unwatch",
    ),
    path(
        "profiles/<uuid_str:profile_id>/card/", views.ProfileCardApi.as_view(), name="profile-card"
    ),
    path("users/", views.UserDirectoryApi.as_view(), name="user-directory"),
]
