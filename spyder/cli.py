"""The ``spyder`` command.

    spyder master   [--settings S] [-s KEY=VALUE]...   run the master daemon
    spyder worker   [--settings S] [-s KEY=VALUE]...   run a worker
    spyder logsink  [--settings S] [-s KEY=VALUE]...   run the log sink
    spyder crawl    [...] [--workers N] [--state FILE] [URL ...]   a whole crawl on this machine
                    [--redis URL [--masters N]]              ... on a Redis Cluster frontier
    spyder demo     crawl a bundled local website (no internet needed)
    spyder bench    measure crawl speed against a local generated site
    spyder start [DIR] [--force]                        copy a crawl skeleton into DIR
    spyder keys DIR                                     create CurveZMQ keys for tcp crawls
    spyder settings [--settings S] [-s ...] [--reference]  print the effective settings
    spyder status   [--watch [SECONDS]] [--json] [--url URL]  a running master's figures
    spyder ctl      [--url URL] add-seeds URL... | pause | resume | block HOST [--until T]
                    | unblock HOST | delay HOST SECONDS|auto | stop    steer a running master

``status`` and ``ctl`` talk to the master's console (``MASTER_HTTP_ADDRESS``, with
``MASTER_HTTP_TOKEN``; ``--url`` overrides the address).

Settings come from ``--settings`` (a ``.py`` path or dotted module), else
``./settings.py``, else ``$SPYDER_SETTINGS``, else the defaults; ``-s`` overrides
win over all of them.  Start-up problems end with one line on stderr and a non-zero
exit status.
"""
import argparse
import json
import os
import shutil
import sys
import time
import urllib.parse
import warnings

import spyder
from spyder.core.memory import keep_freed_memory
from spyder.core.settings import SettingsError, load_settings, reference_markdown
from spyder.core.wire.sockets import create_keys
from spyder.errors import ConsoleError, StartupError

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spyder_template")


def _add_settings_args(parser):
    parser.add_argument("--settings", metavar="PATH_OR_MODULE",
                        help="settings module: a .py file or a dotted module name "
                             "(default: ./settings.py, else $SPYDER_SETTINGS)")
    parser.add_argument("-s", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a setting (VALUE is a Python literal or a string); "
                             "repeatable")


