#!/usr/bin/env python3
"""Seed a protocall directory for bench/desk.sh through the admin API.

usage: desk_seed.py BASE_URL TOKEN BENCH_DB CONSULTANTS OWNER_HOSTPORT

The directory (providers and numbers) is already imported with
`protocall import`; this adds what the CSV import does not carry:
- the consultants consultant-1 .. consultant-N (password from
  `password_of`, the same one the REGISTER injection file uses);
- one open protocol per consulting provider of the peer's data set
  (BENCH_DB, table caller_routing), owned by the consultant the peer's
  `owner_uri` names, so the dialplan's `owner` step sends the call to the
  UAS that expects it.
Then it checks, through GET /api/lookup, that a consulting caller's number
has a valid contract and an open protocol of the expected owner and that a
non-consulting caller's has no contract. Exits non-zero on any surprise.
"""
import json
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request

base, token, bench_db, n_consultants, owner_hostport = sys.argv[1:6]
n_consultants = int(n_consultants)


def password_of(user):  # bench-only credentials, also written to the REGISTER injection file
    return f"bench-{user}-pw"


def api(method, path, body=None):
    req = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: HTTP {e.code} {e.read()[:300]!r}")


consultant_ids = {}
for k in range(1, n_consultants + 1):
    user = f"consultant-{k}"
    c = api("POST", "/api/consultants",
            {"name": f"Consultant {k}", "sip_username": user, "password": password_of(user)})
    consultant_ids[user] = c["id"]

db = sqlite3.connect(f"file:{bench_db}?mode=ro", uri=True)
rows = db.execute(
    "SELECT provider, min(number), owner_uri FROM caller_routing"
    " WHERE consulting = 1 GROUP BY provider, owner_uri ORDER BY provider_id").fetchall()
suffix = "@" + owner_hostport
opened = 0
checks = {}
for provider, number, owner_uri in rows:
    if not (owner_uri.startswith("sip:") and owner_uri.endswith(suffix)):
        sys.exit(f"unexpected owner_uri {owner_uri!r} (OWNER_HOSTPORT {owner_hostport})")
    user = owner_uri[len("sip:"):-len(suffix)]
    if user not in consultant_ids:
        sys.exit(f"{owner_uri} names no bench consultant (CONSULTANTS={n_consultants})")
    found = api("GET", "/api/lookup?" + urllib.parse.urlencode({"number": "+" + number}))
    pid = found["provider"]["id"]
    api("POST", "/api/protocols",
        {"provider_id": pid, "owner_id": consultant_ids[user], "subject": f"bench {provider}"})
    opened += 1
    checks.setdefault("consulting", (number, consultant_ids[user]))

# What routing will see: a consulting caller with its owner's open protocol,
# a provider without a contract.
num, owner_id = checks["consulting"]
got = api("GET", "/api/lookup?" + urllib.parse.urlencode({"number": num}))
owners = [p.get("owner_id") for p in got["open_protocols"]]
if not got["consulting_active"] or owners != [owner_id]:
    sys.exit(f"lookup {num}: consulting_active={got['consulting_active']} owners={owners}, wanted [{owner_id}]")
(plain,) = db.execute("SELECT min(number) FROM caller_routing WHERE consulting = 0").fetchone()
got = api("GET", "/api/lookup?" + urllib.parse.urlencode({"number": plain}))
if got["consulting_active"] or got["provider"] is None:
    sys.exit(f"lookup {plain}: expected a known provider without a consulting contract: {got}")
print(f"seeded: {len(consultant_ids)} consultants, {opened} open protocols; lookups as expected")
