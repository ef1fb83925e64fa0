"""The gateway's Prometheus metrics, as one facade the request path calls.

Names and labels follow the original's exposition, so dashboards and alerts
written for it keep working. Each event is one method call that finds its
pre-bound series in a small dict cache: after the first request of a kind, an
update allocates nothing and resolves no labels. State that already exists
elsewhere (worker load, health, breaker state, open connections) is read at
scrape time instead of being mirrored on every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from time import perf_counter

from smg.config import DEFAULT_DURATION_BUCKETS
from smg.observability.instruments import (
    CounterChild,
    CounterFamily,
    GaugeFamily,
    HistogramChild,
    HistogramFamily,
    InstrumentCollector,
    SampledFamily,
)
from smg.observability.labels import (
    DEFAULT_LABEL_CAP,
    OTHER,
    UNKNOWN,
    LabelCap,
    endpoint_label,
    method_label,
)
from smg.observability.worker_gauges import WorkerSource, worker_families

BACKOFF_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

ROUTER_TYPE = "http"
BACKEND_TYPE = "regular"
CONNECTION_MODE = "http"
WORKER_TYPE = "regular"
_ROUTER = (ROUTER_TYPE, BACKEND_TYPE, CONNECTION_MODE)
_BOOL = {False: "false", True: "true"}

CountSource = Callable[[], int]
# (model, indexed characters) of each cache-aware policy, read when scraped.
TreeSizeSource = Callable[[], Iterable[tuple[str, int]]]


class _HttpSeries:
    """The HTTP series of one (path, method); responses are shared per path."""

    __slots__ = ("duration", "label", "requests", "responses")

    def __init__(
        self,
        label: str,
        requests: CounterChild,
        duration: HistogramChild,
        responses: dict[int, dict[str, CounterChild]],
    ) -> None:
        self.label = label
        self.requests = requests
        self.duration = duration
        self.responses = responses


class _RouteSeries:
    """The router series of one (endpoint, model) pair."""

    __slots__ = ("chunks", "duration", "errors", "label", "requests", "ttft")

    def __init__(self, metrics: GatewayMetrics, endpoint: str, model: str) -> None:
        route = (*_ROUTER, model, endpoint)
        self.label = route
        self.requests = (
            metrics.router_requests.labels(*route, "false"),
            metrics.router_requests.labels(*route, "true"),
        )
        self.duration = metrics.router_duration.labels(*route)
        self.ttft = metrics.router_ttft.labels(
            ROUTER_TYPE, BACKEND_TYPE, model, endpoint
        )
        self.chunks = metrics.stream_chunks.labels(ROUTER_TYPE, model, endpoint)
        self.errors: dict[str, CounterChild] = {}


class GatewayMetrics:
    """Every metric the gateway exports, and one method per event that moves them.

    Model names come from clients, so at most `label_cap` distinct ones get
    their own series; the rest are reported as `other`. Call only from the
    event-loop thread (see `instruments`).
    """

    def __init__(
        self,
        duration_buckets: Sequence[float] = DEFAULT_DURATION_BUCKETS,
        label_cap: int = DEFAULT_LABEL_CAP,
    ) -> None:
        self.collector = InstrumentCollector()
        self._declare_http(duration_buckets)
        self._declare_router(duration_buckets)
        self._declare_workers()
        self._declare_pd(duration_buckets)
        self._paths = LabelCap(label_cap)
        self._models = LabelCap(label_cap)
        self.inflight = 0
        self._http: dict[str, dict[str, _HttpSeries]] = {}
        self._responses: dict[str, dict[int, dict[str, CounterChild]]] = {}
        self._routes: dict[str, dict[str | None, _RouteSeries]] = {}
        self._upstream: dict[int, dict[str, CounterChild]] = {}
        self._selections: dict[str | None, dict[str, CounterChild]] = {}
        self._decisions: dict[tuple[str, str, str], CounterChild] = {}
        self._stages: dict[str, HistogramChild] = {}
        self._outcomes: dict[str, tuple[CounterChild, CounterChild]] = {}
        self._send_retries = self.router_send_retries.labels(ROUTER_TYPE)
        self._connections: CountSource = lambda: 0
        self._queue_depth: CountSource = lambda: 0
        self._inflight_source: CountSource = lambda: self.inflight

    # Declarations

    def _declare_http(self, buckets: Sequence[float]) -> None:
        add = self.collector.add
        self.http_requests = CounterFamily(
            "smg_http_requests_total",
            "HTTP requests received, by method and route path",
            ("method", "path"),
        )
        self.http_duration = HistogramFamily(
            "smg_http_request_duration_seconds",
            "Time from request received to response complete, by method and path",
            ("method", "path"),
            buckets,
        )
        self.http_responses = CounterFamily(
            "smg_http_responses_total",
            "HTTP responses sent, by path, status code and gateway error code",
            ("path", "status_code", "error_code"),
        )
        self.admission_rejected_total = CounterFamily(
            "smg_admission_queue_rejected_total",
            "Requests refused by admission control, by reason",
            ("reason",),
        )
        for family in (
            self.http_requests,
            self.http_duration,
            self.http_responses,
            self.admission_rejected_total,
        ):
            add(family)
        add(
            _gauge(
                "smg_http_connections_active",
                "Open client connections",
                lambda: self._connections(),
            )
        )
        add(
            _gauge(
                "smg_admission_inflight",
                "Requests being served now",
                lambda: self._inflight_source(),
            )
        )
        add(
            _gauge(
                "smg_admission_queue_depth",
                "Requests waiting for a slot",
                lambda: self._queue_depth(),
            )
        )

    def _declare_router(self, buckets: Sequence[float]) -> None:
        route = ("router_type", "backend_type", "connection_mode", "model", "endpoint")
        self.router_requests = CounterFamily(
            "smg_router_requests_total",
            "Routed requests; model is the served id, unknown when the request "
            "names none, other when the gateway does not serve it",
            (*route, "streaming"),
        )
        self.router_duration = HistogramFamily(
            "smg_router_request_duration_seconds",
            "Time from routing to the last byte relayed",
            route,
            buckets,
        )
        self.router_errors = CounterFamily(
            "smg_router_request_errors_total",
            "Routed requests that ended in an error, by error type",
            (*route, "error_type"),
        )
        self.upstream_responses = CounterFamily(
            "smg_router_upstream_responses_total",
            "Answers from workers (or minted by the router), by status code",
            ("router_type", "status_code", "error_code"),
        )
        self.router_send_retries = CounterFamily(
            "smg_router_upstream_send_retries_total",
            "Upstream attempts beyond the first",
            ("router_type",),
        )
        self.router_stage_duration = HistogramFamily(
            "smg_router_stage_duration_seconds",
            "Time spent in each stage of the request path",
            ("router_type", "stage"),
            buckets,
        )
        self.router_ttft = HistogramFamily(
            "smg_router_ttft_seconds",
            "Streamed requests: time from routing to the first chunk relayed",
            ("router_type", "backend_type", "model", "endpoint"),
            buckets,
        )
        self.stream_chunks = CounterFamily(
            "smg_router_stream_chunks_total",
            "Chunks relayed on streamed responses",
            ("router_type", "model", "endpoint"),
        )
        for family in (
            self.router_requests,
            self.router_duration,
            self.router_errors,
            self.upstream_responses,
            self.router_send_retries,
            self.router_stage_duration,
            self.router_ttft,
            self.stream_chunks,
        ):
            self.collector.add(family)

    def _declare_workers(self) -> None:
        self.worker_selection = CounterFamily(
            "smg_worker_selection_total",
            "Workers chosen by a policy",
            ("worker_type", "connection_mode", "model", "policy"),
        )
        # Beyond the original: why each worker was chosen (x-smg-explain's reason).
        self.routing_decisions = CounterFamily(
            "smg_routing_decisions_total",
            "Routing decisions, by policy and the reason for the choice",
            ("model", "policy", "reason"),
        )
        self.worker_errors = CounterFamily(
            "smg_worker_errors_total",
            "Failed upstream attempts, by error type",
            ("worker_type", "connection_mode", "error_type"),
        )
        self.health_checks = CounterFamily(
            "smg_worker_health_checks_total",
            "Health probes, by result",
            ("worker_type", "result"),
        )
        self.retries = CounterFamily(
            "smg_worker_retries_total",
            "Retried upstream attempts",
            ("worker_type", "endpoint"),
        )
        self.retries_exhausted = CounterFamily(
            "smg_worker_retries_exhausted_total",
            "Requests that failed after their last allowed attempt",
            ("worker_type", "endpoint"),
        )
        self.retry_backoff = HistogramFamily(
            "smg_worker_retry_backoff_seconds",
            "Backoff slept before a retry, by attempt number",
            ("attempt",),
            BACKOFF_BUCKETS,
        )
        self.cb_transitions = CounterFamily(
            "smg_worker_cb_transitions_total",
            "Circuit breaker state changes",
            ("worker", "from", "to"),
        )
        self.cb_outcomes = CounterFamily(
            "smg_worker_cb_outcomes_total",
            "Attempt outcomes fed to circuit breakers",
            ("worker", "outcome"),
        )
        self.engine_polls = CounterFamily(
            "smg_engine_load_polls_total", "Worker load polls", ("worker", "mode")
        )
        engine = ("worker", "model", "dp_rank")
        self.engine_running = GaugeFamily(
            "smg_engine_running_requests", "Requests running on the engine", engine
        )
        self.engine_waiting = GaugeFamily(
            "smg_engine_waiting_requests", "Requests queued on the engine", engine
        )
        self.engine_token_usage = GaugeFamily(
            "smg_engine_token_usage", "KV cache usage reported by the engine", engine
        )
        self.engine_throughput = GaugeFamily(
            "smg_engine_gen_throughput", "Generation tokens per second", engine
        )
        self.engine_cache_hit = GaugeFamily(
            "smg_engine_cache_hit_rate", "Prefix cache hit rate", engine
        )
        for family in (
            self.worker_selection,
            self.routing_decisions,
            self.worker_errors,
            self.health_checks,
            self.retries,
            self.retries_exhausted,
            self.retry_backoff,
            self.cb_transitions,
            self.cb_outcomes,
            self.engine_polls,
            self.engine_running,
            self.engine_waiting,
            self.engine_token_usage,
            self.engine_throughput,
            self.engine_cache_hit,
        ):
            self.collector.add(family)

    # Scrape-time sources

    def watch_workers(self, workers: WorkerSource) -> None:
        """Export pool size, per-worker load, health and breaker state of `workers`."""
        for family in worker_families(workers):
            self.collector.add(family)

    def watch_cache_trees(self, sizes: TreeSizeSource) -> None:
        """Export the characters each model's cache-aware index holds."""

        def sample() -> list[tuple[Sequence[str], float]]:
            return [((self._models(model),), float(n)) for model, n in sizes()]

        self.collector.add(
            SampledFamily(
                "gauge",
                "smg_cache_tree_chars",
                "Characters held by a cache-aware tree",
                ("model",),
                sample,
            )
        )

    def watch_connections(self, count: CountSource) -> None:
        self._connections = count

    def watch_admission(self, inflight: CountSource, queue_depth: CountSource) -> None:
        """Read in-flight and queued counts from admission control when scraped.

        Until called, in-flight is the count kept by the http_request_* calls.
        """
        self._inflight_source = inflight
        self._queue_depth = queue_depth

    # HTTP layer

    def http_request_started(self, method: str, path: str | None) -> float:
        """Count a request; returns the start time `http_request_finished` wants.

        `path` is the matched route path, or None for a path nobody serves.
        """
        self.inflight += 1
        self._http_series(method, path).requests.value += 1
        return perf_counter()

    def http_request_finished(
        self,
        method: str,
        path: str | None,
        status: int,
        error_code: str,
        started_s: float,
    ) -> None:
        """Count the response once it has gone out.

        `error_code` is the gateway's own code ("" for none); it must come from
        the gateway's fixed set, never from a worker, to keep labels bounded.
        """
        elapsed_s = perf_counter() - started_s
        self.inflight -= 1
        series = self._http_series(method, path)
        series.duration.observe(elapsed_s)
        by_code = series.responses.get(status)
        child = None if by_code is None else by_code.get(error_code)
        if child is None:
            child = self.http_responses.labels(series.label, str(status), error_code)
            series.responses.setdefault(status, {})[error_code] = child
        child.value += 1

    def admission_rejected(self, reason: str) -> None:
        self.admission_rejected_total.labels(reason).inc()

    def _http_series(self, method: str, path: str | None) -> _HttpSeries:
        by_method = self._http.get(path or OTHER)
        if by_method is not None:
            series = by_method.get(method)
            if series is not None:
                return series
        label = self._path_label(path)
        method_value = method_label(method)
        series = _HttpSeries(
            label,
            self.http_requests.labels(method_value, label),
            self.http_duration.labels(method_value, label),
            self._responses.setdefault(label, {}),
        )
        # Values past a cap are not cached under their own key, so the cache
        # stays as bounded as the labels.
        if label == (path or OTHER) and method_value == method:
            self._http.setdefault(label, {})[method] = series
        return series

    def _path_label(self, path: str | None) -> str:
        return OTHER if path is None else self._paths(path)

    # Router

    def router_request_started(
        self, upstream_path: str, model: str | None, streaming: bool
    ) -> float:
        """Count a routed request; returns the start time for the calls below.

        `model` is the served (canonical) id, None when the request names no
        model, or `labels.OTHER` when no worker serves it.
        """
        self._route(upstream_path, model).requests[streaming].value += 1
        return perf_counter()

    def router_request_finished(
        self, upstream_path: str, model: str | None, started_s: float
    ) -> None:
        self._route(upstream_path, model).duration.observe(perf_counter() - started_s)

    def router_error(
        self, upstream_path: str, model: str | None, error_type: str
    ) -> None:
        """Count a routed request that failed: no_workers, backend_error, ..."""
        series = self._route(upstream_path, model)
        child = series.errors.get(error_type)
        if child is None:
            child = self.router_errors.labels(*series.label, error_type)
            series.errors[error_type] = child
        child.value += 1

    def stream_finished(
        self,
        upstream_path: str,
        model: str | None,
        started_s: float,
        first_chunk_s: float | None,
        chunks: int,
    ) -> None:
        """Record a relayed stream: its time to first chunk and its chunk count.

        `first_chunk_s` is the perf_counter() reading when the first chunk went
        out, None when none did.
        """
        series = self._route(upstream_path, model)
        if first_chunk_s is not None:
            series.ttft.observe(first_chunk_s - started_s)
        series.chunks.value += chunks

    def upstream_response(self, status: int, error_code: str = "") -> None:
        """Count a worker's answer (or the router's own, with its error code)."""
        by_code = self._upstream.get(status)
        if by_code is None:
            by_code = self._upstream[status] = {}
        child = by_code.get(error_code)
        if child is None:
            child = self.upstream_responses.labels(ROUTER_TYPE, str(status), error_code)
            by_code[error_code] = child
        child.value += 1

    def stage(self, stage: str, seconds: float) -> None:
        """Time one stage of the request path: route, upstream, relay."""
        child = self._stages.get(stage)
        if child is None:
            child = self.router_stage_duration.labels(ROUTER_TYPE, stage)
            self._stages[stage] = child
        child.observe(seconds)

    def _route(self, upstream_path: str, model: str | None) -> _RouteSeries:
        by_model = self._routes.get(upstream_path)
        if by_model is None:
            by_model = self._routes[upstream_path] = {}
        series = by_model.get(model)
        if series is None:
            label = UNKNOWN if model is None else self._models(model)
            series = _RouteSeries(self, endpoint_label(upstream_path), label)
            if label == (model or UNKNOWN):
                by_model[model] = series
        return series

    # Workers, retries, circuit breakers

    def worker_selected(self, model: str | None, policy: str) -> None:
        """Count a policy's choice; `model` as for `router_request_started`."""
        by_policy = self._selections.get(model)
        child = None if by_policy is None else by_policy.get(policy)
        if child is None:
            label = UNKNOWN if model is None else self._models(model)
            child = self.worker_selection.labels(
                WORKER_TYPE, CONNECTION_MODE, label, policy
            )
            if label == (model or UNKNOWN):
                self._selections.setdefault(model, {})[policy] = child
        child.value += 1

    def routing_decision(self, model: str, policy: str, reason: str) -> None:
        """Count a decision by its reason label (a policy's fixed set)."""
        key = (model, policy, reason)
        child = self._decisions.get(key)
        if child is None:
            label = self._models(model)
            child = self.routing_decisions.labels(label, policy, reason)
            if label == model:
                self._decisions[key] = child
        child.value += 1

    def worker_error(self, error_type: str) -> None:
        """Count a failed attempt: backend_error, timeout, connection_error."""
        self.worker_errors.labels(WORKER_TYPE, CONNECTION_MODE, error_type).inc()

    def health_check(self, success: bool) -> None:
        result = "success" if success else "failure"
        self.health_checks.labels(WORKER_TYPE, result).inc()

    def retry(self, upstream_path: str, attempt: int, backoff_s: float) -> None:
        """Count a retry; `attempt` is the 1-based number of the failed attempt."""
        self._send_retries.value += 1
        self.retries.labels(WORKER_TYPE, endpoint_label(upstream_path)).inc()
        self.retry_backoff.labels(str(attempt)).observe(backoff_s)

    def retries_exhausted_for(self, upstream_path: str) -> None:
        self.retries_exhausted.labels(WORKER_TYPE, endpoint_label(upstream_path)).inc()

    def breaker_transition(
        self, worker_url: str, from_state: str, to_state: str
    ) -> None:
        """A circuit breaker's transition listener: (worker_url, from, to)."""
        self.cb_transitions.labels(worker_url, from_state, to_state).inc()

    def breaker_outcome(self, worker_url: str, success: bool) -> None:
        pair = self._outcomes.get(worker_url)
        if pair is None:
            pair = (
                self.cb_outcomes.labels(worker_url, "failure"),
                self.cb_outcomes.labels(worker_url, "success"),
            )
            self._outcomes[worker_url] = pair
        pair[success].value += 1

    # Prefill/decode disaggregation

    def _declare_pd(self, buckets: Sequence[float]) -> None:
        self.pd_ttft_seconds = HistogramFamily(
            "smg_pd_ttft_seconds",
            "PD requests: time from dispatch to the decode worker's headers",
            (),
            buckets,
        )
        self.pd_prefill_duration_seconds = HistogramFamily(
            "smg_pd_prefill_duration_seconds",
            "PD requests: time from dispatch to the prefill answer's end",
            (),
            buckets,
        )
        self.pd_leg_failures = CounterFamily(
            "smg_pd_leg_failures_total",
            "PD legs that failed: connection, timeout, drain, no_kv_transfer_params",
            ("leg", "reason"),
        )
        for family in (
            self.pd_ttft_seconds,
            self.pd_prefill_duration_seconds,
            self.pd_leg_failures,
        ):
            self.collector.add(family)

    def pd_ttft(self, seconds: float) -> None:
        self.pd_ttft_seconds.labels().observe(seconds)

    def pd_prefill_duration(self, seconds: float) -> None:
        self.pd_prefill_duration_seconds.labels().observe(seconds)

    def pd_leg_failure(self, leg: str, reason: str) -> None:
        """Count a failed PD leg (`leg` prefill or decode), bootstrap included."""
        self.pd_leg_failures.labels(leg, reason).inc()

    def engine_load(
        self,
        worker_url: str,
        model: str,
        dp_rank: int,
        report: EngineLoad,
    ) -> None:
        """Re-export one polled load report of a worker's engine."""
        key = (worker_url, self._models(model), str(dp_rank))
        self.engine_polls.labels(worker_url, "poll").inc()
        self.engine_running.labels(*key).set(report.running)
        self.engine_waiting.labels(*key).set(report.waiting)
        self.engine_token_usage.labels(*key).set(report.token_usage)
        self.engine_throughput.labels(*key).set(report.gen_throughput)
        self.engine_cache_hit.labels(*key).set(report.cache_hit_rate)

    def forget_worker(self, worker_url: str) -> None:
        """Drop the series of a worker that left the fleet."""
        self._outcomes.pop(worker_url, None)
        for family in (
            self.cb_transitions,
            self.cb_outcomes,
            self.engine_polls,
            self.engine_running,
            self.engine_waiting,
            self.engine_token_usage,
            self.engine_throughput,
            self.engine_cache_hit,
        ):
            family.remove_matching("worker", worker_url)


class EngineLoad:
    """The load figures of one engine (one data-parallel rank) at poll time."""

    __slots__ = (
        "cache_hit_rate",
        "gen_throughput",
        "running",
        "token_usage",
        "waiting",
    )

    def __init__(
        self,
        running: float = 0.0,
        waiting: float = 0.0,
        token_usage: float = 0.0,
        gen_throughput: float = 0.0,
        cache_hit_rate: float = 0.0,
    ) -> None:
        self.running = running
        self.waiting = waiting
        self.token_usage = token_usage
        self.gen_throughput = gen_throughput
        self.cache_hit_rate = cache_hit_rate


def _gauge(name: str, doc: str, read: CountSource) -> SampledFamily:
    """An unlabelled gauge whose value is read when scraped."""
    return SampledFamily("gauge", name, doc, (), lambda: [((), read())])
