"""What the metrics count, against the running system (gunicorn with 2 workers, a Celery worker,
the follower and the relay, each counting into its own files and serving them):

- the web's `/metrics` counts every command by type and outcome, and every request by route,
  method and status, exactly as the clients saw them, across both gunicorn workers;
- the relay counts every event it published, the read models and reactions every event they
  applied, once (the follower and catch-up tasks together), equal to what the store holds;
- the worker counts the Celery tasks it ran."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from eventstore.models import StoredEvent
from projections import registry
from tests.e2e.test_shop import a_staff_member, an_admin, client_for, create_product
from tests.support.http import Http, Reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def everywhere(http: Http, name: str, **labels: str) -> float:
    return sum(total(scrape(url), name, **labels) for url in http.metrics.values())


def counted_and_held(http: Http) -> dict[str, tuple[float, int]]:
    """For each count down the pipeline: (what the processes counted, what the store holds)."""
    events = list(StoredEvent.objects.values_list("event_type", flat=True))
    scraped = [scrape(url) for url in http.metrics.values()]

    def counted(name: str, **labels: str) -> float:
        return sum(total(samples, name, **labels) for samples in scraped)

    found = {"relay published": (counted("relay_batch_events_sum"), len(events))}
    for name, projection in registry.projections().items():
        relevant = sum(1 for t in events if projection.handles_type(t))
        applied = counted("projection_events_applied_total", projection=name, mode="live")
        timed = counted("projection_commit_to_applied_seconds_count", projection=name)
        found[f"{name} applied"] = (applied, relevant)
        found[f"{name} latencies"] = (timed, relevant)
    for name, reaction in registry.reactions().items():
        relevant = sum(1 for t in events if t in reaction.event_types)
        found[f"{name} decided"] = (
            counted("reaction_events_applied_total", reaction=name),
            relevant,
        )
    return found


def eventually_equal(http: Http) -> None:
    """Every count reaches what the store holds (reactions append events as they go), and a
    second later none has gone past it."""
    deadline = time.monotonic() + 60
    while True:
        found = counted_and_held(http)
        if all(c == h for c, h in found.values()):
            break
        if time.monotonic() > deadline:
            raise AssertionError({k: v for k, v in found.items() if v[0] != v[1]})
        time.sleep(0.3)
    time.sleep(1.0)
    found = counted_and_held(http)
    assert all(c == h for c, h in found.values()), found


def outcome(reply: Reply) -> str:
    if reply.status < 300:
        return "replayed" if reply.header("Idempotent-Replayed") == "true" else "ok"
    return str(reply.body["error"]["code"])


def test_commands_and_requests_are_counted_as_the_clients_saw_them(live_system: Http) -> None:
    staff = a_staff_member(live_system, an_admin(live_system))
    product = create_product(staff, stock=5)
    watcher = client_for(live_system, f"watcher-{uuid.uuid4().hex[:8]}@example.com")
    watcher.until(
        "the watcher's profile",
        lambda: watcher.post("/api/v1/profiles/me/watchlist/", {"product_id": product}),
        lambda reply: reply.status < 300,
    )
    before = scrape(live_system.metrics["web"])

    price = f"/api/v1/products/{product}/price/"
    reserve = f"/api/v1/products/{product}/reservations/"
    key = str(uuid.uuid4())
    Call = tuple[str, str, dict[str, object], dict[str, str]]
    no_headers: dict[str, str] = {}
    calls: list[Call] = [
        ("ChangePrice", price, {"price": f"{30 - i}.00", "currency": "EUR"}, no_headers)
        for i in range(12)
    ]
    calls += [("ChangePrice", price, {"price": "9.00", "currency": "EUR"}, {"If-Match": '"1"'})] * 4
    calls += [("ReserveStock", reserve, {"quantity": 1}, no_headers)] * 3
    calls += [("ReserveStock", reserve, {"quantity": 1000}, no_headers)] * 5
    calls += [
        ("ChangePrice", price, {"price": "8.00", "currency": "EUR"}, {"Idempotency-Key": key})
    ] * 3
    seen: Counter[tuple[str, str]] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()

    def send(batch: list[tuple[str, str, dict[str, object], dict[str, str]]]) -> None:
        for command, path, body, headers in batch:
            reply = staff.post(path, body, headers=headers)
            with lock:
                seen[command, outcome(reply)] += 1
                statuses[path, reply.status] += 1

    keyed = [c for c in calls if "Idempotency-Key" in c[3]]
    others = [c for c in calls if c not in keyed]
    threads = [threading.Thread(target=send, args=(others[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send(keyed)  # in order: the first is applied, the next two are replays
    assert seen["ChangePrice", "replayed"] == 2, seen
    assert seen["ChangePrice", "precondition_failed"] == 4, seen
    assert seen["ReserveStock", "insufficient_stock"] == 5, seen

    after = scrape(live_system.metrics["web"])
    for (command, result), count in seen.items():
        labels = {"command": command, "outcome": result}
        counted = total(after, "command_duration_seconds_count", **labels) - total(
            before, "command_duration_seconds_count", **labels
        )
        assert counted == count, (command, result, counted, count)
    for (path, status), count in statuses.items():
        route = (
            "/api/v1/products/<uuid_str:product_id>/" + path.rstrip("/").rsplit("/", 1)[-1] + "/"
        )
        labels = {"route": route, "method": "POST", "status": str(status)}
        counted = total(after, "http_request_duration_seconds_count", **labels) - total(
            before, "http_request_duration_seconds_count", **labels
        )
        assert counted == count, (route, status, counted, count)

    # Down the pipeline: every event once, in every process together.
    eventually_equal(live_system)
    assert total(scrape(live_system.metrics["relay"]), "relay_active") == 1
    tasks = scrape(live_system.metrics["worker"])
    assert total(tasks, "celery_task_duration_seconds_count", outcome="succeeded") > 0
    assert total(tasks, "celery_task_duration_seconds_count", outcome="failed") == 0
