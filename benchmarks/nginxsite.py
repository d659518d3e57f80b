"""The static benchmark site on disk and the nginx that serves it (for ``bench_nginx.py``).

``StaticSite(pages, hosts, ports, seed)`` is a deterministic model of a static web
site spread over ``hosts`` virtual hosts, host ``h`` being ``127.0.0.1:ports[h]``:

* regular pages: ``/`` and ``/s<k>/p<i>.html``, about ``page_bytes`` (14 KB) of HTML
  each with 20-40 links: a chain to the next page (every page is reachable from its
  host's root), links to random pages of the same host (relative, root-relative and
  absolute forms) and of other hosts (absolute), a quarter of them decorated with a
  session id (``?sid=<hex>``, different on every linking page: a crawler that does
  not strip it fetches each page many times) and some with a ``#fragment``;
* on every host: ``robots.txt`` (``Disallow: /private/``); pages under ``/private/``
  that exist and are linked (a crawler that ignores robots.txt fetches them);
  redirects ``/old/<page>`` (nginx ``return 301`` to the page) and ``/x/r<k>.html``
  (``return 301`` to a page on another host); links to missing ``/gone/`` pages
  (404).  Every special resource is linked from exactly one page.

``write(directory)`` renders the files (one directory per host), ``response(host,
path)`` says what nginx answers for a path (for in-process simulations) and
``expected()`` gives ``{url: outcome}`` of a correct crawl from the hosts' roots
(``success`` / ``redirect`` / ``not_found``; robots.txt not included): each URL
once, nothing under ``/private/``, no ``sid`` variant.

``Nginx(site, site_dir, run_dir)`` writes an nginx configuration serving the site
(``daemon off``, its own prefix, pid, error and access log in ``run_dir``; MIME
types inline, nothing read from ``/etc/nginx``) and runs nginx as a child process
(``start()`` waits until every port accepts connections, ``stop()`` shuts it down
gracefully and returns its CPU seconds).  ``access_counts()`` reads its access log:
requests per ``(port, request URI)``, per status, and how many TCP connections
they came on.  Everything listens on 127.0.0.1 only.
"""
import collections
import contextlib
import grp
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import procstats

LOOPBACK = "127.0.0.1"
DISALLOWED = "/private/"
_SECTIONS = 10
_WORDS = ("crawler frontier politeness robots sitemap worker master queue lease result "
          "fetch parse extract scope session redirect archive index signal socket message "
          "commit delay budget host page link anchor document header status body length "
          "digest canonical encoding charset request response server client latency "
          "throughput profile sample benchmark nginx static content").split()
_READY_TIMEOUT = 20.0
_STOP_TIMEOUT = 20.0


