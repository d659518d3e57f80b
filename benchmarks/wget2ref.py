"""wget2 as the reference crawler of the nginx benchmarks (``bench_nginx.py --reference
wget2``, ``bench_realistic.py``): one recursive crawl of the same seeds, measured.

GNU Wget2 (``apt-get install wget2``; Debian 12 has 1.99.1) is a C crawler with a
thread per connection; it is the reference of Spyder issue 21 (CPU per page at most
2x wget2's).  ``run(site, site_dir, run_dir, nginx_binary, options)`` starts a fresh
nginx (``nginxsite.Nginx``), runs

    wget2 --no-config -r -l inf --max-threads N --robots=on --delete-after -P <tmpfs>
          --follow-tags=a/href,area/href,frame/src,iframe/src --ignore-tags=... -q SEEDS

and reports what it did like ``bench_nginx`` reports a Spyder crawl: unique pages (the
distinct request URIs nginx logged, robots.txt apart), duration (the process's wall
time: wget2 has no start-up worth counting), pages/s, its exact CPU (``os.wait4``),
peak RSS, and the URLs it fetched (``urls``, ``{url: status}``) so a benchmark can
check that both crawlers fetched the same set.

What makes the two crawls the same: wget2 stays on the seeds' host names without
``--span-hosts`` (every host here is 127.0.0.1 on its own port, so it follows links
between them and to no other address), obeys robots.txt, drops ``#fragments``, and
is told to follow exactly the links Spyder's extractor follows: ``<a href>``,
``<area href>``, ``<frame src>``, ``<iframe src>`` -- not images, scripts or style
sheets (page requisites, which Spyder does not fetch).  Spyder also follows ``<link
rel=next|prev|alternate>``; on both benchmark sites those pages are linked by ``<a>``
too.  ``reject_regex`` (e.g. the generated site's session ids, which Spyder strips)
keeps wget2 away from URLs Spyder collapses.  Downloads go to a directory on tmpfs
(``/dev/shm`` when there is one) and are deleted as soon as they are parsed.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nginxsite
import procstats

#: Tags wget2 scans that Spyder does not follow (its defaults minus ``a``, ``area``,
#: ``frame``, ``iframe``).
_IGNORED_TAGS = ("img,link,script,style,embed,object,source,video,audio,input,base,meta,"
                 "body,table,td,th,blockquote,q,del,ins,form,html,head,track,bgsound,"
                 "layer,applet,overlay,image,svg,use")
_FOLLOWED_TAGS = "a/href,area/href,frame/src,iframe/src"


def find_wget2():
    """The wget2 binary, or SystemExit saying how to install it."""
    path = shutil.which("wget2")
    if path is None:
        raise SystemExit("wget2 is not installed: apt-get install wget2 (the reference crawler)")
    return path


def version(binary):
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else "wget2"


def argv(binary, seeds, download_dir, threads, reject_regex=None):
    """wget2's command line for a recursive crawl of ``seeds`` (see the module docstring)."""
    line = [binary, "--no-config", "-r", "-l", "inf", "--max-threads", str(threads),
            "--robots=on", "--delete-after", "-P", download_dir, "-q", "--no-hsts",
            "--no-tcp-fastopen", "--follow-tags=" + _FOLLOWED_TAGS,
            "--ignore-tags=" + _IGNORED_TAGS]
    if reject_regex:
        line += ["--filter-urls", "--reject-regex", reject_regex]
    return line + list(seeds)


def _tmpfs():
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def run(site, site_dir, run_dir, nginx_binary, threads, timeout, reject_regex=None,
        binary=None, nginx_workers=1):
    """One wget2 crawl of ``site`` from its seeds with a fresh nginx; returns its report."""
    binary = binary or find_wget2()
    os.makedirs(run_dir)
    nginx = nginxsite.Nginx(site, site_dir, os.path.join(run_dir, "nginx"), nginx_binary,
                            nginx_workers).start()
    downloads = tempfile.mkdtemp(prefix="bench-wget2-", dir=_tmpfs())
    load_before = os.getloadavg()
    try:
        with open(os.path.join(run_dir, "wget2.err"), "w+") as err:
            started = time.monotonic()
            proc = subprocess.Popen(argv(binary, site.seeds, downloads, threads, reject_regex),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
            status, rusage = procstats.reap(proc, timeout)
            wall = time.monotonic() - started
            err.seek(0)
            stderr = err.read()
    finally:
        nginx_cpu = nginx.stop()
        shutil.rmtree(downloads, ignore_errors=True)
    # wget2 exits with 8 when a server answered an error (a 404): not a failure here
    if status not in (0, 8):
        raise SystemExit("wget2 failed with status %s:\n%s" % (status, stderr[-3000:]))
    requests, statuses, connections = nginx.access_counts()
    urls = {}
    for (port, uri), _count in requests.items():
        if uri != "/robots.txt":
            urls["http://%s:%d%s" % (nginxsite.LOOPBACK, port, uri)] = None
    pages = len(urls)
    if not pages:
        raise SystemExit("wget2 fetched nothing:\n%s" % stderr[-3000:])
    cpu = rusage.ru_utime + rusage.ru_stime
    return {
        "pages": pages, "duration_s": round(wall, 2), "pages_per_s": round(pages / wall, 1),
        "cpu_s": round(cpu, 2), "cpu_per_1000": round(1000.0 * cpu / pages, 3),
        "peak_rss_mb": round(rusage.ru_maxrss / 1024.0, 1), "threads": threads,
        "requests": sum(requests.values()), "statuses": dict(statuses),
        "connections": connections,
        "robots_requests": sum(c for (_, uri), c in requests.items() if uri == "/robots.txt"),
        "fetched_twice": sum(1 for (_, uri), c in requests.items()
                             if c > 1 and uri != "/robots.txt"),
        "nginx_cpu_s": round(nginx_cpu, 2), "exit_status": status,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "urls": sorted(urls),
    }


def print_run(label, run, file=sys.stdout):
    print("%s: wget2 (%d threads): %d unique pages in %.1f s = %.0f pages/s; %.3f CPU s per "
          "1,000 pages; peak RSS %.1f MB; %d requests (%s) on %d connections, %d robots.txt, "
          "%d pages fetched twice; nginx %.2f CPU s; load %s -> %s" % (
              label, run["threads"], run["pages"], run["duration_s"], run["pages_per_s"],
              run["cpu_per_1000"], run["peak_rss_mb"], run["requests"],
              ", ".join("%s %d" % kv for kv in sorted(run["statuses"].items())),
              run["connections"], run["robots_requests"], run["fetched_twice"],
              run["nginx_cpu_s"], "/".join("%.2f" % x for x in run["load_before"]),
              "/".join("%.2f" % x for x in run["load_after"])), file=file)
