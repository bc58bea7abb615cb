#!/usr/bin/env python3
"""Fail when a log holds a phone number or an email address (DESIGN.md rule 10).

    scripts/pii_scan.py LOGFILE... [--known FILE]... [--known-db SQLITE]...

Every line of every LOGFILE is searched for
- an email address (also with the `@` written `%40`);
- a Vietnamese phone number, in E.164 (`+84…`, also `%2B84…` and `(+84)`), international
  without the plus (`84…`) or national (`0…`) form, 9–10 significant digits, with single
  spaces, dots or dashes anywhere between the digits;
- any value of a --known FILE (one phone number or email address a line; `#` starts a
  comment), a phone in any of those spellings or as its bare significant digits;
- any phone number or email address found in the text of a --known-db SQLite database
  (e.g. `outreach demo --keep DB`): what the run stored is what must not be logged.

Letters next to a number do not hide it here (`Tel0912345678` is a finding), unlike in the
masking rule, so the scan is the stricter of the two. Findings are printed as FILE:LINE and
the value masked (first three and last two characters), never the value itself.
Exit status: 0 clean, 1 findings, 2 bad usage (a missing file, a --known list with nothing in it).
"""

import argparse
import re
import sqlite3
import sys

# What may stand between two digits of a phone number: a space, dot, dash, `%20`, or the
# bracket closing a prefix.
SEP = r"(?:\) ?|[ .\-]|%20)?"
EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]*\w(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}", re.IGNORECASE)
PHONE = re.compile(
    # Not glued to letters or digits either side: ids such as `cmp_01a2…0946227657bdd` or
    # `…07228.20261130T0448Z`, and clock times (`01:20:07.993363305`) hold digit runs shaped
    # like numbers. (A known value is found even when glued: see `known_pattern`.)
    r"(?<![0-9A-Za-z_:])(?:"
    # +84, %2B84, (+84) or 84, then 9-10 digits.
    r"(?:\(?(?:\+|%2B)|(?<!\+))84" + SEP + r"[1-9](?:" + SEP + r"\d){8,9}"
    # 0, then 9-10 digits.
    r"|(?<!\+)\(?0[1-9](?:" + SEP + r"\d){8,9}"
    # Not part of a longer number, nor an hour (`01.10.2026 07:00`).
    r")(?![0-9A-Za-z_]|:\d)",
    re.IGNORECASE,
)


def phones(line):
    """The phone numbers in a line. A run of digit groups counts only if the groups after
    the first have at most 4 digits, or the second follows a prefix (`+84`, `(…)`, `84`,
    `0…` of up to 4 digits) as in `+84 912345678`: lists of unit codes (`07201 07228`)
    are not phone numbers."""
    pos = 0
    while match := PHONE.search(line, pos):
        text = re.sub("%2B", "+", re.sub("%20", " ", match.group(0)), flags=re.IGNORECASE)
        groups = re.findall(r"\d+", text)
        prefix = text.startswith(("+", "(")) or groups[0] == "84" or (groups[0].startswith("0") and len(groups[0]) <= 4)
        if all(len(g) <= 4 for g in groups[2:]) and (len(groups) < 2 or len(groups[1]) <= 4 or prefix):
            yield match.group(0)
            pos = match.end()
        else:
            # Try again from the second group: `07201 0912 345 678`.
            pos = match.start() + match.group(0).index(groups[1], match.group(0).index(groups[0]) + len(groups[0]))


def mask(value):
    value = value.strip()
    return value[:3] + "*" * max(len(value) - 5, 1) + value[-2:] if len(value) > 5 else "*" * len(value)


def significant_digits(phone):
    """The national significant number of a Vietnamese phone number in any spelling."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith(("+", "(+")) or (digits.startswith("84") and len(digits) in (11, 12)):
        return digits[2:]
    return digits[1:] if digits.startswith("0") else digits


def known_pattern(value):
    """A pattern for one known phone or email, in the spellings a log could hold it in."""
    value = value.strip()
    if "@" in value:
        local, domain = value.rsplit("@", 1)
        return re.compile(re.escape(local) + r"(?:@|%40)" + re.escape(domain), re.IGNORECASE)
    nsn = significant_digits(value)
    if len(nsn) < 8:
        raise ValueError(f"{mask(value)} is not a phone number or an email address")
    spaced = SEP.join(re.escape(d) for d in nsn)
    return re.compile(r"(?<!\d)(?:\(?(?:(?:\+|%2B)?84|0)" + SEP + r")?" + spaced + r"(?!\d)", re.IGNORECASE)


def read_known_list(path):
    with open(path, encoding="utf-8") as f:
        values = [line.split("#", 1)[0].strip() for line in f]
    return [v for v in values if v]


def read_known_db(path):
    """Every phone number and email address in the text columns of an SQLite database."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    values = set()
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            for row in db.execute(f"SELECT * FROM {quoted}"):
                for cell in row:
                    if isinstance(cell, bytes):
                        cell = cell.decode("utf-8", "replace")
                    if isinstance(cell, str):
                        values.update(m.group(0) for m in EMAIL.finditer(cell))
                        values.update(phones(cell))
    finally:
        db.close()
    return sorted(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", metavar="LOGFILE")
    parser.add_argument("--known", action="append", default=[], metavar="FILE",
                        help="a list of phone numbers and email addresses, one a line")
    parser.add_argument("--known-db", action="append", default=[], metavar="SQLITE",
                        help="an SQLite database whose phone numbers and email addresses are known values")
    args = parser.parse_args()

    known = set()
    try:
        for path in args.known:
            values = read_known_list(path)
            if not values:
                print(f"pii_scan: {path} lists no phone number or email address", file=sys.stderr)
                return 2
            known.update(values)
        for path in args.known_db:
            values = read_known_db(path)
            if not values:
                print(f"pii_scan: {path} holds no phone number or email address", file=sys.stderr)
                return 2
            known.update(values)
        patterns = [(mask(v), known_pattern(v)) for v in sorted(known)]
    except (OSError, sqlite3.Error, ValueError) as e:
        print(f"pii_scan: {e}", file=sys.stderr)
        return 2

    findings = lines = 0
    for path in args.logs:
        try:
            f = open(path, encoding="utf-8", errors="replace")
        except OSError as e:
            print(f"pii_scan: {e}", file=sys.stderr)
            return 2
        with f:
            for number, line in enumerate(f, 1):
                lines += 1
                found = [("email", m.group(0)) for m in EMAIL.finditer(line)]
                found += [("phone", value) for value in phones(line)]
                found = [(kind, mask(value)) for kind, value in found]
                found += [("known value", masked) for masked, pattern in patterns if pattern.search(line)]
                for kind, masked in found:
                    print(f"{path}:{number}: {kind} {masked}")
                findings += len(found)

    summary = f"{lines} lines in {len(args.logs)} files scanned, {len(known)} known values"
    if findings:
        print(f"pii_scan FAILED: {findings} phone numbers or email addresses in logs ({summary})", file=sys.stderr)
        return 1
    print(f"pii_scan: no phone number or email address ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