@contextlib.contextmanager
def work_directory(prefix):
    """A temporary directory nginx's workers can read (they run as nobody under root),
    removed afterwards."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        os.chmod(work, 0o755)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def free_ports(count):
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def find_nginx():
    """The nginx binary, or SystemExit saying how to install it."""
    for path in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    raise SystemExit("nginx is not installed: apt-get update && apt-get install -y nginx-light "
                     "(Debian/Ubuntu), or put an nginx binary on PATH; or rerun with "
                     "--install-nginx")


def install_nginx():
    """Install nginx with apt-get (as root); returns the binary."""
    print("nginx missing: running apt-get update && apt-get install -y nginx-light", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "nginx-light"]):
        if subprocess.run(argv, env=env).returncode != 0:
            raise SystemExit("'%s' failed; install nginx by hand" % " ".join(argv))
    return find_nginx()


class _Page:
    __slots__ = ("links",)

    def __init__(self):
        self.links = []        # [(host, path, href form, decoration)]


class LoopbackHosts:
    """How a site's ``hosts`` are addressed: host ``h`` is 127.0.0.1 on ``ports[h]``
    (the site models of the nginx benchmarks share it)."""

    def __init__(self, hosts, ports):
        self.hosts = hosts
        self.ports = list(ports)

    def netloc(self, host):
        return "%s:%d" % (LOOPBACK, self.ports[host])

    def url(self, host, path):
        return "http://%s%s" % (self.netloc(host), path)

    @property
    def seeds(self):
        return [self.url(h, "/") for h in range(self.hosts)]


class StaticSite(LoopbackHosts):
    """The site model; see the module docstring."""

    def __init__(self, pages, hosts, ports, seed=1, page_bytes=14 * 1024,
                 links=(20, 40)):
        if hosts < 1 or pages < 2 * hosts or len(ports) != hosts:
            raise ValueError("need at least 2 pages per host and one port per host")
        super().__init__(hosts, ports)
        self.page_bytes = page_bytes
        self.link_range = links
        self.seed = seed
        self._rng = random.Random(seed)
        self.regular = []          # per host: [path]
        self.pages = []            # per host: {path: _Page}   (files, private ones too)
        self.redirects = []        # per host: {path: (host, path)}
        self.missing = []          # per host: [path]
        for host in range(hosts):
            count = pages // hosts + (1 if host < pages % hosts else 0)
            paths = ["/"] + ["/s%d/p%d.html" % (i % _SECTIONS, i) for i in range(1, count)]
            self.regular.append(paths)
            self.pages.append({path: _Page() for path in paths})
        for host in range(hosts):
            self._add_specials(host)
        for host in range(hosts):
            self._link(host)
        self._paragraphs = [" ".join(self._rng.choices(_WORDS, k=60)) for _ in range(300)]
        self._paragraph_size = sum(map(len, self._paragraphs)) / len(self._paragraphs)


    # ------------------------------------------------------------------ the model
    def _add_specials(self, host):
        rng, n = self._rng, len(self.regular[host])
        redirects = {}
        for k in range(max(1, n // 20)):
            target = rng.choice(self.regular[host][1:])
            redirects["/old" + target] = (host, target)
        for k in range(max(1, n // 200)):
            other = (host + 1 + k) % self.hosts
            redirects["/x/r%d.html" % k] = (other, rng.choice(self.regular[other]))
        self.redirects.append(redirects)
        self.missing.append(["/gone/g%d.html" % k for k in range(max(1, n // 40))])
        for k in range(max(1, n // 100)):
            page = self.pages[host]["%sq%d.html" % (DISALLOWED, k)] = _Page()
            page.links.append((host, "%shidden%d.html" % (DISALLOWED, k), "path", None))
            self.pages[host]["%shidden%d.html" % (DISALLOWED, k)] = _Page()

    def _link(self, host):
        rng, regular = self._rng, self.regular[host]
        n = len(regular)
        specials = (sorted(self.redirects[host]) + self.missing[host]
                    + sorted(p for p in self.pages[host] if p.startswith(DISALLOWED + "q")))
        linked_from = collections.defaultdict(list)
        for j, special in enumerate(specials):
            linked_from[(j * 7919 + 3) % n].append(special)
        for i, path in enumerate(regular):
            links = self.pages[host][path].links
            if i + 1 < n:
                links.append((host, regular[i + 1], rng.choice(("rel", "path", "abs")), None))
            for special in linked_from.get(i, ()):
                links.append((host, special, "path", None))
            wanted = rng.randint(*self.link_range)
            while len(links) < wanted:
                other = host if self.hosts == 1 or rng.random() < 0.9 else rng.randrange(self.hosts)
                draw = rng.random()
                decoration = "sid" if draw < 0.25 else "fragment" if draw < 0.35 else None
                form = rng.choice(("rel", "path", "abs")) if other == host else "abs"
                links.append((other, rng.choice(self.regular[other]), form, decoration))

    def expected(self):
        """``{url: outcome}`` of a correct crawl from every host's root."""
        todo = collections.deque((h, "/") for h in range(self.hosts))
        seen = set(todo)
        outcomes = {}
        while todo:
            host, path = todo.popleft()
            if path in self.redirects[host]:
                outcomes[self.url(host, path)] = "redirect"
                found = [self.redirects[host][path]]
            elif path in self.pages[host]:
                outcomes[self.url(host, path)] = "success"
                found = [link[:2] for link in self.pages[host][path].links]
            else:
                outcomes[self.url(host, path)] = "not_found"
                found = []
            for link in found:
                if link not in seen and not link[1].startswith(DISALLOWED):
                    seen.add(link)
                    todo.append(link)
        return outcomes

    def response(self, host, path):
        """``(status, headers, body)`` nginx answers for ``path`` (no query) on ``host``."""
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, self.robots_txt().encode()
        if path in self.redirects[host]:
            return 301, {"Content-Type": "text/html", "Location": self.url(
                *self.redirects[host][path])}, b"<html><body>301</body></html>"
        if path in self.pages[host]:
            body = self.body(host, path)  # nginx's validators look like these
            return 200, {"Content-Type": "text/html", "Etag": '"65f1a2b3-%x"' % len(body),
                         "Last-Modified": "Wed, 13 Mar 2024 12:00:00 GMT"}, body
        return 404, {"Content-Type": "text/html"}, b"<html><body>404</body></html>"

    @staticmethod
    def robots_txt():
        return "User-agent: *\nDisallow: %s\n" % DISALLOWED

    # ------------------------------------------------------------------ the files
    def _href(self, source, host, path, form, decoration, token):
        if decoration == "sid":
            path += "?sid=%s" % token
        elif decoration == "fragment":
            path += "#part-%s" % token[:4]
        if form == "abs":
            return self.url(host, path)
        if form == "rel" and path != "/" and not path.startswith("/?"):
            here = source.rsplit("/", 1)[0]
            there, name = path.rsplit("/", 1)
            if here == there:
                return name
            return path[1:] if not here else ".." + path
        return path

    def body(self, host, path):
        """The HTML of page ``path`` of ``host`` (deterministic: ``seed``, host, path)."""
        page = self.pages[host][path]
        rng = random.Random("%d/%d/%s" % (self.seed, host, path))
        hrefs = ['<a href="%s">%s</a>' % (
            self._href(path, *link, token="%016x" % rng.getrandbits(64)), rng.choice(_WORDS))
            for link in page.links]
        half = len(hrefs) // 2
        nav = "\n".join("<li>%s</li>" % a for a in hrefs[:half])
        inline = hrefs[half:]
        head = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
                '<title>Host %d %s</title>\n<link rel="stylesheet" href="/static/site.css">\n'
                '</head>\n<body>\n<ul class="nav">\n%s\n</ul>\n<div class="content">\n'
                '<h1>Host %d: %s</h1>\n' % (host, path, nav, host, path))
        tail = "</div>\n</body></html>\n"
        room = self.page_bytes - len(head) - len(tail) - sum(len(a) + 1 for a in inline)
        paragraphs = [rng.choice(self._paragraphs)
                      for _ in range(max(1, round(room / (self._paragraph_size + 8))))]
        for k, anchor in enumerate(inline):  # spread the inline links over the text
            paragraphs[k * len(paragraphs) // len(inline)] += " " + anchor
        parts = [head] + ["<p>%s</p>\n" % text for text in paragraphs] + [tail]
        return "".join(parts).encode("utf-8")

    def write(self, directory):
        """Render every host's files into ``directory/h<host>/``; returns bytes written."""
        total = 0
        for host in range(self.hosts):
            root = os.path.join(directory, "h%d" % host)
            for path in self.pages[host]:
                target = os.path.join(root, path.lstrip("/"))
                if path.endswith("/"):
                    target = os.path.join(target, "index.html")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                body = self.body(host, path)
                with open(target, "wb") as f:
                    f.write(body)
                total += len(body)
            with open(os.path.join(root, "robots.txt"), "w") as f:
                f.write(self.robots_txt())
        return total


class Nginx:
    """An nginx child process serving a written ``StaticSite``; see the module docstring."""

    def __init__(self, site, site_dir, run_dir, binary, worker_processes=1):
        self.site = site
        self.run_dir = run_dir
        self.binary = binary
        self.access_log = os.path.join(run_dir, "access.log")
        self.error_log = os.path.join(run_dir, "error.log")
        self.conf = os.path.join(run_dir, "nginx.conf")
        self.proc = None
        self.rusage = None
        os.makedirs(os.path.join(run_dir, "temp"), exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(self._config(site_dir, worker_processes))

    def _config(self, site_dir, worker_processes):
        user = ""
        if os.geteuid() == 0:  # the workers drop to nobody: the site is world-readable
            nobody = pwd.getpwnam("nobody")
            user = "user %s %s;\n" % (nobody.pw_name, grp.getgrgid(nobody.pw_gid).gr_name)
        temp = os.path.join(self.run_dir, "temp")
        servers = []
        for host in range(self.site.hosts):
            redirects = "".join(
                "    location = %s { return 301 %s; }\n" % (path, self.site.url(*target))
                for path, target in sorted(self.site.redirects[host].items())
                if not path.startswith("/old/"))
            servers.append(
                "  server {\n    listen %s:%d;\n    root %s;\n"
                "    location ~ ^/old(/.*)$ { return 301 $1; }\n%s  }\n"
                % (LOOPBACK, self.site.ports[host], os.path.join(site_dir, "h%d" % host),
                   redirects))
        return (
            "%sworker_processes %d;\ndaemon off;\nmaster_process on;\npid %s;\n"
            "error_log %s warn;\nevents { worker_connections 4096; }\nhttp {\n"
            "  types { text/html html; text/plain txt; text/css css; }\n"
            "  default_type application/octet-stream;\n"
            "  log_format bench '$server_port $status $connection $request_uri';\n"
            "  access_log %s bench buffer=256k flush=1s;\n"
            "  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n"
            "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
            "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
            "  scgi_temp_path %s/scgi;\n%s}\n"
            % (user, worker_processes, os.path.join(self.run_dir, "nginx.pid"), self.error_log,
               self.access_log, temp, temp, temp, temp, temp, "".join(servers)))

    def start(self):
        """Run nginx; returns once every port accepts connections."""
        self.proc = subprocess.Popen(
            [self.binary, "-p", self.run_dir, "-c", self.conf, "-e", self.error_log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + _READY_TIMEOUT
        waiting = list(self.site.ports)
        while waiting:
            if self.proc.poll() is not None:
                raise SystemExit("nginx exited with status %s: %s" % (
                    self.proc.returncode, self.proc.stderr.read().decode(errors="replace")[-2000:]))
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("nginx did not listen on ports %s within %.0f s"
                                 % (waiting, _READY_TIMEOUT))
            try:
                socket.create_connection((LOOPBACK, waiting[0]), timeout=1.0).close()
                waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        return self

    def stop(self):
        """Graceful stop (SIGQUIT flushes the access log); returns nginx's CPU seconds."""
        if self.proc is None:
            return 0.0
        if self.rusage is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful shutdown
            self.rusage = procstats.reap(self.proc, _STOP_TIMEOUT)[1]
            self.proc.stderr.close()
        return self.rusage.ru_utime + self.rusage.ru_stime

    def access_counts(self):
        """From the access log: ``Counter`` of ``(port, request URI)`` -> requests, ``Counter``
        of status -> requests, and the number of TCP connections the requests came on."""
        requests, statuses, connections = collections.Counter(), collections.Counter(), set()
        with open(self.access_log, encoding="utf-8", errors="replace") as f:
            for line in f:
                port, status, connection, uri = line.rstrip("\n").split(" ", 3)
                requests[int(port), uri] += 1
                statuses[status] += 1
                connections.add(connection)
        return requests, statuses, len(connections)
