"""The ops endpoint: `/healthz` for orchestrators, `/metrics` for Prometheus.

``async with OpsServer(host, port, checks) as server:`` serves until the block ends; port 0
binds a free port (`server.port` says which). Each server has its own metrics registry, so
several can run in one process (tests, or one per engine).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Final, Self

from aiohttp import web
from prometheus_client import ProcessCollector, generate_latest
from prometheus_client.registry import CollectorRegistry

from engine.ops.health import HealthReport, check
from engine.ops.metrics import KillwatchCollector
from engine.ops.probes import OpsChecks

__all__ = ["METRICS_CONTENT_TYPE", "OpsServer"]

log = logging.getLogger(__name__)

# The classic text format: every Prometheus version reads it.
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class OpsServer:
    def __init__(self, host: str, port: int, checks: OpsChecks) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range")
        self.checks = checks
        self.registry = CollectorRegistry()
        self.registry.register(KillwatchCollector(checks))
        # Memory, CPU time and open files of this process, as every exporter shows them.
        ProcessCollector(registry=self.registry)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._failing = False

    @property
    def port(self) -> int:
        """The port listened on (the one chosen, when asked for 0)."""
        if self._runner is None:
            raise RuntimeError("the ops server is not running")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def health(self) -> HealthReport:
        return await check(self.checks)

    def metrics(self) -> bytes:
        return generate_latest(self.registry)

    async def __aenter__(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("the ops server is already running")
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        # A scrape every few seconds is no event worth a log line.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        log.info("health and metrics on %s (/healthz, /metrics)", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        report = await self.health()
        # Once per change, not once per probe: an orchestrator asks every few seconds.
        if not report.ok and not self._failing:
            log.warning("health check failing: %s", "; ".join(report.reasons))
        elif report.ok and self._failing:
            log.info("health check passing again")
        self._failing = not report.ok
        return web.json_response(report.to_json(), status=200 if report.ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics(), headers={"Content-Type": METRICS_CONTENT_TYPE})
