"""Generators for the string formats protocall's OpenAPI document declares
beyond JSON Schema's own (`phone`, `cnpj`, `iso-week`, `time-range`, `directory-csv`).

A custom format is a rule the document states in words, because no
pattern can: a telephone number valid where it is dialled, a CNPJ whose
check digits are right, a week the year has, a range that ends after it
starts. Schemathesis generates values for a format only when it is told
how, so these generators produce every kind of value each format's
description admits, in the spellings it names; they do not narrow what
the checks look at. run.sh loads this file through SCHEMATHESIS_HOOKS.
"""

import datetime

import schemathesis
from hypothesis import strategies as st

# Brazilian area codes (DDD) that libphonenumber knows.
AREAS = (
    [str(n) for n in range(11, 20)]
    + ["21", "22", "24", "27", "28"]
    + ["31", "32", "33", "34", "35", "37", "38"]
    + [str(n) for n in range(41, 50)]
    + ["51", "53", "54", "55"]
    + [str(n) for n in range(61, 70)]
    + ["71", "73", "74", "75", "77", "79"]
    + [str(n) for n in range(81, 90)]
    + [str(n) for n in range(91, 100)]
)


@st.composite
def brazilian_number(draw):
    """(area, subscriber) of a mobile (9 + 8 digits) or a landline ([2-5] + 7)."""
    area = draw(st.sampled_from(AREAS))
    digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
    if draw(st.booleans()):
        rest = "".join(draw(digits) for _ in range(8))
        subscriber = "9" + rest
    else:
        first = draw(st.sampled_from("2345"))
        subscriber = first + "".join(draw(digits) for _ in range(7))
    return area, subscriber


@st.composite
def phone(draw):
    area, sub = draw(brazilian_number())
    head, tail = sub[:-4], sub[-4:]
    spellings = [
        f"+55{area}{sub}",
        f"+55 {area} {head}-{tail}",
        f"0{area}{sub}",
        f"0 21 {area} {head}-{tail}",
        "+1 650 253 0000",
    ]
    # Without the trunk prefix, area code 55 reads as the country code
    # (the format's description says so).
    if area != "55":
        spellings += [f"({area}) {head}-{tail}", f"{area} {sub}"]
    return draw(st.sampled_from(spellings))


@st.composite
def cnpj(draw):
    base = draw(st.lists(st.integers(0, 9), min_size=12, max_size=12))
    if len(set(base)) == 1:
        base[0] = (base[0] + 1) % 10
    digits = list(base)
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        r = sum(d * w for d, w in zip(digits, weights)) % 11
        digits.append(0 if r < 2 else 11 - r)
    s = "".join(map(str, digits))
    if draw(st.booleans()):
        return f"{s[:2]}.{s[2:5]}.{s[5:8]}/{s[8:12]}-{s[12:]}"
    return s


@st.composite
def iso_week(draw):
    year = draw(st.integers(1900, 2200))
    weeks = datetime.date(year, 12, 28).isocalendar()[1]
    week = draw(st.integers(1, weeks))
    return f"{year:04d}-W{week:02d}"


@st.composite
def time_range(draw):
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(start + 1, 24 * 60))

    def clock(minute):
        h, m = divmod(minute, 60)
        hour = str(h) if h < 10 and draw(st.booleans()) else f"{h:02d}"
        return f"{hour}:{m:02d}"

    space = st.sampled_from(["", " "])
    return f"{draw(space)}{clock(start)}{draw(space)}-{draw(space)}{clock(end)}{draw(space)}"


schemathesis.openapi.format("phone", phone())
schemathesis.openapi.format("cnpj", cnpj())
schemathesis.openapi.format("iso-week", iso_week())
schemathesis.openapi.format("time-range", time_range())


@st.composite
def directory_csv(draw):
    """A directory import every row of which is valid: distinct providers,
    each with a number."""
    names = draw(
        st.lists(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12).filter(
                lambda s: s.strip()
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda s: s.strip(),
        )
    )
    rows = ["provider,number"]
    for name in names:
        area, sub = draw(brazilian_number())
        rows.append(f"{name.strip()},+55{area}{sub}")
    return "\n".join(rows) + "\n"


schemathesis.openapi.format("directory-csv", directory_csv())
