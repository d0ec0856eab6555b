"""The OpenAPI schema is generated without a warning and documents every API endpoint."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command


def test_the_schema_validates_without_warnings_and_lists_the_module_endpoints(
    tmp_path: Path,
) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    for path in (
        "/api/v1/accounts/",
        "/api/v1/auth/token/",
        "/api/v1/accounts/{account_id}/erase/",
        "/api/v1/profiles/me/",
        "/api/v1/users/",
    ):
        assert path in paths, f"{path} missing from the schema"
