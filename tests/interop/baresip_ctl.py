#!/usr/bin/env python3
"""Drives one headless baresip through its ctrl_tcp module.

baresip 1.0's ctrl_tcp serves one connection at a time and sends events
only to it, so one process holds that connection for the whole run: it
writes every event and command response to EVENTS (one JSON object per
line, flushed at once, so the test can wait on it) and sends each line
written to the FIFO CMDS as a command ("dial sip:bob@127.0.0.1").

Bounded: gives up connecting after --connect-secs and exits after
--max-secs whatever happens; it exits too when baresip closes the
connection.
"""
import argparse
import json
import os
import select
import socket
import sys
import time


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("addr", help="ctrl_tcp address, HOST:PORT")
    ap.add_argument("events", help="file the events are appended to")
    ap.add_argument("cmds", help="FIFO the commands are read from")
    ap.add_argument("--connect-secs", type=float, default=10.0)
    ap.add_argument("--max-secs", type=float, default=170.0)
    a = ap.parse_args()

    host, port = a.addr.rsplit(":", 1)
    start = time.monotonic()
    sock = None
    while sock is None:
        try:
            sock = socket.create_connection((host, int(port)), timeout=1.0)
        except OSError:
            if time.monotonic() - start > a.connect_secs:
                print(f"baresip_ctl: cannot connect to {a.addr}", file=sys.stderr)
                return 1
            time.sleep(0.1)
    sock.setblocking(False)

    out = open(a.events, "a", buffering=1)
    out.write(json.dumps({"connected": True}) + "\n")
    # O_RDWR keeps the FIFO open with a writer of our own, so a test that
    # writes one command and closes does not give us end-of-file.
    fifo = os.open(a.cmds, os.O_RDWR | os.O_NONBLOCK)
    buf = b""
    pending = b""
    token = 0
    while time.monotonic() - start < a.max_secs:
        ready, _, _ = select.select([sock, fifo], [], [], 0.5)
        if fifo in ready:
            pending += os.read(fifo, 4096)
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                text = line.decode().strip()
                if not text:
                    continue
                command, _, params = text.partition(" ")
                token += 1
                msg = {"command": command, "params": params, "token": str(token)}
                out.write(json.dumps({"sent": msg}) + "\n")
                sock.sendall(netstring(json.dumps(msg).encode()))
        if sock in ready:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                out.write(json.dumps({"closed": True}) + "\n")
                return 0
            buf += data
            # Netstrings: LEN ":" PAYLOAD ",".
            while b":" in buf:
                head, rest = buf.split(b":", 1)
                if not head.isdigit():
                    out.write(json.dumps({"garbage": buf.decode(errors="replace")}) + "\n")
                    buf = b""
                    break
                n = int(head)
                if len(rest) < n + 1:
                    break
                payload, buf = rest[:n], rest[n + 1 :]
                try:
                    obj = json.loads(payload)
                except ValueError:
                    obj = {"unparsed": payload.decode(errors="replace")}
                out.write(json.dumps(obj) + "\n")
    out.write(json.dumps({"timeout": True}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
