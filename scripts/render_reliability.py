#!/usr/bin/env python3
"""Writes docs/reliability.md from a template and the figures of a reliability run.

    render_reliability.py FIGURES_DIR TEMPLATE OUTPUT

Every producer (a test under tests/reliability/, scripts/fuzz.sh) writes one JSON file,
FIGURES_DIR/<name>.json, with at least {"producer": name, "records": [...]}. In the template,
a line "{{figures:<name>}}" is replaced by that producer's section: by the renderer
registered below for <name>, or by a generic table of its records when there is none; a
missing file gives "Not run". "{{figures:other}}" renders every file no marker named, and
"{{run}}" the line saying where the figures come from (run.json, by scripts/reliability.sh).

Adding a producer: write FIGURES_DIR/<name>.json from its test (tests/reliability/harness.py
has Figures), put "{{figures:<name>}}" where it belongs in the template, and add a renderer
here when the generic table is not enough.
"""

import collections
import json
import pathlib
import sys

NOT_RUN = "*Not run in this regeneration (no `{name}.json`).*"
ROLE_ORDER = ["master postmaster", "slave postmaster", "coordinator agent", "peer agent"]
RECOVERY_ABBREV = [("restart agent", "restart"), ("instance/failover/restart", "failover"),
                   ("instance/all", "all"), ("instance/slave", "slave"),
                   ("pg/sync", "sync"), ("DELETE instance/current", "stop")]


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if h.startswith("#") or h.endswith(" (n)") else "---"
                          for h in header) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                     for c in row) + " |")
    return "\n".join(out)


def num(n):
    return f"{n:,}".replace(",", " ")


# ---- fault injection -----------------------------------------------------------------------

def _role_step(entry):
    step = entry.get("step", "")
    for name, role in entry.get("roles", {}).items():
        step = step.replace(name, role)
    return step


def _recovery_short(calls):
    if not calls:
        return "none"
    parts = []
    for call in calls:
        for key, short in RECOVERY_ABBREV:
            if key in call:
                parts.append(short)
                break
        else:
            parts.append("?")
    return "+".join(parts)


def _cell(entry):
    if not entry.get("ok"):
        return "**FAILED**: " + entry.get("error", "")[:120]
    if not entry.get("fired"):
        return "not reached"
    answer = entry.get("answer")
    answer = "no answer" if answer is None else str(answer)
    lost = entry.get("lost", 0)
    cell = f"{answer}; {_recovery_short(entry.get('recovery'))}; {lost} lost"
    if entry.get("kill") != "killed":
        return "(not running) " + cell
    return cell


def render_faults(data):
    records = data["records"]
    out = []
    ops = list(dict.fromkeys(r["operation"] for r in records))
    total = len(records)
    fired = sum(1 for r in records if r.get("fired"))
    ok = sum(1 for r in records if r.get("ok"))
    killed = sum(1 for r in records if r.get("kill") == "killed")
    out.append(f"{num(total)} runs; in {num(fired)} the point was reached, and in {num(killed)} "
               f"of those the target ran and was killed (a postmaster already stopped at that "
               f"step is \"not running\"); **{num(ok)} runs ended in a sound cluster**, "
               f"{num(total - ok)} did not.")
    out.append("")
    out.append("Acknowledged writes lost, per operation and killed process (each run's writer "
               "inserts until the cluster is sound again; a row is lost when the server "
               "acknowledged its commit and it is not on the final master):")
    out.append("")
    rows = []
    per = collections.OrderedDict()
    for r in records:
        per.setdefault((r["operation"], r["target"]), []).append(r)
    for (op, target), rs in per.items():
        done = [r for r in rs if r.get("ok")]
        lost = [r.get("lost", 0) for r in done]
        rows.append([op, target, len(rs), len(done), num(sum(r.get("acknowledged", 0)
                                                            for r in done)),
                     sum(lost), sum(1 for x in lost if x), max(lost) if lost else 0])
    out.append(table(["operation", "killed", "runs (n)", "sound after (n)",
                      "acknowledged (n)", "lost (n)", "runs losing (n)", "most in a run (n)"],
                     rows))
    for op in ops:
        rs = [r for r in records if r["operation"] == op]
        targets = [t for t in ROLE_ORDER if any(r["target"] == t for r in rs)]
        out.append("")
        out.append(f"#### {op}")
        out.append("")
        points = list(dict.fromkeys((r["index"], r["when"]) for r in rs))
        rows = []
        for index, when in points:
            at = [r for r in rs if r["index"] == index and r["when"] == when]
            steps = collections.Counter(_role_step(r) for r in at if r.get("step"))
            label = steps.most_common(1)[0][0] if steps else "(none: the operation ended)"
            cells = []
            for t in targets:
                e = next((r for r in at if r["target"] == t), None)
                cells.append(_cell(e) if e else "")
            rows.append([f"{index} {when}", label] + cells)
        out.append(table(["point", "step (as the coordinator records it)"] + targets, rows))
    out.append("")
    out.append("A cell: \"(not running)\" when the process to kill was already stopped at "
               "that step; the operation's HTTP answer to its caller (\"no answer\": the "
               "coordinating agent was the one killed); the recovery calls that were needed "
               "(\"none\": the cluster was already sound; restart = the killed agent started "
               "again, all = `POST instance/all`, slave = `POST instance/slave`, failover = "
               "`POST instance/failover/restart`, sync = `pg/sync`); acknowledged rows lost.")
    failures = [r for r in records if not r.get("ok")]
    if failures:
        out.append("")
        out.append("Runs that did not recover:")
        out.append("")
        for r in failures:
            out.append(f"- {r['operation']}, {r['index']} {r['when']}, {r['target']}: "
                       f"{r.get('error', '')[:400]}")
    return "\n".join(out)


