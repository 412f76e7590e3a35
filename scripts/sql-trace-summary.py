#!/usr/bin/env python3
"""sql-trace-summary.py TRACE... -- what SQL pgha ran on each PostgreSQL major.

Each TRACE is a file of "<server_version_num>\\t<statement>" lines (PGHA_SQL_TRACE of a test
build: src/postgres/pq_session.cpp), as scripts/test-matrix.sh collects one per major. A
statement is counted once whatever its literals and quoted names (a slot, role or table name
is a parameter of the same statement); statements are grouped by the major of the server that
answered them. Prints Markdown: per major the distinct statements run there, then every
statement that ran on some majors but not on all of them, with the majors it ran on: a
version branch of pgha's (e.g. flushed_lsn from 13 on, received_lsn before), or a path the run
did not take on a major. Every statement in a trace was answered without an error or the
suite that sent it failed, unless the caller expected the error (pgha's own retries).
"""

import collections
import re
import sys

LITERAL = re.compile(r"'(?:[^']|'')*'")
IDENT = re.compile(r'"(?:[^"]|"")*"')
NUMBER = re.compile(r"\d+")


def normalise(sql: str) -> str:
    sql = LITERAL.sub("'?'", sql)
    sql = IDENT.sub('"?"', sql)
    sql = NUMBER.sub("N", sql)
    return re.sub(r"\s+", " ", sql).strip()


def main(paths):
    by_major = collections.defaultdict(set)
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                version, _, sql = line.rstrip("\n").partition("\t")
                if not version.isdigit() or not sql:
                    continue
                by_major[int(version) // 10000].add(normalise(sql))
    majors = sorted(by_major)
    if not majors:
        print("No SQL traced (PGHA_SQL_TRACE needs a build with -DPGHA_FAULT_POINTS=ON).")
        return 1
    print("| major | distinct statements pgha ran |")
    print("|---|---|")
    for m in majors:
        print(f"| {m} | {len(by_major[m])} |")
    everywhere = set.intersection(*(by_major[m] for m in majors))
    partial = sorted(set.union(*(by_major[m] for m in majors)) - everywhere)
    print()
    print(f"{len(everywhere)} statements ran on every major traced ({', '.join(map(str, majors))}).")
    if partial:
        print("Statements that ran on some majors only:")
        print()
        print("| ran on | statement |")
        print("|---|---|")
        for sql in partial:
            on = ", ".join(str(m) for m in majors if sql in by_major[m])
            shown = sql if len(sql) <= 160 else sql[:157] + "..."
            print(f"| {on} | `{shown.replace('|', '¦')}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
