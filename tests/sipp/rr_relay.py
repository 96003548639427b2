#!/usr/bin/env python3
"""Minimal record-routing UDP relay, only for checking uac.xml/uas.xml
route-set handling without protocall: listens on 127.0.0.1:5190, forwards
what the UAC (127.0.0.1:5180) sends to the UAS (127.0.0.1:5182) and back,
adds `Record-Route: <sip:127.0.0.1:5190;lr>` to INVITEs and removes that
Route entry from requests that carry it. Exits after 30 s."""
import socket, sys, time

ME, UAC, UAS = ("127.0.0.1", 5190), ("127.0.0.1", 5180), ("127.0.0.1", 5182)
RR = b"Record-Route: <sip:127.0.0.1:5190;lr>\r\n"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(ME)
s.settimeout(1.0)
end = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 30)
while time.time() < end:
    try:
        data, src = s.recvfrom(65535)
    except socket.timeout:
        continue
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"SIP/2.0"):
        lines = [l for l in lines if l != b"Route: <sip:127.0.0.1:5190;lr>"]
        if lines[0].startswith(b"INVITE "):
            lines.insert(1, RR.rstrip(b"\r\n"))
    s.sendto(b"\r\n".join(lines) + sep + body, UAS if src == UAC else UAC)
