"""`killwatch health`: ask a running Killwatch's `/healthz` and exit 0 (healthy) or 1.

For a container's HEALTHCHECK or a systemd watchdog script: slim images carry no curl, and
this reads the ops address from the same config the running process uses.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from bot.config import Settings

__all__ = ["health_url", "register"]

# A wildcard bind address is reached on loopback from inside the same host or container.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    health = commands.add_parser(
        "health",
        help="ask a running Killwatch whether it is healthy (exit 0) or not (exit 1)",
        description="GET /healthz on the ops endpoint the config names ([ops] host and port) "
        "and print its verdict: exit 0 when healthy, 1 when unhealthy or unreachable, 2 when "
        "the endpoint is off (port 0).",
    )
    health.add_argument("--url", help="ask this base URL instead (e.g. http://10.0.0.5:8080)")
    health.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="give up after this long (default 5)")
    health.set_defaults(handler=_health)


def health_url(settings: Settings) -> str | None:
    """Where the configured ops endpoint answers, or None when it is off."""
    host, port = settings.ops.host, settings.ops.port
    if port == 0:
        return None
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _health(args: argparse.Namespace, settings: Settings) -> int:
    base = args.url or health_url(settings)
    if base is None:
        print("killwatch: the ops endpoint is off ([ops] port = 0); set a port to check "
              "health", file=sys.stderr)
        return 2
    url = base.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            report = _report(response.read())
            status = response.status
    except urllib.error.HTTPError as exc:
        report, status = _report(exc.read()), exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"unhealthy: {url} did not answer ({reason})")
        return 1
    if status == 200:
        print("healthy")
        return 0
    reasons = report.get("reasons") or [f"HTTP {status}"]
    print("unhealthy: " + "; ".join(str(r) for r in reasons))
    return 1


def _report(body: bytes) -> dict[str, Any]:
    try:
        report = json.loads(body)
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}
