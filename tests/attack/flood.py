#!/usr/bin/env python3
"""Garbage flood for tests/attack/run.sh: COUNT UDP datagrams from BIND to
TARGET spread evenly over SECONDS, cycling through a pool of random bytes,
malformed SIP and unauthenticated requests. Bounded in count and time: it
stops at COUNT datagrams or at twice SECONDS, whichever comes first, and
prints `sent=N seconds=S`.

  flood.py --bind 127.0.0.2 --target 127.0.0.1:5060 --count 40000 --seconds 10
"""
import argparse
import os
import random
import socket
import time


def rnd(n):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def pool(ip, port, size=600):
    """Datagrams a fuzzing attacker would send: a third random bytes, the
    rest SIP-shaped and broken in the ways parsers get wrong, plus a few
    well-formed unauthenticated requests."""
    out = []
    host = f"{ip}:{port}"

    def sip(method="INVITE", ruri=None, headers=None, body=""):
        ruri = ruri or f"sip:bia@{host}"
        hs = headers if headers is not None else [
            f"Via: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bK{rnd(10)}",
            f"From: <sip:x@{host}>;tag={rnd(6)}",
            f"To: <sip:bia@{host}>",
            f"Call-ID: {rnd(12)}",
            f"CSeq: 1 {method}",
            "Max-Forwards: 70",
            f"Content-Length: {len(body)}",
        ]
        return (f"{method} {ruri} SIP/2.0\r\n" + "\r\n".join(hs) + "\r\n\r\n" + body).encode(
            "latin-1"
        )

    broken = [
        lambda: os.urandom(random.randint(1, 1400)),
        lambda: os.urandom(random.randint(1, 1400)),
        # A request line and nothing else, or half of one.
        lambda: b"INVITE sip:bia@" + host.encode() + b" SIP/2.0\r\n",
        lambda: b"REGISTER",
        lambda: b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK" + rnd(8).encode() + b"\r\n\r\n",
        # Wrong version, method and URI.
        lambda: sip().replace(b"SIP/2.0\r\n", b"SIP/7.3\r\n", 1),
        lambda: sip(method="IN\x00VITE"),
        lambda: sip(ruri="sip:" + "a" * 3000 + "@"),
        lambda: sip(ruri="<>;;;@@@"),
        # Content-Length larger than the body, negative, not a number.
        lambda: sip(body="v=0").replace(b"Content-Length: 3", b"Content-Length: 99999"),
        lambda: sip().replace(b"Content-Length: 0", b"Content-Length: -5"),
        lambda: sip().replace(b"Content-Length: 0", b"Content-Length: zz"),
        # NUL and control characters in header values.
        lambda: sip().replace(b"Call-ID: ", b"Call-ID: a\x00b", 1),
        lambda: sip().replace(b"To: ", b"To: \x07\x1b[2J", 1),
        # Missing mandatory headers, headers without colons, a header flood.
        lambda: sip(headers=[f"Call-ID: {rnd(8)}"]),
        lambda: sip(headers=["Via SIP/2.0/UDP nowhere", "From", "To:", "CSeq: x y z"]),
        lambda: sip(headers=[f"X-{i}: {rnd(4)}" for i in range(400)]),
        lambda: sip(headers=["Via: " + ",".join("SIP/2.0/UDP 1.2.3.4" for _ in range(300))]),
        # Invalid UTF-8 and a huge single header.
        lambda: sip().replace(b"From: ", b"From: \xff\xfe\xc3(", 1),
        lambda: sip(headers=["Subject: " + "x" * 60000]),
        # Well-formed but unauthenticated.
        lambda: sip(method="OPTIONS"),
        lambda: sip(method="REGISTER", ruri=f"sip:{host}"),
        lambda: sip(method="MESSAGE", body="spam"),
        lambda: sip(method="BYE"),
        lambda: b"\r\n\r\n",
    ]
    for i in range(size):
        out.append(broken[i % len(broken)]())
    random.shuffle(out)
    return [d[:65000] for d in out]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bind", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--count", type=int, default=40000)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    host, port = args.target.rsplit(":", 1)
    target = (host, int(port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, 0))
    # Nobody reads the answers; a small buffer drops them in the kernel.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    data = pool(host, port)
    tick = 0.01
    per_tick = max(1, -(-args.count // int(args.seconds / tick)))
    sent = 0
    start = time.monotonic()
    deadline = start + 2 * args.seconds
    i = 0
    while sent < args.count and time.monotonic() < deadline:
        for _ in range(min(per_tick, args.count - sent)):
            try:
                sock.sendto(data[i % len(data)], target)
                sent += 1
            except OSError:
                # A full socket buffer: the datagram was not sent, so it is
                # not counted; the pacing below catches up.
                pass
            i += 1
        due = start + (sent / per_tick) * tick
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    print(f"sent={sent} seconds={time.monotonic() - start:.1f}")


if __name__ == "__main__":
    main()
