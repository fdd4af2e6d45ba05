"""Prometheus metrics (``GET /metrics``, admin token required).

One ``CollectorRegistry`` per app (built in ``create_app``, never a module-level global):

* requests and latency per route *template* (``/v1/reports/{report_id}/media``, never a
  path with values in it or a query string) and status — counted by ``api.middleware``;
* model time per stage (``detect``, ``embed``) — the pipeline's optional hook
  (``Services.stage_observer``);
* the bounded model pool: slots, running, waiting, refusals, time waited for a slot;
* read from the database at scrape time (``api.readiness.Gauges``, so every worker
  answers the same): candidates per status, the queue length and the age of its oldest
  open candidate, records per side, template faces per side and pack in the database and
  in this process's index, background jobs by state, seconds since the latest calibration.

With ``matcher serve --workers N`` the counters and histograms are per worker process
(the scrape reaches one of them); the database gauges are the same in all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from matcher.api.readiness import Gauges
from matcher.faces.capacity import ModelCapacity

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MODEL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceCollector:
    """Numbers read when Prometheus scrapes: the model pool now and the database's state."""

    def __init__(self, capacity: ModelCapacity, gauges: Callable[[], Gauges]) -> None:
        self.capacity = capacity
        self.gauges = gauges

    def describe(self):
        return []  # read at scrape time only (no database query when the collector is registered)

    def collect(self):
        cap = self.capacity.state()
        yield _gauge("matcher_model_pool_slots", "model work that may run at once", cap.slots)
        yield _gauge("matcher_model_pool_running", "uploads, searches and detections being analysed now", cap.running)
        yield _gauge("matcher_model_pool_waiting", "requests waiting for a model slot", cap.waiting)
        yield _gauge("matcher_model_pool_queue_limit", "requests that may wait before a 503", cap.waiting_limit)
        refused = CounterMetricFamily("matcher_model_pool_refused", "requests refused with 503 because the pool and its queue were full")
        refused.add_metric([], cap.refused)
        yield refused
        try:
            g = self.gauges()
        except Exception as exc:  # a scrape must not fail because the database is down; readiness says why
            log.warning("metrics: database gauges unavailable (%s)", type(exc).__name__)
            yield _gauge("matcher_database_up", "whether the database answered this scrape", 0)
            return
        yield _gauge("matcher_database_up", "whether the database answered this scrape", 1)
        yield _labelled("matcher_candidates", "candidates per review status", ["status"], {(k,): v for k, v in g.candidates.items()})
        yield _gauge("matcher_queue_length", "open candidates waiting for a reviewer", g.candidates.get("open", 0))
        yield _gauge("matcher_queue_oldest_open_age_seconds", "age of the oldest open candidate (0 when none)", g.oldest_open_age_s)
        yield _labelled("matcher_records", "records per side", ["side"], {(k,): v for k, v in g.records.items()})
        yield _labelled("matcher_template_faces", "template faces in the database per side and pack", ["side", "pack"], g.template_faces)
        yield _labelled("matcher_index_faces", "faces in this process's index per side and pack", ["side", "pack"], g.index_faces)
        yield _labelled("matcher_jobs", "background jobs by state", ["state"], {(k,): v for k, v in g.jobs.items()})
        yield _labelled(
            "matcher_calibration_age_seconds", "seconds since the latest calibration, per pack", ["pack"], {(k,): v for k, v in g.calibration_age_s.items()}
        )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(name: str, doc: str, labels: list[str], values: dict[tuple, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric([str(k) for k in key], value)
    return family


class Metrics:
    def __init__(self, capacity: ModelCapacity, gauges: Callable[[], Gauges]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "matcher_http_requests", "HTTP requests by method, route template and status", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "matcher_http_request_duration_seconds",
            "time to answer, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model = Histogram(
            "matcher_model_stage_seconds",
            "time in each model stage per call (detect: one image; embed: one batch of faces)",
            ["stage"],
            buckets=MODEL_BUCKETS,
            registry=self.registry,
        )
        self.pool_wait = Histogram("matcher_model_pool_wait_seconds", "time a request waited for a model slot", buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(ServiceCollector(capacity, gauges))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.model.labels(stage).observe(seconds)

    def observe_pool_wait(self, seconds: float) -> None:
        self.pool_wait.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
