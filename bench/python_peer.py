"""Serve the series of a saved mock-exporter page with Python's prometheus_client.

The benchmark's peer: the same families, labels and values, exposed the way a Python exporter
does it (a collector in the default registry, `generate_latest` on every scrape, the client's
own threaded HTTP server).

    python3 bench/python_peer.py --page page.txt --port 9999
"""

import argparse
import signal
import sys
import threading

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.parser import text_string_to_metric_families


class Page:
    """A collector that yields the families parsed from a page."""

    def __init__(self, text):
        self.families = list(text_string_to_metric_families(text))

    def collect(self):
        return iter(self.families)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", required=True, help="a page saved from mock-exporter's /metrics")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    with open(args.page, encoding="utf-8") as f:
        page = Page(f.read())
    for c in list(REGISTRY._collector_to_names):  # leave out the process and platform collectors
        REGISTRY.unregister(c)
    REGISTRY.register(page)
    start_http_server(args.port, addr="127.0.0.1")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"serving {len(page.families)} families on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    stop.wait()


if __name__ == "__main__":
    main()
