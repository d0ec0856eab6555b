"""A real browser (Debian's chromium, driven by Playwright: no browser download) on the app's
pages, served by a live server on this run's isolated servers. Every page is watched: a console
error, a failed request or a request to another host fails the test; a failing test leaves a
screenshot in BROWSER_ARTIFACTS (default `.browser-artifacts/`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

# Playwright's sync API runs an event loop in this thread; the ORM calls of the fixtures are
# still plain synchronous calls between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ".browser-artifacts"))
PASSWORD = "correct horse battery staple"


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    if os.environ.get("BROWSER_REQUIRED"):  # make test-browser installs it first
        pytest.fail("chromium is not installed: apt-get install chromium")
    pytest.skip("chromium is not installed: make test-browser installs it and runs these")


@pytest.fixture(autouse=True, scope="session")
def _servers(isolated_servers: None) -> None:
    """The browser's pages read this run's isolated vhost, topics and key prefix."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page and what went wrong on it."""

    page: Any
    host: str
    problems: list[str] = field(default_factory=list)

    def clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Watched]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    watched = Watched(tab, urlsplit(live_server.url).netloc)

    def on_request(req: Any) -> None:
        where = urlsplit(req.url)
        if where.scheme in ("http", "https", "ws", "wss") and where.netloc != watched.host:
            watched.problems.append(f"request to another host: {req.url}")

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and not getattr(request.node, "expect_errors", False):
            watched.problems.append(f"{resp.status} for {resp.url}")

    tab.on("request", on_request)
    tab.on("response", on_response)
    tab.on("requestfailed", lambda req: watched.problems.append(f"failed: {req.url}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            watched.problems.append(f"console: {msg.text} ({msg.location.get('url')})")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
    yield watched
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
    context.close()


@pytest.fixture
def admin_login(transactional_db: None) -> tuple[str, str]:
    email = "operator@example.com"
    call_command("create_admin", email=email, password=PASSWORD, stdout=StringIO())
    return email, PASSWORD


def log_in(page: Any, email: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
