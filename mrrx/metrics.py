"""Prometheus metrics: what every process counts, and ``GET /metrics``.

prometheus-client runs in multiprocess mode: each process (every gunicorn worker, every
Celery worker and pool child) writes its counts to files of its own in
``PROMETHEUS_MULTIPROC_DIR``, and a scrape of any web worker adds up the whole
directory. So a session completed in a Celery worker shows on the web's ``/metrics``.
The directory is emptied by whatever starts the processes (``make run``, the Procfile's
release step, ``deploy/systemd``), never by a process itself, which would erase the
others' counts.

Only counters and histograms live in those files. Gauges (queue depths, the oldest due
delivery) are read at scrape time by collectors that the layers above register here
(``scrape_collector_register``), as ``dashboard`` does at start-up.

Labels never carry anything a caller chose: HTTP requests are labelled with the URL
pattern they matched, never the path (hosted-flow paths carry a session's token).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if not values.ValueClass._multiprocess:
    # prometheus-client picks its mode once, at its import: imported before the settings
    # set PROMETHEUS_MULTIPROC_DIR, each process would count only for itself, unseen.
    raise ImproperlyConfigured(
        "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
        "import it only after Django's settings are loaded."
    )

_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "mrrx_http_requests",
    "HTTP requests answered, by the URL pattern matched (never the path), method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "mrrx_http_request_duration_seconds",
    "Time from the first middleware to the response, by URL pattern and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SESSIONS_CREATED = Counter(
    "mrrx_sessions_created",
    "Cancellation sessions started, by source (flow, api) and mode (live, test).",
    ["source", "mode"],
)
SESSIONS_COMPLETED = Counter(
    "mrrx_sessions_completed",
    "Sessions whose action Stripe carried out, by outcome (the action), source and mode.",
    ["outcome", "source", "mode"],
)
SESSIONS_FAILED = Counter(
    "mrrx_sessions_failed",
    "Sessions whose action failed for good, by source and mode.",
    ["source", "mode"],
)
STRIPE_CALLS = Counter(
    "mrrx_stripe_calls",
    "Calls to Stripe by operation and result: ok, or Stripe's error code "
    "(connection_error, or http_<status> when Stripe gave none).",
    ["operation", "result"],
)
STRIPE_CALL_DURATION = Histogram(
    "mrrx_stripe_call_duration_seconds",
    "Time of each call to Stripe, by operation.",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0),
)
WEBHOOK_ATTEMPTS = Counter(
    "mrrx_webhook_attempts",
    "Webhook delivery attempts by result: the receiver's status class (2xx, 3xx, 4xx, 5xx) "
    "or no_response (timeout, connection error, refused address).",
    ["result"],
)
WEBHOOK_ATTEMPT_DURATION = Histogram(
    "mrrx_webhook_attempt_duration_seconds",
    "Time of each webhook delivery attempt, by result.",
    ["result"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
)


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def record_http_request(*, request: HttpRequest, status: int, seconds: float) -> None:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        route = match.route
    elif request.path.startswith(settings.STATIC_URL):
        route = "static"  # answered by WhiteNoise, before any URL pattern is tried
    else:
        route = "unmatched"
    # Django answers any method name a client sends; only the real ones become labels.
    method = request.method if request.method in _HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_REQUEST_DURATION.labels(route, method).observe(seconds)


def record_session_created(*, source: str, livemode: bool) -> None:
    SESSIONS_CREATED.labels(source, _mode(livemode)).inc()


def record_session_completed(*, outcome: str, source: str, livemode: bool) -> None:
    SESSIONS_COMPLETED.labels(outcome, source, _mode(livemode)).inc()


def record_session_failed(*, source: str, livemode: bool) -> None:
    SESSIONS_FAILED.labels(source, _mode(livemode)).inc()


def record_stripe_call(*, operation: str, result: str, seconds: float) -> None:
    STRIPE_CALLS.labels(operation, result).inc()
    STRIPE_CALL_DURATION.labels(operation).observe(seconds)


def record_webhook_attempt(*, status_code: int | None, seconds: float) -> None:
    result = f"{status_code // 100}xx" if status_code is not None else "no_response"
    WEBHOOK_ATTEMPTS.labels(result).inc()
    WEBHOOK_ATTEMPT_DURATION.labels(result).observe(seconds)


_scrape_collectors: dict[str, Collector] = {}


def scrape_collector_register(name: str, collector: Collector) -> None:
    """Add ``collector``'s metrics to every scrape, read when the scrape asks.

    For what only a layer above knows (the broker's queues, the webhook backlog); the
    name keeps a second registration of the same collector from doubling it.
    """
    _scrape_collectors[name] = collector


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: every process's counts in Prometheus' text format.

    Off (404) unless ``METRICS_TOKEN`` is set; then only for ``Authorization: Bearer
    <METRICS_TOKEN>``.
    """
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not _authorized(request, token):
        response = HttpResponse(
            "A valid bearer token is required.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in _scrape_collectors.values():
        registry.register(collector)
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
