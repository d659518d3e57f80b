"""How much CPU a fetch costs with each HTTP client and event loop, against nginx.

A small experiment to size the fetch-stage optimisations of docs/performance.md: the
benchmark site of ``nginxsite.py`` (``--pages`` pages, default 2,000, on
``--hosts`` hosts) is served by nginx on 127.0.0.1, and each configuration fetches
``--fetches`` of its pages (default 5,000) with ``--clients`` requests at a time
(default 10, the worker's ``MAX_CLIENTS``), in a fresh child process, on one core:

* ``simple``: tornado's ``SimpleAsyncHTTPClient`` with the request options of
  ``spyder.processor.fetcher`` (header and streaming callbacks, gzip, user agent) --
  one new TCP connection per request, HTTP parsing in Python;
* ``curl``: tornado's ``CurlAsyncHTTPClient`` (pycurl / libcurl) with the same
  options -- kept-alive connections, HTTP parsing in C;
* ``CurlClient``: Spyder's own libcurl driver (``spyder.processor.curlclient``) with
  the same options, bare (no DNS cache, no CrawlUri);
* ``FetchProcessor`` / ``FetchProcessor-curl``: the worker's real fetch stage with
  ``HTTP_CLIENT="simple"`` / ``"curl"`` (the client -- for "curl" ``CurlClient`` --
  plus the caching resolver, the size cap and content-type callbacks and the
  CrawlUri bookkeeping);

each on asyncio's default loop and on uvloop.  It prints pages/s and CPU seconds
per 1,000 fetches of the child (nginx's own CPU apart), and how many TCP connections
nginx saw, for the run with the median CPU of ``--repeat`` runs (default 3).
pycurl and uvloop are optional: missing ones are skipped with a note (``pip install
pycurl uvloop``; ``--extra-path DIR`` puts a directory such as a ``pip install
--target DIR`` first on the children's import path).

    python benchmarks/bench_httpclient.py
    python benchmarks/bench_httpclient.py --fetches 2000 --extra-path /tmp/extra
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import nginxsite

CLIENTS = ("simple", "curl", "CurlClient", "FetchProcessor", "FetchProcessor-curl")
CONFIGS = [(client, loop) for client in CLIENTS for loop in ("asyncio", "uvloop")]
#: configurations that need pycurl
_PYCURL = ("curl", "CurlClient", "FetchProcessor-curl")


def _client(name, clients):
    if name == "curl":
        from tornado.curl_httpclient import CurlAsyncHTTPClient
        return CurlAsyncHTTPClient(force_instance=True, max_clients=clients)
    from tornado.simple_httpclient import SimpleAsyncHTTPClient
    return SimpleAsyncHTTPClient(force_instance=True, max_clients=clients,
                                 max_body_size=1 << 62)


class _Sink:
    """The least a ``CurlClient`` caller does: the status line, the body."""

    def __init__(self):
        self.status = None
        self.body = bytearray()

    def curl_header(self, line):
        if line.startswith(b"HTTP/"):
            self.status = int(line.split()[1])

    def curl_write(self, chunk):
        self.body += chunk


async def _fetch_all(name, urls, clients):
    """Fetch ``urls`` with ``clients`` at a time; returns (ok, bytes)."""
    from tornado.httpclient import HTTPRequest

    from spyder.core.crawluri import CrawlUri
    from spyder.core.settings import Settings
    from spyder.processor.fetcher import FetchProcessor

    todo = iter(urls)
    done = {"ok": 0, "bytes": 0}
    if name.startswith("FetchProcessor"):
        fetcher = FetchProcessor(Settings(overrides={
            "MAX_CLIENTS": clients, "HTTP_CLIENT": "curl" if name.endswith("curl") else "simple"}))

        async def one(url):
            curi = await fetcher(CrawlUri(url=url))
            return curi.status_code, len(curi.content_body or b"")
    elif name == "CurlClient":
        from spyder.processor.curlclient import CurlClient
        fetcher = CurlClient(Settings(overrides={"MAX_CLIENTS": clients}))
        lines = [b"User-Agent: spyder-bench", b"Accept-Encoding: gzip"]

        async def one(url):
            sink = _Sink()
            await fetcher.fetch(url, lines, sink)
            return sink.status, len(sink.body)
    else:
        fetcher = _client(name, clients)

        async def one(url):
            body = bytearray()
            response = await fetcher.fetch(HTTPRequest(
                url, user_agent="spyder-bench", decompress_response=True,
                follow_redirects=False, header_callback=lambda line: None,
                streaming_callback=body.extend), raise_error=False)
            return response.code, len(body)

    async def worker():
        for url in todo:
            status, size = await one(url)
            done["ok"] += status == 200
            done["bytes"] += size

    await asyncio.gather(*[worker() for _ in range(clients)])
    fetcher.close()
    return done["ok"], done["bytes"]


def child(name, loop, urls, clients):
    """Run one configuration in this process; returns its numbers."""
    if loop == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    started, cpu = time.perf_counter(), time.process_time()
    ok, size = asyncio.run(_fetch_all(name, urls, clients))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"fetches": len(urls), "ok": ok, "bytes": size, "wall_s": wall, "cpu_s": cpu}


def _child_env(extra_path):
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([extra_path, env.get("PYTHONPATH", "")])
    return env


def _importable(module, env):
    return subprocess.run([sys.executable, "-c", "import " + module], env=env,
                          capture_output=True).returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--fetches", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (median)")
    parser.add_argument("--extra-path", metavar="DIR", help="put DIR first on the children's path")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--client", action="append", choices=CLIENTS,
                        help="measure only this client (repeatable; default: all)")
    parser.add_argument("--child", nargs=2, metavar=("CLIENT", "LOOP"), help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        with open(args.urls) as f:
            urls = f.read().split()
        print(json.dumps(child(args.child[0], args.child[1], urls, args.clients)))
        return 0
    with nginxsite.work_directory("bench-httpclient-") as work:
        site = nginxsite.StaticSite(args.pages, args.hosts, nginxsite.free_ports(args.hosts))
        site.write(os.path.join(work, "site"))
        pages = sorted(url for url, outcome in site.expected().items() if outcome == "success")
        urls = [pages[i % len(pages)] for i in range(args.fetches)]
        urls_path = os.path.join(work, "urls.txt")
        with open(urls_path, "w") as f:
            f.write("\n".join(urls))
        binary = nginxsite.find_nginx()
        env = _child_env(args.extra_path)
        results = []
        print("python %s; %d fetches of %d pages on %d hosts, %d at a time"
              % (sys.version.split()[0], args.fetches, len(pages), args.hosts, args.clients))
        print("%-19s %-8s %9s %9s %16s %12s %12s" % ("client", "loop", "pages/s", "CPU s",
                                                     "CPU s/1000 p", "connections", "nginx CPU s"))
        for name, loop in CONFIGS:
            if args.client and name not in args.client:
                continue
            missing = [m for m, needed in (("pycurl", name in _PYCURL), ("uvloop", loop == "uvloop"))
                       if needed and not _importable(m, env)]
            if missing:
                print("%-19s %-8s skipped: pip install %s" % (name, loop, " ".join(missing)))
                continue
            repeats = []
            for number in range(args.repeat):
                run_dir = os.path.join(work, "%s-%s-%d" % (name, loop, number))
                nginx = nginxsite.Nginx(site, os.path.join(work, "site"), run_dir, binary).start()
                try:
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", name, loop, "--urls", urls_path,
                         "--clients", str(args.clients)], env=env, check=True,
                        stdout=subprocess.PIPE, text=True, timeout=600).stdout
                finally:
                    nginx_cpu = nginx.stop()
                repeats.append(dict(json.loads(out), client=name, loop=loop,
                                    nginx_cpu_s=nginx_cpu, connections=nginx.access_counts()[2]))
            result = sorted(repeats, key=lambda r: r["cpu_s"])[len(repeats) // 2]  # median CPU
            results.append(result)
            print("%-19s %-8s %9.0f %9.2f %16.3f %12d %12.2f" % (
                name, loop, result["fetches"] / result["wall_s"], result["cpu_s"],
                1000 * result["cpu_s"] / result["fetches"], result["connections"],
                result["nginx_cpu_s"]))
            if result["ok"] != result["fetches"]:
                print("  warning: only %d of %d fetches answered 200" % (result["ok"],
                                                                         result["fetches"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return 0


if __name__ == "__main__":
    sys.exit(main())