def _add_console_args(parser):
    _add_settings_args(parser)
    parser.add_argument("--url", help="the console's URL (default: from MASTER_HTTP_ADDRESS)")


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="spyder", description="Spyder: a scalable and polite web crawler.")
    parser.add_argument("--version", action="version", version="spyder %s" % spyder.__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, text in (("master", "run the master daemon (frontier and sinks)"),
                       ("worker", "run a worker (fetch and extract)"),
                       ("logsink", "run the log sink")):
        _add_settings_args(sub.add_parser(name, help=text, description=text))
    show = sub.add_parser("settings", help="print the effective settings",
                          description="Print the effective settings (derived values resolved).")
    _add_settings_args(show)
    show.add_argument("--reference", action="store_true",
                      help="print every default setting as Markdown tables instead")

    crawl = sub.add_parser("crawl", help="run logsink, master and workers for one crawl",
                           description="Start a logsink, a master and N workers on private "
                                       "ipc endpoints, seed the URLs and supervise the crawl "
                                       "until it is done.")
    _add_settings_args(crawl)
    crawl.add_argument("--workers", type=int, default=None,
                       help="worker processes (default: number of CPUs)")
    crawl.add_argument("--no-workers", action="store_true",
                       help="start no workers: workers started elsewhere serve the master "
                            "(WORKER_MASTERS; what --masters does)")
    crawl.add_argument("--state", metavar="FILE", help="frontier state file (resume with the same)")
    crawl.add_argument("--redis", metavar="URL",
                       help="keep the frontier on a Redis Cluster, redis://host:port[,host:port"
                            "...][/crawl] (docs/cluster.md)")
    crawl.add_argument("--masters", type=int, default=None,
                       help="with --redis: run N masters as peers and --workers workers in "
                            "total, each serving every master")
    crawl.add_argument("--own-workers", action="store_true",
                       help="with --masters: give each master --workers workers of its own "
                            "instead")
    crawl.add_argument("urls", nargs="*", metavar="URL", help="seed URLs")

    demo = sub.add_parser("demo", help="crawl a bundled local website into ./spyder-demo/")
    _add_settings_args(demo)
    demo.add_argument("--workers", type=int, default=None, help="worker processes")
    demo.add_argument("--output", default="spyder-demo", help="output directory")

    bench = sub.add_parser("bench", help="measure crawl speed against a local generated site")
    _add_settings_args(bench)
    bench.add_argument("--workers", type=int, default=None, help="worker processes")
    bench.add_argument("--pages", type=int, default=2000, help="pages of the generated site")
    bench.add_argument("--hosts", type=int, default=4, help="virtual hosts of the generated site")

    keys = sub.add_parser("keys", help="create CurveZMQ keys for ZEROMQ_CURVE_KEYS_DIR",
                          description="Write a server and a client key pair into DIR and "
                                      "authorize the client (DIR/authorized). Copy DIR to every "
                                      "machine of the crawl (workers need server.key and "
                                      "client.key_secret) and set ZEROMQ_CURVE_KEYS_DIR to it.")
    keys.add_argument("directory", metavar="DIR")

    status = sub.add_parser("status", help="show a running master's figures",
                            description="Ask the master's console (MASTER_HTTP_ADDRESS) for "
                                        "the crawl's figures, its workers and busiest hosts.")
    _add_console_args(status)
    status.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                        help="refresh every SECONDS (default 2) until Ctrl-C")
    status.add_argument("--json", action="store_true",
                        help='print {"status", "workers", "hosts"} as JSON instead')

    ctl = sub.add_parser("ctl", help="steer a running master (seeds, pause, hosts, stop)",
                         description="Send a control request to the master's console; the "
                                     "change is kept in the state file.")
    _add_console_args(ctl)
    actions = ctl.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    seeds = actions.add_parser("add-seeds", help="add seed URLs (scoped and deduplicated)")
    seeds.add_argument("urls", nargs="+", metavar="URL")
    actions.add_parser("pause", help="stop dispatching (in-flight URLs finish)")
    actions.add_parser("resume", help="dispatch again")
    block = actions.add_parser("block", help="hand out no URL of HOST (its URLs stay queued)")
    block.add_argument("host", metavar="HOST", help="host[:port] as in the URLs")
    block.add_argument("--until", metavar="T",
                       help="until T: a duration (30m, 2h, 1d), an ISO 8601 time or UTC epoch "
                            "seconds (default: until unblocked)")
    unblock = actions.add_parser("unblock", help="lift a block")
    unblock.add_argument("host", metavar="HOST")
    delay = actions.add_parser("delay", help="seconds to wait between two fetches of HOST")
    delay.add_argument("host", metavar="HOST")
    delay.add_argument("seconds", metavar="SECONDS|auto",
                       help="a number of seconds, or 'auto' for the computed delay")
    actions.add_parser("stop", help="shut the crawl down gracefully (as SIGTERM)")

    start = sub.add_parser("start", help="copy a crawl skeleton into DIR",
                           description="Copy a working crawl skeleton (settings.py, master.py, "
                                       "sink.py, seeds.txt, logging.conf, log/) into DIR.")
    start.add_argument("directory", nargs="?", default=".", metavar="DIR")
    start.add_argument("--force", action="store_true", help="overwrite existing files")
    return parser


def start_project(directory, force=False, out=sys.stdout):
    """Copy the crawl skeleton into ``directory``; refuse to overwrite unless ``force``."""
    files = []
    for root, dirs, names in os.walk(TEMPLATE_DIR):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
        for name in names:
            if name.endswith((".pyc", ".pyo")):
                continue
            rel = os.path.relpath(os.path.join(root, name), TEMPLATE_DIR)
            files.append(rel)
    existing = [rel for rel in files if os.path.exists(os.path.join(directory, rel))]
    if existing and not force:
        raise StartupError("refusing to overwrite %s in %s (use --force)"
                           % (", ".join(sorted(existing)), os.path.abspath(directory)))
    for rel in sorted(files):
        target = os.path.join(directory, rel)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        shutil.copyfile(os.path.join(TEMPLATE_DIR, rel), target)
        os.chmod(target, 0o644)
    print("created a Spyder crawl in %s; edit seeds.txt and settings.py, then run "
          "'spyder crawl' there" % os.path.abspath(directory), file=out)
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print("spyder: warning: %s" % message, file=sys.stderr)


