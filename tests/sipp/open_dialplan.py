#!/usr/bin/env python3
"""Writes a copy of a dialplan opened every day all day, without national
holidays, so a scripted run does not depend on the clock.

usage: open_dialplan.py SRC DST [TEAM_MEMBER]

The whole [hours] table (up to the next table) is replaced. With
TEAM_MEMBER, the shipped empty consulting team (`consulting = []`) gets
that one consultant. Used by tests/sipp/routing.sh, tests/ha/failover.sh
and bench/desk.sh.
"""
import re
import sys

src, dst = sys.argv[1], sys.argv[2]
member = sys.argv[3] if len(sys.argv) > 3 else None
text = open(src).read()
days = "".join(f'{d} = ["00:00-24:00"]\n' for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
days += "national_holidays = false\n"
text, n = re.subn(r"\[hours\]\n.*?(?=\n\[)", "[hours]\n" + days, text, flags=re.S)
assert n == 1, "the shipped [hours] block was not found"
if member is not None:
    text, n = re.subn(r"consulting = \[\]", f'consulting = ["{member}"]', text)
    assert n == 1, "the shipped consulting team was not found"
open(dst, "w").write(text)
