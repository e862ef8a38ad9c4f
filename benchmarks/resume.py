"""How long a client takes to catch up on N missed messages (the resume path).

A reader joins, then goes away; a writer sends N public messages and waits
until all are acknowledged (stored); the reader rejoins with its old cursors
and FETCHes pages until it has every message. Reported: the time from the
rejoin's JOIN to the last missed message received, and the rate.

    python benchmarks/resume.py [--messages 10000] [--store sqlite|memory] [--reps 3]
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from zchat.protocol import Ack, Events, Fetch, Join, Msg, Say, Welcome, decode_broker, encode
from zchat.protocol import constants as c


def start_broker(store: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    zchat = Path(sys.executable).with_name("zchat")
    proc = subprocess.Popen(
        [str(zchat), "broker", "--bind", "tcp://127.0.0.1:*", "--heartbeat", "30",
         "--store", store, "--data-dir", str(data_dir),
         # The writer floods by design; a person never meets these limits.
         "--rate", "1e9", "--burst", "1000000000", "--byte-rate", "1e12",
         "--byte-burst", "1000000000000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"broker did not start: {line!r}")
    return proc, match.group(1)


def recv(sock: zmq.Socket, timeout: float = 30.0) -> object:
    if not sock.poll(timeout * 1000):
        raise SystemExit("timed out waiting for the broker")
    return decode_broker(sock.recv())


def dealer(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def join(sock: zmq.Socket, name: str, token: str, resume: bool = False) -> Welcome:
    sock.send(encode(Join(name, token, resume)))
    while True:
        msg = recv(sock)
        if isinstance(msg, Welcome):
            return msg


def one_run(messages: int, store: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        broker, endpoint = start_broker(store, Path(tmp))
        ctx = zmq.Context()
        try:
            reader = dealer(ctx, endpoint)
            welcome = join(reader, "reader", "r" * 32)
            cursors = (welcome.pub, welcome.priv)
            reader.close()  # away; the broker drops it when a send finds it gone

            writer = dealer(ctx, endpoint)
            join(writer, "writer", "w" * 32)
            for n in range(1, messages + 1):
                writer.send(encode(Say(f"message {n} " + "x" * 80, cid=n)))
            acked = 0
            while acked < messages:
                if isinstance(recv(writer), Ack):
                    acked += 1

            reader = dealer(ctx, endpoint)
            start = time.perf_counter()
            welcome = join(reader, "reader", "r" * 32, resume=True)
            got = 0
            pub, priv = cursors
            reader.send(encode(Fetch(pub, priv)))
            while got < messages:
                msg = recv(reader)
                # Only the FETCH's answer: live batches (the joins and leaves around
                # this rejoin) come on the same socket and say nothing about paging.
                if isinstance(msg, Events) and msg.kind == c.K_REPLAY:
                    for event in msg.events:
                        pub = max(pub, event.seq)
                        got += isinstance(event, Msg)
                    if msg.more:
                        reader.send(encode(Fetch(pub, priv)))
                    elif got < messages:
                        raise SystemExit(f"replay ended after {got} of {messages}")
            return time.perf_counter() - start
        finally:
            ctx.destroy(linger=0)
            broker.terminate()
            broker.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    times = [one_run(args.messages, args.store) for _ in range(args.reps)]
    median = statistics.median(times)
    print(f"resume of {args.messages} missed messages ({args.store} store): "
          f"median {median * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f}) over {args.reps} runs; "
          f"{args.messages / median:,.0f} messages/s")


if __name__ == "__main__":
    main()
