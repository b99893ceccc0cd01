"""The container's health check: GET /health on this container's daphne; healthy only on HTTP 200.

Django answers 400 to a Host header missing from DJANGO_ALLOWED_HOSTS, so the request names the first allowed
host (a leading dot, which also allows subdomains, dropped) instead of 127.0.0.1 when that list is set.
Standard library only: the slim image has no curl.
"""

import os
import sys
import urllib.request


def host_header() -> str | None:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    named = [h.lstrip(".") for h in hosts if h != "*" and h.lstrip(".")]
    if not named or "*" in hosts:
        return None
    return named[0]


def main() -> int:
    port = os.environ.get("PORT", "").strip() or "3000"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health")
    host = host_header()
    if host:
        request.add_unredirected_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except Exception as exc:  # HTTPError (503 when the database or Redis is down), refused, timed out
        print(f"health check failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
