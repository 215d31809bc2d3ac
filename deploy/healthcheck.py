"""The container's health check: ``GET /readyz`` on the bot's port, 200 or exit 1.

Until a version with ``/readyz`` is running, a 404 there falls back to
``/healthz`` (the database answers). Standard library only: the image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def status(path: str) -> int:
    """The HTTP status of ``GET path`` on this container's bot (0: no answer)."""
    url = f"http://127.0.0.1:{os.environ.get('PORT') or '3000'}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def main() -> int:
    """0 when ready, 1 when not."""
    code = status("/readyz")
    if code == 404:
        code = status("/healthz")
    return 0 if code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