# ---- failover when the old master's host is gone ---------------------------------------------

def render_async_loss(data):
    records = data["records"]
    rows = []
    for method in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == method]
        done = [r for r in rs if r.get("ok")]
        lost = [r.get("lost", 0) for r in done]
        resync = sum(1 for r in done if any("pg/sync" in c for c in r.get("recovery", [])))
        rows.append([f"failover {method}?force=true", len(rs), len(done),
                     num(sum(r.get("acknowledged", 0) for r in done)), sum(lost),
                     sum(1 for x in lost if x), max(lost) if lost else 0, resync])
    out = [table(["operation", "rounds (n)", "sound after (n)", "acknowledged (n)", "lost (n)",
                  "rounds losing (n)", "most in a round (n)",
                  "old master re-created with pg/sync (n)"], rows), "",
           table(["operation", "round", "acknowledged before the kill (n)", "lost (n)",
                  "lost rows", "recovery calls"],
                 [[f"failover {r['method']}", r["round"],
                   num(r.get("acknowledged_at_kill", 0)), r.get("lost", "-"),
                   ", ".join(map(str, r.get("lost_sample", []))) or "-",
                   "; ".join(c.split(" (")[0] for c in r.get("recovery", [])) or
                   ("**FAILED**: " + r.get("error", "")[:200] if not r.get("ok") else "none")]
                  for r in records])]
    return "\n".join(out)


# ---- crash-safe writes ---------------------------------------------------------------------

def render_crash_writes(data):
    rows = []
    for r in data["records"]:
        rows.append([r["writer"], f"`{r['file']}`", r["stage"],
                     "killed" if r.get("killed") else "not reached", r["content"],
                     r["expected"], r.get("temp_left", 0),
                     "yes" if r.get("temp_removed_by_next_write") else "no",
                     "yes" if r.get("recovered") else "no"])
    bad = sum(1 for r in data["records"]
              if r["content"] not in (r["expected"], "unchanged") or not r.get("recovered"))
    head = (f"{len(rows)} kills, {bad} left a file other than the old or the new one, "
            f"or a cluster that did not recover.")
    return head + "\n\n" + table(
        ["writer", "file", "killed after", "agent", "file then", "expected", "temp files left",
         "removed by next write", "cluster recovered"], rows)


# ---- concurrency ---------------------------------------------------------------------------

def render_concurrency(data):
    s = data.get("summary")
    if not s:
        return "*The run stopped before its summary.*"
    meta = data.get("meta", {})
    lines = [
        f"{meta.get('threads')} client threads sending requests back to back to both agents "
        f"for {meta.get('seconds', '?')} s: {num(s['requests'])} requests, done in "
        f"{s['wall_seconds']} s (the slowest answered in {s['max_seconds']} s).",
        "",
        table(["figure", "value"], [
            ["answered 200", num(s["ok"])],
            ["409, another operation running", num(s["busy_409"])],
            ["409, refused in that state (e.g. failover while the master runs)",
             num(s["refused_409"])],
            ["503 + Retry-After on a read (GET instance/all, lsn/all) as a server it asks "
             "stops or starts", num(s.get("read_unavailable", 0))],
            ["any other answer, or none", num(s["other"])],
            ["switchovers that succeeded", s["switchovers_ok"]],
            ["failovers that succeeded (must be 0: the master ran)", s["failovers_ok"]],
            ["final master as the parity of successful switchovers says",
             "yes" if s["parity_ok"] else "**no**"],
            ["monitor samples (both servers asked every 20 ms)", num(s["monitor_samples"])],
            ["samples with two servers accepting writes", s["two_primaries_samples"]],
            ["samples with a server whose error left its state unknown / blind (primaries "
             "plus unknowns reach two; at most a quarter)",
             f"{num(s.get('unknown_samples', 0))} / {num(s.get('blind_samples', 0))}"],
            ["client threads still waiting at the end (deadlock)", s["hung_threads"]],
            ["rows acknowledged to the writer / lost", f"{num(s['acknowledged'])} / "
                                                       f"{s['lost']}"],
            ["recovery calls needed afterwards", len(s.get("recovery", []))],
        ]),
        "",
        table(["request", "200 (n)", "409 busy (n)", "409 refused (n)", "other (n)"],
              [[k, v.get("ok", 0), v.get("409 busy", 0), v.get("409 refused", 0),
                ", ".join(f"{n} x {c}" for c, n in v.items()
                          if c not in ("ok", "409 busy", "409 refused")) or 0]
               for k, v in sorted(s["by_request"].items())]),
    ]
    return "\n".join(lines)


