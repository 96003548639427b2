#!/usr/bin/env python3
"""SIP probes for tests/attack/run.sh, sent from a chosen loopback address.

  probe.py diff    --bind IP --target IP:PORT --users ana,zed [--creds]
      For each method (REGISTER, INVITE, OPTIONS, MESSAGE) sends the same
      request addressed to each user and compares every answer received,
      with tags, branches, nonces, Call-IDs, ports and the username itself
      masked. With --creds, each challenge is answered with a wrong password
      and the answer to that is compared as well. Exit 0 when the answers
      are identical for every method, 1 otherwise (the difference is shown).
  probe.py login   --bind IP --target IP:PORT --method M --users USER
                   --password P --expect CODES [--to CALLEE]
      REGISTER as USER (or INVITE CALLEE as USER) answering the challenge
      with password P; exit 0 when the final answer is one of CODES
      (comma-separated), 1 otherwise.
  probe.py silent  --bind IP --target IP:PORT [--wait S]
      Sends one OPTIONS; exit 0 when nothing comes back within S seconds.
  probe.py answered --bind IP --target IP:PORT [--wait S]
      Sends one OPTIONS; exit 0 when an answer comes back.

Every run is bounded: a fixed number of requests and a fixed wait for each.
"""
import argparse
import hashlib
import random
import re
import socket
import sys
import time

METHODS = ["REGISTER", "INVITE", "OPTIONS", "MESSAGE"]
SDP = (
    "v=0\r\no=probe 1 1 IN IP4 {ip}\r\ns=probe\r\nc=IN IP4 {ip}\r\n"
    "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
)


def token(n=10):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


