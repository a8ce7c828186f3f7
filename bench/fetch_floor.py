"""The extract against pre-rendered pages, and the fetch floor of the same pages.

Measured against the simulator, the extract also times a server that renders every page on the fly,
so no one knew how far the client is from what fetching the bytes costs. Here a proxy in a process
of its own records the simulator's answers to one extract, then serves them from memory (the
server is no longer what is measured):

- ``extract_seconds``: the pipeline's extract step (fetch, decode, screen, hash, COPY into
  staging) against the recorded pages, with the provider's default ``concurrent_requests``
  (``extract_one_at_a_time_seconds``: the same with one request at a time);
- ``fetch_floor_seconds``: the same GET requests, in the same order and with the same concurrency,
  each answer read to its last byte and nothing decoded (``fetch_floor_one_at_a_time_seconds``:
  one request at a time).

The pages are served as fast as the machine reads them; ``--latency-ms`` delays each answer, as a
provider across a network would (the case reading pages ahead is for).

    python -m bench.fetch_floor [--courses 5000 --learners 200000 --days 30]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

# Headers that belong to one connection, not to the answer a replay gives again.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"})


class _Proxy(BaseHTTPRequestHandler):
    """Records the upstream's answers (key: method, path with query, Range), then replays them."""

    protocol_version = "HTTP/1.1"
    upstream = ""
    replaying = False
    # Seconds each replayed answer waits before it is sent: a provider across a network.
    latency = 0.0
    pages: dict[tuple[str, str, str], tuple[int, list[tuple[str, str]], bytes]] = {}  # noqa: RUF012
    order: list[tuple[str, str, str]] = []  # noqa: RUF012

    def log_message(self, *args: Any) -> None:  # the bench prints its figures, not each request
        pass

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/_replay/on"):
            type(self).replaying = True
            type(self).latency = float(self.path.partition("latency=")[2] or 0)
            self._answer(200, [], b"{}")
            return
        if self.path == "/_replay/requests":
            data = json.dumps([k for k in self.order if k[0] == "GET"]).encode()
            self._answer(200, [("Content-Type", "application/json")], data)
            return
        key = (self.command, self.path, self.headers.get("Range") or "")
        if not self.replaying and key not in self.pages:
            sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
            resp = requests.request(self.command, self.upstream + self.path, headers=sent, data=body, timeout=300)
            kept = [(k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP | {"content-encoding"}]
            self.pages[key] = (resp.status_code, kept, resp.content)
            self.order.append(key)
        if self.replaying and self.latency:
            time.sleep(self.latency)
        self._answer(*self.pages.get(key, (404, [], b'{"error": "not recorded"}')))

    do_GET = do_POST = _serve


def _run_proxy(upstream: str, port_out: Any) -> None:
    _Proxy.upstream = upstream.rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    port_out.send(server.server_address[1])
    server.serve_forever()


class RecordingProxy:
    """The proxy's process: ``url`` to give the client; :meth:`replay` once the recording is done."""

    def __init__(self, upstream: str) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_run_proxy, args=(upstream, child), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{parent.recv()}"

    def replay(self, latency: float = 0.0) -> list[tuple[str, str, str]]:
        requests.post(f"{self.url}/_replay/on?latency={latency}", timeout=30).raise_for_status()
        return [tuple(k) for k in requests.get(f"{self.url}/_replay/requests", timeout=60).json()]

    def close(self) -> None:
        self.process.terminate()
        self.process.join(10)


def fetch_floor(url: str, keys: list[tuple[str, str, str]], concurrency: int = 1) -> dict[str, Any]:
    """Every recorded GET, in order, at most ``concurrency`` in flight (a kept-alive session per
    thread), each body read, nothing decoded."""
    local = threading.local()

    def get(key: tuple[str, str, str]) -> int:
        _, path, byte_range = key
        if not hasattr(local, "session"):
            local.session = requests.Session()
        headers = {"Authorization": "Bearer floor", **({"Range": byte_range} if byte_range else {})}
        return len(local.session.get(url + path, headers=headers, timeout=300).content)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        fetched = sum(pool.map(get, keys))
    return {"seconds": time.perf_counter() - t0, "requests": len(keys), "bytes": fetched}


def proxied(params: dict[str, Any], url: str, requests_at_once: int) -> dict[str, Any]:
    """``bench.steps`` params whose client reads through the proxy at ``url``, with that many requests at once."""
    sim = {**params["sim"], "url": url}
    return {**params, "sim": {**sim, "extras": {**sim["extras"], "concurrent_requests": requests_at_once}}}


def measure(params: dict[str, Any], latency: float = 0.0) -> dict[str, Any]:
    """The extract step against recorded pages and the fetch floor of those pages (``params``: those of
    ``bench.steps``, whose ``sim`` the proxy stands in front of), each answer ``latency`` seconds late."""
    from bench.steps import begin, run_step
    from lms_connectors import providers

    concurrency = providers.get(params["provider"]).concurrent_requests
    proxy = RecordingProxy(params["sim"]["url"])

    def extract(run: str, requests_at_once: int) -> dict[str, Any]:
        step = proxied(params, proxy.url, requests_at_once)
        step["run_id"] = f"{params['run_id']}-{run}"
        begin(step)
        return run_step("extract_progress", step)

    try:
        recorded = extract("record", 1)
        keys = [k for k in proxy.replay(latency) if "activity" in k[1]]
        ahead = extract("replay", concurrency)
        one = extract("replay-one", 1)
        floor = fetch_floor(proxy.url, keys, concurrency)
        floor_one = fetch_floor(proxy.url, keys)
    finally:
        proxy.close()
    if not ahead["result"] == one["result"] == recorded["result"]:
        raise RuntimeError(
            f"the replayed extracts read {ahead['result']} and {one['result']} records, the recorded {recorded['result']}"
        )
    return {
        "records": ahead["result"],
        "latency_ms": latency * 1000,
        "concurrent_requests": concurrency,
        "extract_seconds": ahead["seconds"],
        "extract_records_per_s": ahead["result"] / ahead["seconds"],
        "extract_one_at_a_time_seconds": one["seconds"],
        "fetch_floor_seconds": floor["seconds"],
        "fetch_floor_one_at_a_time_seconds": floor_one["seconds"],
        "fetch_requests": floor["requests"],
        "fetch_mb": floor["bytes"] / 1e6,
        "extract_over_fetch_floor": ahead["seconds"] / floor["seconds"],
        "extract_peak_rss_mb": ahead["peak_rss_mb"],
    }


def main(argv: list[str] | None = None) -> int:
    from bench.pipeline import build, embedded_postgres, step_params
    from bench.scenario import scenario_args
    from simulator import launch

    p = argparse.ArgumentParser(prog="python -m bench.fetch_floor", description=__doc__)
    p.add_argument("--courses", type=int, default=5000)
    p.add_argument("--learners", type=int, default=200_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--latency-ms", type=float, default=0.0, help="each replayed answer this late (a network)")
    args = p.parse_args(argv)
    with embedded_postgres() as cluster, launch.running(scenario_args(args.courses, args.learners, args.days)) as sim:
        _, settings = build(cluster, sim, "bench_fetch")
        params = step_params(cluster, "bench_fetch", settings, sim, args.days, "fetch")
        print(json.dumps(measure(params, args.latency_ms / 1000), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