# ---- hostile input -------------------------------------------------------------------------

def render_hostile(data):
    records = [r for r in data["records"] if "status" in r]
    details = [r for r in data["records"] if "status" not in r]
    rows = []
    for r in records:
        status = "closed" if r["status"] is None else r["status"]
        rows.append([r["category"], r["request"], status, ", ".join(map(str, r["expected"])),
                     "yes" if r["nothing_written"] else "**no**",
                     "yes" if r["ok"] else "**no**"])
    bad = sum(1 for r in records if not r["ok"])
    written = sum(1 for r in records if not r["nothing_written"])
    out = [f"{len(records)} requests; {written} changed a file; {bad} answered outside what "
           "the row allows, wrote, started PostgreSQL or stopped the agent.", "",
           table(["kind", "request", "answer", "allowed", "nothing written", "as expected"],
                 rows)]
    for d in details:
        extra = ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("category", "request"))
        out += ["", f"{d['request'][len('detail: '):].capitalize()}: {extra}."]
    return "\n".join(out)


# ---- fuzzing -------------------------------------------------------------------------------

def render_fuzz(data):
    rows = [[f"`{r['target']}`", num(r["executions"]), num(r["exec_per_sec"]),
             f"{num(r['cov_start'])} → {num(r['cov_end'])}", num(r["corpus_end"]),
             r["crashes"]] for r in data["records"]]
    head = (f"{data.get('seconds_per_target')} s per target, {data.get('jobs')} at a time, "
            f"{data.get('compiler', 'clang')}; started {data.get('started', '?')}. Edges are "
            "libFuzzer's `cov:` at the start (seeds only) and the end.")
    return head + "\n\n" + table(["Target", "Executions (n)", "Exec/s (n)",
                                  "Edges (seeds → end)", "Corpus at end (n)", "Crashes (n)"],
                                 rows)


# ---- generic -------------------------------------------------------------------------------

def render_generic(data):
    records = data.get("records", [])
    keys = []
    for r in records:
        for k, v in r.items():
            if k not in keys and not isinstance(v, (dict, list)):
                keys.append(k)
    out = []
    if data.get("summary"):
        out.append(table(["figure", "value"], [[k, json.dumps(v) if isinstance(v, (dict, list))
                                                 else v] for k, v in data["summary"].items()]))
    if records:
        out.append(table(keys, [[r.get(k, "") for k in keys] for r in records]))
    return "\n\n".join(out) if out else "*No records.*"


RENDERERS = {"faults": render_faults, "async_loss": render_async_loss,
             "crash_writes": render_crash_writes,
             "concurrency": render_concurrency, "hostile": render_hostile,
             "fuzz": render_fuzz}


def render_run(figures_dir):
    path = figures_dir / "run.json"
    if not path.exists():
        return "*Where these figures come from was not recorded (no `run.json`).*"
    r = json.loads(path.read_text())
    return (f"Figures of `{r.get('command', 'scripts/reliability.sh')}` at commit "
            f"`{r.get('commit', '?')}`, {r.get('date', '?')}, on {r.get('machine', '?')}.")


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    figures_dir, template, output = pathlib.Path(argv[1]), pathlib.Path(argv[2]), \
        pathlib.Path(argv[3])
    files = {p.stem: json.loads(p.read_text()) for p in sorted(figures_dir.glob("*.json"))
             if p.stem != "run"}
    text = template.read_text()
    named = set()
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "{{run}}":
            lines.append(render_run(figures_dir))
        elif stripped.startswith("{{figures:") and stripped.endswith("}}"):
            name = stripped[len("{{figures:"):-2]
            if name == "other":
                rest = [n for n in files if n not in named and n not in RENDERERS]
                for n in rest:
                    lines += [f"### {n}", "", render_generic(files[n]), ""]
                if not rest:
                    lines.append("*None.*")
                continue
            named.add(name)
            if name in files:
                lines.append(RENDERERS.get(name, render_generic)(files[name]))
            else:
                lines.append(NOT_RUN.format(name=name))
        else:
            lines.append(line)
    output.write_text("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main(sys.argv)
