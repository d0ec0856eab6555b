from django.urls import path

from apps.notifications.api import views
from apps.shared import api as _converters  # noqa: F401 - registers uuid_str

urlpatterns = [
    path("notifications/", views.InboxApi.as_view(), name="notifications"),
    path(
        "notifications/unread-count/", views.UnreadCountApi.as_view(), name="notifications-unread"
    ),
    path(
        "notifications/read-all/",
        views.NotificationReadAllApi.as_view(),
        name="notifications-read-all",
    ),
    path(
        "notifications/<uuid_str:notification_id>/read/",
        views.NotificationReadApi.as_view(),
        name="notification-read",
    ),
]
