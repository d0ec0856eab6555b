"""The accounts API: one class per operation; views parse, call a service, answer."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import commands as c
from apps.accounts import queries
from apps.accounts.events import ROLES
from apps.accounts.login import log_in
from apps.accounts.models import AccountRecord
from apps.accounts.public import IsAdmin, IsAuthenticatedAccount, IsStaff, is_admin, is_staff
from apps.shared.api import (
    COMMAND_RESULT,
    InputSerializer,
    command_response,
    context,
    strict,
    strict_data,
)
from apps.shared.bus import dispatch


class Password(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=128, trim_whitespace=False, **kwargs)


class AccountOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.CharField(source="account_id")

    class Meta:
        model = AccountRecord
        fields = ("id", "email", "roles", "locked", "version", "registered_at")


def _check_password(password: str, email: str = "") -> None:
    user = get_user_model()(email=email)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError({"password": list(exc.messages)}) from None


def _record(account_id: str) -> AccountRecord:
    record = queries.account(account_id)
    if record is None:
        from django.http import Http404

        raise Http404
    return record


def _owner_or(request: Request, account_id: str, allowed: bool) -> None:
    if request.user.username != account_id and not allowed:
        raise PermissionDenied("you may only act on your own account")


class PublicApi(APIView):
    """Open to anyone, with no authentication of the request."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'  # a failed login or refresh is a 401, not a 403


class AccountRegisterApi(PublicApi):
    conditional = False  # a new account has no version to match

    class Input(InputSerializer):
        email = serializers.EmailField(max_length=254)
        password = Password()

        example = {"email": "ada@example.com", "password": "correct horse battery staple"}

    @extend_schema(request=Input, responses={201: COMMAND_RESULT}, summary="Register an account")
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        _check_password(data["password"], data["email"])
        ctx = context(request, conditional=False)
        result = dispatch(c.RegisterAccount(data["email"], data["password"]), ctx)
        location = reverse("account-detail", args=[result.stream_id])
        return command_response(result, created=True, location=location)


class LoginApi(PublicApi):
    errors = (403, 429)  # a locked account; too many attempts

    class Input(InputSerializer):
        email = serializers.CharField(max_length=254)
        password = Password()

        example = {"email": "ada@example.com", "password": "correct horse battery staple"}

    @extend_schema(
        request=Input,
        responses={
            200: inline_serializer(
                "Tokens",
                {
                    "access": serializers.CharField(),
                    "refresh": serializers.CharField(),
                    "account_id": serializers.CharField(),
                },
            )
        },
        summary="Log in: a JWT access and refresh token pair",
    )
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        login = log_in(request._request, email=data["email"], password=data["password"])
        refresh = RefreshToken.for_user(login.user)
        return Response(
            {
                "access": str(refresh.access_token),
                "refresh": str(refresh),
                "account_id": login.user.username,
            }
        )


class SafeRefreshSerializer(TokenRefreshSerializer):
    example = {"refresh": "<the refresh token from /auth/token/>"}

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise AuthenticationFailed("the account no longer exists") from None


class TokenRefreshApi(PublicApi):
    @extend_schema(
        request=SafeRefreshSerializer,
        responses={200: SafeRefreshSerializer},
        summary="Trade a refresh token for a new pair (the old one is blacklisted)",
    )
    def post(self, request: Request) -> Response:
        serializer = SafeRefreshSerializer(data=strict_data(SafeRefreshSerializer, request))
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        return Response(serializer.validated_data)


class LogoutApi(APIView):
    permission_classes = [IsAuthenticatedAccount]

    class Input(InputSerializer):
        refresh = serializers.CharField(max_length=2000)

        example = {"refresh": "<the refresh token from /auth/token/>"}

    @extend_schema(request=Input, responses={204: None}, summary="Log out: blacklist the token")
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        try:
            token = RefreshToken(data["refresh"])
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        if str(token.get("account_id")) != request.user.username:
            raise PermissionDenied("that refresh token is not yours")
        token.blacklist()
        return Response(status=204)


class AccountMeApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    etag = True
    errors = (404,)  # erased

    @extend_schema(responses={200: AccountOutput}, summary="The caller's account")
    def get(self, request: Request) -> Response:
        return _account_response(_record(request.user.username))


def _account_response(record: AccountRecord) -> Response:
    response = Response(AccountOutput(record).data)
    response["ETag"] = f'"{record.version}"'
    return response


class AccountDetailApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    etag = True

    @extend_schema(responses={200: AccountOutput}, summary="An account (owner or staff)")
    def get(self, request: Request, account_id: str) -> Response:
        _owner_or(request, account_id, is_staff(request.user))
        return _account_response(_record(account_id))


class PasswordChangeApi(APIView):
    permission_classes = [IsAuthenticatedAccount]

    errors = (410,)

    class Input(InputSerializer):
        old_password = Password()
        new_password = Password()

        example = {
            "old_password": "correct horse battery staple",
            "new_password": "a longer and newer passphrase",
        }

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Change my password")
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        try:
            validate_password(data["new_password"], request.user)  # type: ignore[arg-type]
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password": list(exc.messages)}) from None
        command = c.ChangePassword(
            request.user.username, data["old_password"], data["new_password"]
        )
        result = dispatch(command, context(request))
        return command_response(result)


class RoleGrantApi(APIView):
    permission_classes = [IsAdmin]
    errors = (410,)

    class Input(InputSerializer):
        role = serializers.ChoiceField(choices=ROLES)

        example = {"role": "staff"}

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Grant a role (admin)")
    def post(self, request: Request, account_id: str) -> Response:
        data = strict(self.Input, request)
        result = dispatch(c.GrantRole(account_id, data["role"]), context(request))
        return command_response(result)


class RoleRevokeApi(APIView):
    permission_classes = [IsAdmin]
    errors = (410,)

    @extend_schema(responses={200: COMMAND_RESULT}, summary="Revoke a role (admin)")
    def delete(self, request: Request, account_id: str, role: str) -> Response:
        result = dispatch(c.RevokeRole(account_id, role), context(request))
        return command_response(result)


class AccountLockApi(APIView):
    permission_classes = [IsStaff]
    errors = (410,)

    class Input(InputSerializer):
        reason = serializers.CharField(max_length=200)

        example = {"reason": "chargeback under review"}

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Lock (staff)")
    def post(self, request: Request, account_id: str) -> Response:
        data = strict(self.Input, request)
        result = dispatch(c.LockAccount(account_id, data["reason"]), context(request))
        return command_response(result)


class AccountUnlockApi(APIView):
    permission_classes = [IsStaff]
    errors = (410,)

    @extend_schema(request=None, responses={200: COMMAND_RESULT}, summary="Unlock (staff)")
    def post(self, request: Request, account_id: str) -> Response:
        result = dispatch(c.UnlockAccount(account_id), context(request))
        return command_response(result)


class AccountEraseApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    errors = (410,)

    @extend_schema(
        request=None,
        responses={200: COMMAND_RESULT},
        summary="Erase an account and its personal data (owner or admin)",
    )
    def post(self, request: Request, account_id: str) -> Response:
        _owner_or(request, account_id, is_admin(request.user))
        result = dispatch(c.EraseAccount(account_id), context(request))
        return command_response(result)
