"""The realistic benchmark site: the Python documentation's own HTML, under several
virtual hosts and versions (for ``bench_realistic.py``; served by ``nginxsite.Nginx``).

Source: Debian's ``python3.11-doc`` package (the HTML of the Python 3.11
documentation, built by Sphinx; ``/usr/share/doc/python3.11/html``), licensed under
the PSF License Agreement (Python Software Foundation License Version 2; see
``/usr/share/doc/python3.11-doc/copyright``).  It is installed once with apt
(``apt-get install python3.11-doc``; ``ensure_installed`` does it as root); nothing is
fetched from the internet while a benchmark runs.

``DocSite(hosts, versions, ports)`` models a documentation site as docs.python.org
serves one: ``hosts`` virtual hosts (think translations, one per host; host ``h`` is
``127.0.0.1:ports[h]``), each serving ``versions`` copies of the whole tree under
``/<version>/`` (``/v1/``, ``/v2/`` ...), and a root page ``/`` linking to each
version's ``index.html``.  ``write(directory)`` renders every host's files into
``directory/h<host>/``: each HTML page is the package's page, unchanged but for one
block inserted after ``<body>``, a static version and language switcher as many
documentation sites print (PostgreSQL's "Supported versions", Django's version list):
a link to the same page in every other version on the same host (root-relative) and
in the same version on every other host (absolute).  So the pages keep their real
markup, sizes (median 54 KB, 18-220 KB from the 10th to the 90th percentile), inline
scripts and links (Sphinx's navigation, sidebars, cross references -- relative --,
links out to python.org and others, ``file://`` and ``#fragment`` links), and the
crawl spreads over the hosts like the generated site's: every page links to
``versions - 1 + hosts - 1`` of its copies.  Files other than HTML are hard links
(or copies) of the package's, but for the Sphinx sources (``_sources/``, not linked: "Show
Source" points to GitHub).  Every host's robots.txt disallows ``/<version>/_sources/``
and ``/<version>/search.html``, which some pages link to (``robots_txt``).

Links to other sites stay as they are: both crawlers keep to the seeds' hosts
(Spyder's default scope, wget2 without ``--span-hosts``), so nothing leaves 127.0.0.1.
"""
import os
import re
import shutil
import subprocess

import nginxsite

PACKAGE = "python3.11-doc"
ROOT = "/usr/share/doc/python3.11/html"
COPYRIGHT = "/usr/share/doc/python3.11-doc/copyright"
#: Not written, and disallowed by robots.txt (Sphinx's reStructuredText sources).
SOURCES = "_sources/"
#: Disallowed by robots.txt and linked from some pages (the search page, which needs
#: JavaScript and an index a crawler should not fetch).
SEARCH = "search.html"
_BODY = re.compile(rb"<body[^>]*>", re.IGNORECASE)


def ensure_installed():
    """The package's HTML directory; as root, apt-get installs the package if missing."""
    if os.path.isdir(ROOT):
        return ROOT
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit("the Python documentation is not installed: apt-get install %s "
                         "(it provides %s)" % (PACKAGE, ROOT))
    print("%s missing: running apt-get install -y %s" % (ROOT, PACKAGE), flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", PACKAGE]):
        if subprocess.run(argv, env=env).returncode != 0:
            raise SystemExit("'%s' failed; install %s by hand" % (" ".join(argv), PACKAGE))
    if not os.path.isdir(ROOT):
        raise SystemExit("%s installed but %s is not there" % (PACKAGE, ROOT))
    return ROOT


class DocSite(nginxsite.LoopbackHosts):
    """The site model; see the module docstring.  Offers what ``nginxsite.Nginx`` reads
    (``hosts``, ``ports``, ``redirects``, ``url``)."""

    def __init__(self, hosts, versions, ports, root=ROOT):
        if hosts < 1 or versions < 1 or len(ports) != hosts:
            raise ValueError("need at least one host and one version, and one port per host")
        super().__init__(hosts, ports)
        self.versions = ["v%d" % (k + 1) for k in range(versions)]
        self.root = root
        self.redirects = [{} for _ in range(hosts)]   # none: nginx serves files only
        self.files = []            # package-relative paths of the files written
        for directory, dirs, names in os.walk(root):
            dirs.sort()
            relative = os.path.relpath(directory, root)
            for name in sorted(names):
                path = os.path.normpath(os.path.join(relative, name))
                if not path.startswith(SOURCES):
                    self.files.append(path)
        self.html = [path for path in self.files if path.endswith(".html")]

    @property
    def pages(self):
        """HTML pages on the site (the package's times hosts times versions, plus the roots)."""
        return len(self.html) * self.hosts * len(self.versions) + self.hosts

    def robots_txt(self):
        return "User-agent: *\n" + "".join(
            "Disallow: /%s/%s\nDisallow: /%s/%s\n" % (version, SOURCES, version, SEARCH)
            for version in self.versions)

    def disallowed(self):
        """The path prefixes robots.txt disallows."""
        return tuple("/%s/%s" % (version, path) for version in self.versions
                     for path in (SOURCES, SEARCH))

    def root_page(self, host):
        items = "".join('<li><a href="/%s/index.html">Python documentation, %s</a></li>\n'
                        % (version, version) for version in self.versions)
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
                '<title>Documentation (host %d)</title></head>\n<body>\n<h1>Documentation'
                '</h1>\n<ul>\n%s</ul>\n</body></html>\n' % (host, items)).encode("utf-8")

    def switcher(self, host, version, path):
        """The block inserted after ``<body>`` of ``path`` (package-relative) on ``host``
        in ``version``: the same page in the other versions and on the other hosts."""
        versions = "".join('<li><a href="/%s/%s">%s</a></li>' % (other, path, other)
                           for other in self.versions if other != version)
        hosts = "".join('<li><a href="%s">host %d</a></li>' % (
            self.url(other, "/%s/%s" % (version, path)), other)
            for other in range(self.hosts) if other != host)
        return ('\n<div class="switchers"><ul class="versions">%s</ul>'
                '<ul class="languages">%s</ul></div>\n' % (versions, hosts)).encode("utf-8")

    def write(self, directory):
        """Render every host's files into ``directory/h<host>/``; returns HTML bytes written."""
        total = 0
        bodies = {}
        for path in self.html:
            with open(os.path.join(self.root, path), "rb") as f:
                bodies[path] = f.read()
        for host in range(self.hosts):
            top = os.path.join(directory, "h%d" % host)
            os.makedirs(top)
            with open(os.path.join(top, "index.html"), "wb") as f:
                total += f.write(self.root_page(host))
            with open(os.path.join(top, "robots.txt"), "w") as f:
                f.write(self.robots_txt())
            for version in self.versions:
                for path in self.files:
                    target = os.path.join(top, version, path)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    body = bodies.get(path)
                    if body is None:
                        _link_or_copy(os.path.join(self.root, path), target)
                        continue
                    with open(target, "wb") as f:
                        total += f.write(self.page(host, version, path, body))
        return total

    def page(self, host, version, path, body):
        """The page ``path`` of ``version`` on ``host``: ``body`` with the version switcher
        after its ``<body>`` tag."""
        match = _BODY.search(body)
        at = match.end() if match else 0
        return body[:at] + self.switcher(host, version, path) + body[at:]


def _link_or_copy(source, target):
    """A hard link to ``source`` (a copy across file systems); dangling symlinks (Debian's
    shared JavaScript libraries, if absent) are left out."""
    real = os.path.realpath(source)
    if not os.path.exists(real):
        return
    try:
        os.link(real, target)
    except OSError:
        shutil.copyfile(real, target)
