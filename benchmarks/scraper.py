"""Scrape a zchat broker's metrics as Prometheus would, every second, until stopped.

    python benchmarks/scraper.py http://127.0.0.1:PORT/metrics [--every 1.0] [--seconds 3600]

The `zchat-metrics` system's second process (systems.py): a process of its own, so
that its work shares neither the broker's process nor the load generator's. Each
scrape is an HTTP GET read whole and checked (status 200, a `zchat_users` sample);
one line per scrape on stdout (its time and size). A failed scrape ends it with
status 1, which marks the run as troubled (systems.Running.alive). It stops by
itself after --seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long")
    args = parser.parse_args()
    stop = time.monotonic() + args.seconds
    count = 0
    next_at = time.monotonic()
    while next_at < stop:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(args.url, timeout=5) as response:
                body = response.read()
                status = response.status
        except OSError as exc:
            print(f"scrape {count + 1} failed: {exc}", flush=True)
            return 1
        if status != 200 or b"\nzchat_users " not in body:
            print(f"scrape {count + 1}: status {status}, no zchat_users", flush=True)
            return 1
        count += 1
        print(f"scrape {count}: {len(body)} bytes in {(time.monotonic() - started) * 1000:.1f} ms",
              flush=True)
        next_at += args.every
        time.sleep(max(0.0, next_at - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