class Agent:
    def __init__(self, bind, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.ip, self.port = self.sock.getsockname()

    def request(self, method, user, cseq=1, call_id=None, from_tag=None, extra=""):
        """Builds an out-of-dialog request from `user` (as a phone would
        send it: From and To are the user, except INVITE/MESSAGE which go
        to the user from an outsider)."""
        host, port = self.target
        call_id = call_id or token(16)
        from_tag = from_tag or token(8)
        ruri = f"sip:{user}@{host}:{port}" if method != "REGISTER" else f"sip:{host}:{port}"
        me = user if method == "REGISTER" else "mallory"
        body = ""
        ctype = ""
        if method == "INVITE":
            body = SDP.format(ip=self.ip)
            ctype = "Content-Type: application/sdp\r\n"
        elif method == "MESSAGE":
            body = "hello"
            ctype = "Content-Type: text/plain\r\n"
        msg = (
            f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};rport;branch=z9hG4bK{token(12)}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{me}@{host}>;tag={from_tag}\r\n"
            f"To: <sip:{user}@{host}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{me}@{self.ip}:{self.port}>\r\n"
            + ("Expires: 60\r\n" if method == "REGISTER" else "")
            + extra
            + ctype
            + f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        return msg, ruri, call_id, from_tag

    def send(self, msg):
        self.sock.sendto(msg.encode(), self.target)

    def collect(self, wait):
        """Every datagram that arrives within `wait` seconds."""
        out = []
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return out
            out.append(data.decode("utf-8", "replace"))

    def ack(self, request, response):
        """ACK for a final non-2xx answer to an INVITE (same branch)."""
        via = header(request, "Via")
        lines = [
            f"ACK {request.split(' ', 2)[1]} SIP/2.0",
            f"Via: {via}",
            "Max-Forwards: 70",
            f"From: {header(request, 'From')}",
            f"To: {header(response, 'To')}",
            f"Call-ID: {header(request, 'Call-ID')}",
            f"CSeq: {header(request, 'CSeq').split()[0]} ACK",
            "Content-Length: 0",
        ]
        self.send("\r\n".join(lines) + "\r\n\r\n")


def header(msg, name):
    for line in msg.split("\r\n")[1:]:
        if not line:
            break
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return ""


def status(msg):
    parts = msg.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def normalise(msg, user):
    """The answer with what legitimately differs between two requests
    masked: per-request random values, ports, and the username we sent."""
    head = msg.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    rules = [
        (r"tag=[^;,>\s]+", "tag=*"),
        (r"branch=[^;,>\s]+", "branch=*"),
        (r'nonce="[^"]*"', 'nonce="*"'),
        (r'opaque="[^"]*"', 'opaque="*"'),
        (r"rport=\d+", "rport=*"),
        (r"(?im)^(Call-ID|i):.*$", r"\1: *"),
        (r"(?im)^(Content-Length|l):\s*\d+", r"\1: *"),
        (r"(127\.0\.0\.\d+):\d+", r"\1:*"),
    ]
    for pat, rep in rules:
        head = re.sub(pat, rep, head)
    return re.sub(rf"\b{re.escape(user)}\b", "<user>", head)


def digest(challenge, method, uri, user, password):
    """An Authorization value answering `challenge` (MD5 or SHA-256)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    alg = params.get("algorithm", "MD5")
    h = hashlib.sha256 if alg.upper().startswith("SHA-256") else hashlib.md5
    hx = lambda s: h(s.encode()).hexdigest()  # noqa: E731
    ha1 = hx(f"{user}:{params['realm']}:{password}")
    ha2 = hx(f"{method}:{uri}")
    value = f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", uri="{uri}", algorithm={alg}'
    if "qop" in params:
        cnonce = token(8)
        resp = hx(f"{ha1}:{params['nonce']}:00000001:{cnonce}:auth:{ha2}")
        value += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    else:
        resp = hx(f"{ha1}:{params['nonce']}:{ha2}")
    value += f', response="{resp}"'
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


def challenge_of(response):
    """The first challenge of a 401/407, preferring MD5."""
    found = re.findall(r"(?im)^(WWW-Authenticate|Proxy-Authenticate):(.*)$", response)
    if not found:
        return None, None
    kind = "Authorization" if found[0][0].lower() == "www-authenticate" else "Proxy-Authorization"
    md5 = [v for _, v in found if "MD5" in v.upper()]
    return kind, (md5 or [found[0][1]])[0].strip()


def exchange(agent, method, user, creds, wait):
    """One request to `user`; with `creds`, the challenge answered with a
    wrong password. Returns the answers received, in order."""
    msg, ruri, call_id, from_tag = agent.request(method, user)
    agent.send(msg)
    got = agent.collect(wait)
    final = [r for r in got if status(r) >= 200]
    if method == "INVITE":
        for r in final:
            agent.ack(msg, r)
    if not creds or not final or status(final[0]) not in (401, 407):
        return got
    kind, chal = challenge_of(final[0])
    if chal is None:
        return got
    auth = digest(chal, method, ruri, user, "not-the-password-" + token(4))
    msg2, _, _, _ = agent.request(
        method, user, cseq=2, call_id=call_id, from_tag=from_tag, extra=f"{kind}: {auth}\r\n"
    )
    agent.send(msg2)
    got2 = agent.collect(wait)
    if method == "INVITE":
        for r in got2:
            if status(r) >= 200:
                agent.ack(msg2, r)
    return got + got2


def diff(args):
    agent = Agent(args.bind, args.target)
    users = args.users.split(",")
    ok = True
    for method in METHODS:
        seen = {}
        for u in users:
            answers = exchange(agent, method, u, args.creds, args.wait)
            seen[u] = [normalise(a, u) for a in answers]
        first = seen[users[0]]
        codes = " ".join(str(status(a)) for a in first) or "no answer"
        same = all(seen[u] == first for u in users[1:])
        print(f"{'same   ' if same else 'DIFFERS'} {method:8} {'(wrong password) ' if args.creds else ''}answers: {codes}")
        if not same:
            ok = False
            for u in users:
                print(f"--- {u}:")
                for a in seen[u]:
                    print("    " + a.replace("\n", "\n    "))
    return 0 if ok else 1


def login(args):
    agent = Agent(args.bind, args.target)
    user = args.users.split(",")[0]
    method = args.method
    target = args.to if method == "INVITE" else user
    msg, ruri, call_id, from_tag = agent.request(method, target)
    if method == "INVITE":
        # From the consultant, not from an outsider.
        msg = msg.replace("sip:mallory@", f"sip:{user}@")
    agent.send(msg)
    got = agent.collect(args.wait)
    final = [r for r in got if status(r) >= 200]
    if method == "INVITE":
        for r in final:
            agent.ack(msg, r)
    kind, chal = challenge_of(final[0]) if final else (None, None)
    if chal is None:
        print(f"{method} as {user} from {args.bind}: no challenge ({[status(r) for r in got]})")
        return 1
    auth = digest(chal, method, ruri, user, args.password)
    msg2, _, _, _ = agent.request(
        method, target, cseq=2, call_id=call_id, from_tag=from_tag, extra=f"{kind}: {auth}\r\n"
    )
    if method == "INVITE":
        msg2 = msg2.replace("sip:mallory@", f"sip:{user}@")
    agent.send(msg2)
    got2 = agent.collect(args.wait)
    codes = [status(r) for r in got2]
    finals = [c for c in codes if c >= 200]
    if method == "INVITE":
        for r in got2:
            if status(r) >= 200:
                agent.ack(msg2, r)
    print(f"{method} as {user} with the password from {args.bind}: answers {codes or 'none'}")
    want = {int(c) for c in args.expect.split(",")}
    return 0 if finals and finals[0] in want else 1


def options(args):
    agent = Agent(args.bind, args.target)
    msg, _, _, _ = agent.request("OPTIONS", "probe")
    agent.send(msg)
    got = agent.collect(args.wait)
    print(f"OPTIONS from {args.bind}: {len(got)} answer(s) in {args.wait}s"
          + (f", first: {got[0].splitlines()[0]}" if got else ""))
    return got


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["diff", "login", "silent", "answered"])
    p.add_argument("--bind", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--users", default="ana,zed")
    p.add_argument("--creds", action="store_true")
    p.add_argument("--wait", type=float, default=1.0)
    p.add_argument("--method", default="REGISTER")
    p.add_argument("--password", default="")
    p.add_argument("--expect", default="200")
    p.add_argument("--to", default="")
    args = p.parse_args()
    if args.mode == "diff":
        sys.exit(diff(args))
    if args.mode == "login":
        sys.exit(login(args))
    got = options(args)
    if args.mode == "silent":
        sys.exit(0 if not got else 1)
    sys.exit(0 if got else 1)


if __name__ == "__main__":
    main()
