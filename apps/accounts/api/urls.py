from django.urls import path

from apps.accounts.api import views
from apps.shared import api as _converters  # noqa: F401 - registers uuid_str

urlpatterns = [
    path("accounts/", views.AccountRegisterApi.as_view(), name="account-register"),
    path("accounts/me/", views.AccountMeApi.as_view(), name="account-me"),
    path("accounts/me/password/", views.PasswordChangeApi.as_view(), name="account-password"),
    path(
        "accounts/<uuid_str:account_id>/", views.AccountDetailApi.as_view(), name="account-detail"
    ),
    path(
        "accounts/<uuid_str:account_id>/roles/",
        views.RoleGrantApi.as_view(),
        name="account-role-grant",
    ),
    path(
        "accounts/<uuid_str:account_id>/roles/<str:role>/",
        views.RoleRevokeApi.as_view(),
        name="account-role-revoke",
    ),
    path(
        "accounts/<uuid_str:account_id>/lock/", views.AccountLockApi.as_view(), name="account-lock"
    ),
    path(
        "accounts/<uuid_str:account_id>/unlock/",
        views.AccountUnlockApi.as_view(),
        name="account-unlock",
    ),
    path(
        "accounts/<uuid_str:account_id>/erase/",
        views.AccountEraseApi.as_view(),
        name="account-erase",
    ),
    path("auth/token/", views.LoginApi.as_view(), name="auth-token"),
    path("auth/token/refresh/", views.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout/", views.LogoutApi.as_view(), name="auth-logout"),
]
