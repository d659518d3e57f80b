"""What pyzmq's ZMQStream costs per message, against plain non-blocking socket calls.

The master and the workers move every CrawlUri through ``ZMQStream`` (tornado
integration of pyzmq): about six stream operations per crawled page.  This
measures, on one event-loop thread, the CPU per message of

* **receive**: ``ZMQStream.on_recv`` versus a reader on the socket's ``zmq.FD``
  that drains it with ``recv_multipart(NOBLOCK)`` until ``zmq.Again``;
* **send**: ``ZMQStream.send_multipart`` (a queue, then a send when the loop sees
  POLLOUT) versus ``socket.send_multipart(NOBLOCK)``;

for ``--messages`` messages (default 20,000) of two frames, an identity and a
``--size``-byte body (default 15,000, a page result), over ipc in a private temporary
directory; the other end is a thread of the same process.  Messages arrive and
leave in bursts of 20 with the loop running in between, as results do.

    python benchmarks/bench_zmqstream.py
"""
import argparse
import asyncio
import shutil
import sys
import tempfile
import threading
import time

import zmq
from zmq.eventloop.zmqstream import ZMQStream

_BURST = 20


def _push(address, frames, count):
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.connect(address)
    for i in range(count):
        sock.send_multipart(frames)
        if i % _BURST == 0:
            time.sleep(0.0005)
    sock.close(linger=-1)


def _pull(address, count):
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.rcvhwm = 0
    sock.connect(address)
    for _ in range(count):
        sock.recv_multipart()
    sock.close()


async def receive(address, frames, count, stream):
    """CPU seconds of this thread to receive ``count`` messages."""
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.bind(address)
    done, received = asyncio.Event(), [0]

    def got(_frames=None):
        received[0] += 1
        if received[0] == count:
            done.set()
    loop = asyncio.get_running_loop()
    if stream:
        reader = ZMQStream(sock)
        reader.on_recv(got)
    else:
        def drain():
            while received[0] < count:
                try:
                    sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    return
                got()
        loop.add_reader(sock.getsockopt(zmq.FD), drain)
        drain()
    sender = threading.Thread(target=_push, args=(address, frames, count))
    started = time.thread_time()
    sender.start()
    await asyncio.wait_for(done.wait(), 120)
    cpu = time.thread_time() - started
    sender.join()
    if stream:
        reader.close(linger=0)
    else:
        loop.remove_reader(sock.getsockopt(zmq.FD))
        sock.close(linger=0)
    return cpu


async def send(address, frames, count, stream):
    """CPU seconds of this thread to send ``count`` messages."""
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.sndhwm = 0
    sock.bind(address)
    receiver = threading.Thread(target=_pull, args=(address, count))
    receiver.start()
    if not sock.poll(10000, zmq.POLLOUT):  # PUSH is writable once the receiver is connected
        raise SystemExit("the receiving thread did not connect within 10 s")
    out = ZMQStream(sock) if stream else None
    started = time.thread_time()
    for i in range(count):
        if out is not None:
            out.send_multipart(frames)
        else:
            sock.send_multipart(frames, zmq.NOBLOCK)
        if i % _BURST == 0:
            await asyncio.sleep(0.0002)
    deadline = time.monotonic() + 120
    while out is not None and out.sending() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    cpu = time.thread_time() - started
    receiver.join(120)
    (out or sock).close(linger=0)
    return cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=15000, help="body bytes per message")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    args = parser.parse_args(argv)
    frames = [b"master:bench:1", b"x" * args.size]
    directory = tempfile.mkdtemp(prefix="bench-zmqstream-")
    try:
        print("pyzmq %s, libzmq %s; %d messages of %d bytes over ipc, CPU of the loop thread"
              % (zmq.pyzmq_version(), zmq.zmq_version(), args.messages, args.size))
        for name, case in (("receive", receive), ("send", send)):
            for stream in (True, False):
                runs = sorted(asyncio.run(case("ipc://%s/%s-%d-%d" % (directory, name, stream, n),
                                               frames, args.messages, stream))
                              for n in range(args.repeat))
                print("%-8s %-34s %6.1f us per message" % (
                    name, "ZMQStream" if stream else "socket, NOBLOCK, drained on zmq.FD"
                    if name == "receive" else "socket, NOBLOCK",
                    1e6 * runs[len(runs) // 2] / args.messages))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