def _run(args):
    if args.command == "start":
        return start_project(args.directory, args.force)
    if args.command == "keys":
        for path in create_keys(args.directory):
            print(path)
        return 0
    if args.command == "settings" and args.reference:
        print(reference_markdown(), end="")
        return 0
    settings = load_settings(args.settings, args.overrides)
    if args.command in ("master", "worker", "logsink"):
        keep_freed_memory(settings)
    if args.command == "master":
        from spyder import masterprocess
        return masterprocess.main(settings)
    if args.command == "worker":
        from spyder import workerprocess
        return workerprocess.main(settings)
    if args.command == "logsink":
        from spyder import logsink
        return logsink.main(settings)
    if args.command in ("status", "ctl"):
        from spyder import consoleclient
        client = consoleclient.ConsoleClient.from_settings(settings, args.url)
        return (_status if args.command == "status" else _ctl)(client, args)
    if args.command == "settings":
        for name, value in settings.as_dict().items():
            print("%s = %r" % (name, value))
        return 0
    if args.command == "crawl":
        if args.masters is not None:
            from spyder import multicrawl
            return multicrawl.main(settings, args)
        from spyder import crawl
        return crawl.main(settings, args)
    from spyder import demo
    if args.command == "demo":
        return demo.demo(settings, args)
    return demo.bench(settings, args)


def _status(client, args):
    from spyder import consoleclient
    while True:
        snap = consoleclient.snapshot(client)
        if args.json:
            text = json.dumps(snap, indent=2)
        else:
            text = consoleclient.render_text(snap)
        if args.watch and sys.stdout.isatty():
            text = "\x1b[H\x1b[2J" + text  # redraw in place
        print(text, flush=True)
        if not args.watch:
            return 0
        time.sleep(max(0.2, args.watch))


def _ctl(client, args):
    from spyder import consoleclient
    action = args.action
    if action == "add-seeds":
        answer = client.post("api/seeds", {"urls": args.urls})
        refused = answer["not_added"]
        print("added %d seed(s)%s" % (len(answer["added"]), "; already known or out of scope: "
                                      + " ".join(refused) if refused else ""))
        return 0
    if action in ("pause", "resume", "stop"):
        print("crawl %s" % client.post("api/" + action)["state"])
        return 0
    path = "api/hosts/%s/%s" % (urllib.parse.quote(args.host, safe=":[]"), action)
    if action == "block":
        until = None if args.until is None else consoleclient.parse_until(args.until)
        body = {"until": until}
    elif action == "delay":
        try:
            body = {"seconds": None if args.seconds == "auto" else float(args.seconds)}
        except ValueError:
            raise ConsoleError("SECONDS must be a number or 'auto', got %r" % args.seconds) \
                from None
    else:
        body = {}
    host = client.post(path, body)["host"]
    print("%s: %s" % (host["host"], _describe_host(host)))
    return 0


def _describe_host(host):
    from spyder.console.dashboard import format_value
    blocked = format_value("blocked", None, host)
    delay = format_value("delay", host["delay"], host)
    return ", ".join(part for part in (
        "blocked " + blocked if blocked else "not blocked",
        "delay " + delay if delay else "", "%d queued" % host["queued"]) if part)


def main(argv=None):
    """Entry point of the ``spyder`` console script; returns the exit status."""
    warnings.showwarning = _show_warning
    args = _build_parser().parse_args(argv)
    try:
        return _run(args) or 0
    except (SettingsError, StartupError, ConsoleError) as exc:
        print("spyder %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 2 if isinstance(exc, SettingsError) else 1
    except KeyboardInterrupt:
        return 130
