"""The operator's console in the admin (staff only; anyone else signed in gets a 403):

- `/admin/console/`: one row per read model, side effect and reaction: state, events per second,
  lag, ETA to caught up, last error and a lag chart of the last minutes (projections/console.py);
- `/admin/console/consumers/<name>/`: one consumer's partitions, who owns each, its chart, its
  dead letters, and a rebuild for a read model;
- `/admin/console/streams/`: the event store. Find a stream by its id (or the start of it), an
  event by its id, or every event of one correlation; list a stream's events with their metadata
  (actor, correlation, causation, a link to the trace) and show its aggregate's state as of any
  version or point in time (the repository's temporal load)."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.shared import bus
from eventstore.aggregate import Aggregate
from eventstore.events import EventEnvelope
from eventstore.models import StoredEvent
from eventstore.repository import AggregateNotFound
from eventstore.runtime import get_store
from projections import console, registry

PAGE = 200  # events per page of a stream
FOUND = 50  # streams listed for a search
SECRET = re.compile(r"password|secret|token|hash", re.IGNORECASE)
HIDDEN = "•••••• (hidden)"

View = Callable[..., HttpResponse]


def staff_only(view: View) -> View:
    """The admin's login for strangers; a 403 for a signed-in person who is not staff."""

    for_staff = admin.site.admin_view(view)

    def check(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not (user.is_active and user.is_staff):
            raise PermissionDenied("the console is for staff")
        return for_staff(request, *args, **kwargs)

    return check


def _page(
    request: HttpRequest, template: str, title: str, status: int = 200, **context: Any
) -> TemplateResponse:
    return TemplateResponse(
        request,
        f"admin/console/{template}",
        {**admin.site.each_context(request), "title": title, **context},
        status=status,
    )


# ---------------------------------------------------------------- consumers


def chart(samples: list[console.Sample], width: int = 120, height: int = 24) -> SafeString:
    """The lag over the samples as an inline SVG line (no script, nothing fetched)."""
    if len(samples) < 2:
        return format_html('<span class="quiet">{}</span>', "no history yet")
    start, end = samples[0].at, samples[-1].at
    top = max(s.lag for s in samples) or 1
    span = (end - start) or 1.0
    points = " ".join(
        f"{(s.at - start) / span * width:.1f},{height - 1 - s.lag / top * (height - 2):.1f}"
        for s in samples
    )
    return format_html(
        '<svg class="lag-chart" role="img" width="{}" height="{}" viewBox="0 0 {} {}">'
        "<title>{}</title>"
        '<polyline fill="none" stroke="#417690" stroke-width="1.5" points="{}"/></svg>',
        width,
        height,
        width,
        height,
        f"lag over {round(span)} s: max {max(s.lag for s in samples)}, now {samples[-1].lag}",
        points,
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return "< 1 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _row(consumer: console.Consumer, width: int = 120, height: int = 24) -> dict[str, Any]:
    if consumer.lag == 0:
        eta = "caught up"
    elif consumer.eta_seconds is not None:
        eta = _duration(consumer.eta_seconds)
    else:
        eta = "not falling"
    return {
        "c": consumer,
        "rate": "" if consumer.rate is None else f"{consumer.rate:.1f}",
        "eta": eta,
        "chart": chart(consumer.samples, width, height),
        "url": reverse("console-consumer", args=[consumer.name]),
    }


def consumers_view(request: HttpRequest) -> HttpResponse:
    rows = [_row(c) for c in console.overview()]
    return _page(
        request,
        "consumers.html",
        "Operator console",
        rows=rows,
        sample_seconds=settings.CONSOLE_SAMPLE_SECONDS,
        history_minutes=round(settings.CONSOLE_HISTORY_SECONDS / 60),
    )


def consumer_view(request: HttpRequest, name: str) -> HttpResponse:
    if request.method == "POST":
        return _rebuild(request, name)
    found = console.overview(name)
    if not found:
        return _page(request, "missing.html", "No such consumer", status=404, what=name)
    consumer = found[0]
    return _page(
        request,
        "consumer.html",
        f"{consumer.name} ({consumer.kind})",
        row=_row(consumer, 720, 160),
        c=consumer,
        rebuildable=consumer.name in registry.projections(),
        dead_letters_url=(
            reverse("admin:projections_deadletter_changelist")
            + f"?projection__exact={consumer.name}"
        ),
    )


def _rebuild(request: HttpRequest, name: str) -> HttpResponse:
    from projections.tasks import rebuild

    user = request.user
    if not (user.is_superuser or user.has_perm("projections.change_checkpoint")):
        raise PermissionDenied("only administrators may rebuild read models")
    if name not in registry.projections():
        messages.error(request, f"{name} is not a read model: only read models are rebuilt")
    else:
        rebuild.delay(name)
        messages.success(request, f"rebuild of {name} queued")
    return HttpResponseRedirect(reverse("console-consumer", args=[name]))


# ---------------------------------------------------------------- streams


def aggregate_types() -> dict[str, type[Aggregate]]:
    found: dict[str, type[Aggregate]] = {}
    todo = list(Aggregate.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        stream_type = getattr(cls, "stream_type", "")
        if stream_type and stream_type not in found:
            found[stream_type] = cls
    return found


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: HIDDEN if SECRET.search(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _shown(value: Any) -> str:
    return json.dumps(_masked(value), default=str, ensure_ascii=False, indent=1)


def _trace_url(envelope: EventEnvelope) -> str:
    parts = (envelope.trace_context or "").split("-")
    template = settings.CONSOLE_TRACE_URL
    if len(parts) != 4 or not template:
        return ""
    return str(template.replace("{trace_id}", parts[1]))


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _stream_url(stream_id: str) -> str:
    return f"{reverse('console-streams')}?{urlencode({'stream': stream_id})}"


def streams_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    stream = request.GET.get("stream", "").strip()
    if stream:
        return _stream(request, stream)
    if not query:
        return _page(request, "streams.html", "Event streams", query="")
    if StoredEvent.objects.filter(stream_id=query).exists():
        return HttpResponseRedirect(_stream_url(query))
    events: list[StoredEvent] = []
    wanted = _as_uuid(query)
    if wanted is not None:
        one = StoredEvent.objects.filter(event_id=wanted).first()
        if one is not None:
            return HttpResponseRedirect(f"{_stream_url(one.stream_id)}#v{one.stream_version}")
        events = list(
            StoredEvent.objects.filter(Q(correlation_id=wanted) | Q(causation_id=wanted))
            .order_by("position")
            .defer("payload")[:PAGE]
        )
    streams = list(
        StoredEvent.objects.filter(stream_id__startswith=query, stream_version=1)
        .order_by("-position")
        .values_list("stream_id", "stream_type", "recorded_at")[:FOUND]
    )
    return _page(
        request,
        "streams.html",
        "Event streams",
        query=query,
        streams=streams,
        related=events,
        searched=True,
    )


def _stream(request: HttpRequest, stream_id: str) -> HttpResponse:
    store = get_store()
    version_now = store.version(stream_id)
    if version_now == 0:
        return _page(request, "missing.html", "No such stream", status=404, what=stream_id)
    errors: list[str] = []
    at_version = _version(request.GET.get("version", ""), version_now, errors)
    at_time = _time(request.GET.get("at", ""), errors)
    before = _version(request.GET.get("before", ""), version_now + 1, errors)
    if errors:
        return _page(
            request,
            "stream.html",
            f"Stream {stream_id}",
            status=400,
            stream_id=stream_id,
            errors=errors,
            version_now=version_now,
        )
    last = (before - 1) if before else version_now
    first = max(1, last - PAGE + 1)
    envelopes = store.read(stream_id, from_version=first, to_version=last)
    rows = [
        {
            "e": e,
            "data": _shown(dataclasses.asdict(e.payload)),
            "trace_url": _trace_url(e),
            "trace_id": (e.trace_context or "").split("-")[1]
            if (e.trace_context or "").count("-") == 3
            else "",
        }
        for e in reversed(envelopes)
    ]
    state, state_error, state_version = _state(envelopes, stream_id, at_version, at_time)
    return _page(
        request,
        "stream.html",
        f"Stream {stream_id}",
        stream_id=stream_id,
        stream_type=envelopes[0].stream_type if envelopes else "",
        version_now=version_now,
        rows=rows,
        older=first - 1 if first > 1 else None,
        at_version=at_version,
        at_time=request.GET.get("at", ""),
        state=state,
        state_error=state_error,
        state_version=state_version,
    )


def _version(raw: str, highest: int, errors: list[str]) -> int | None:
    if not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"version must be a whole number, not {raw!r}")
        return None
    if not 1 <= value <= highest:
        errors.append(f"version must be between 1 and {highest}, not {value}")
        return None
    return value


def _time(raw: str, errors: list[str]) -> datetime | None:
    if not raw.strip():
        return None
    try:
        parsed = parse_datetime(raw.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors.append(f"time must look like 2026-12-01T10:30 (ISO 8601), not {raw!r}")
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


def _state(
    envelopes: list[EventEnvelope],
    stream_id: str,
    at_version: int | None,
    at_time: datetime | None,
) -> tuple[str, str, int | None]:
    """The aggregate's state fields as of the version or time asked (now by default)."""
    stream_type = envelopes[0].stream_type if envelopes else ""
    cls = aggregate_types().get(stream_type)
    if cls is None:
        return "", f"no aggregate type is known for streams of type {stream_type!r}", None
    try:
        aggregate = (
            bus.current().repository(cls).load(stream_id, at_version=at_version, at_time=at_time)
        )
    except AggregateNotFound:
        return "", "the stream had no events yet at that time", None
    fields = {name: getattr(aggregate, name, None) for name in cls.state_fields()}
    return _shown(_plain(fields)), "", aggregate.version


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


urlpatterns = [
    path("", staff_only(consumers_view), name="console"),
    path("consumers/<str:name>/", staff_only(consumer_view), name="console-consumer"),
    path("streams/", staff_only(streams_view), name="console-streams"),
]
