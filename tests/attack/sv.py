"""Runs a SIPVicious tool from a chosen local address.

  python3 sv.py BIND_IP /usr/bin/svcrack ARGS...

SIPVicious 0.3.3 (Debian's) accepts `-b BINDINGIP` but svwar and svcrack
never pass it on: they bind to every address, so against 127.0.0.1 they send
from 127.0.0.1, where the legitimate phones are. This makes an unspecified
bind address mean BIND_IP and then runs the unmodified tool, so the attack
comes from the address the test says. Run it with the tool's own
interpreter (its #! line), where the sipvicious package is installed.
"""
import os
import runpy
import socket
import sys

bind_ip, tool, *args = sys.argv[1:]
# As when the tool runs itself: its real folder first on the path (Debian
# keeps the package and its metadata next to the entry scripts).
tool = os.path.realpath(tool)
sys.path.insert(0, os.path.dirname(tool))
real_bind = socket.socket.bind


def bind(self, address):
    if isinstance(address, tuple) and address[0] in ("", "0.0.0.0"):
        address = (bind_ip,) + tuple(address[1:])
    return real_bind(self, address)


socket.socket.bind = bind
sys.argv = [tool] + args
runpy.run_path(tool, run_name="__main__")
