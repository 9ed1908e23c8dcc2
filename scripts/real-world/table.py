#!/usr/bin/env python3
"""The Markdown table of scripts/real-world.sh.

usage: table.py OUT REPO TARGET...

Reads, for each TARGET, OUT/results/T-{plain,shim}.env (build status and
timings), the logs OUT/logs/T-{plain,shim}.log (libtest's "test result:"
lines) and OUT/logs/T-shim.summary.jsonl (one LOCKDEP_SUMMARY line per test
process). Prints the table, then every distinct report. Exits 1 if a suite
did not build or the two runs passed different numbers of tests.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

RESULT = re.compile(r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored")
FAILED = re.compile(r"^test (.+) \.\.\. FAILED$")
CRASH = re.compile(r"process didn't exit successfully: .*\((signal: .*|exit status: (?!101\)).*)\)")
REGISTRY = re.compile(r"^.*/registry/src/[^/]+/")


def env(path):
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            k, _, v = line.partition("=")
            out[k] = v
    return out


def tests(log):
    """Passed, failed, ignored, failed test names, crashed binaries."""
    passed = failed = ignored = 0
    names, crashes = [], []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            m = RESULT.match(line)
            if m:
                passed += int(m.group(1))
                failed += int(m.group(2))
                ignored += int(m.group(3))
            m = FAILED.match(line)
            if m:
                names.append(m.group(1))
            m = CRASH.search(line)
            if m:
                crashes.append(line.strip())
    return passed, failed, ignored, names, crashes


def short(site, out, target):
    site = REGISTRY.sub("", site)
    for prefix in (f"{out}/shim/{target}/", f"{out}/src/{target}/"):
        if site.startswith(prefix):
            site = site[len(prefix):]
    return site


def summary(path, out, target):
    """Processes, incomplete lines, max and sum of the counts, distinct reports
    (by kind and acquisition sites)."""
    procs, incomplete = 0, 0
    agg = {k: [0, 0] for k in ("classes", "direct_dependencies", "chains")}
    reports = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                s = json.loads(line)
            except ValueError:
                incomplete += 1
                continue
            procs += 1
            if not s.get("complete"):
                incomplete += 1
            for k, (mx, total) in agg.items():
                v = s.get(k)
                if isinstance(v, int):
                    agg[k] = [max(mx, v), total + v]
            for r in s.get("reports") or []:
                # A problem is its kind and its acquisition sites: class
                # names are not stable across processes (`file#2` is the
                # second class of that file registered in the process).
                sites = [short(site, out, target) for site in r["sites"]]
                key = (r["kind"], tuple(sorted(sites)))
                entry = reports.setdefault(key, {"classes": [], "sites": sites, "exes": set()})
                entry["exes"].add(s.get("exe", "").rsplit("-", 1)[0])
                for c in r["classes"]:
                    c = short(c, out, target)
                    if c not in entry["classes"]:
                        entry["classes"].append(c)
    return procs, incomplete, agg, reports


def secs(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def main():
    out, repo, targets = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    ok = True
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    rows, details = [], []
    for t in targets:
        plain, shim = env(out / "results" / f"{t}-plain.env"), env(out / "results" / f"{t}-shim.env")
        tp, ts = tests(out / "logs" / f"{t}-plain.log"), tests(out / "logs" / f"{t}-shim.log")
        procs, incomplete, agg, reports = summary(out / "logs" / f"{t}-shim.summary.jsonl", out, t)
        built = plain.get("build") == "ok" and shim.get("build") == "ok"
        same = built and tp[0] == ts[0] and tp[1] == ts[1]
        ok = ok and same
        rp, rs = secs(plain.get("run")), secs(shim.get("run"))
        dp, ds = secs(plain.get("doc")), secs(shim.get("doc"))
        ratio = f"{rs / rp:.2f}×" if rp > 0 else "–"
        docs = f"{dp:.0f} s / {ds:.0f} s" if dp or ds else "–"
        ran = bool(plain) and bool(shim)
        verdict = (
            "equal" if same else "**DIFFERENT**" if built else "**build failed**" if ran else "**not run**"
        )
        rows.append(
            f"| {t} | {tp[0]} / {ts[0]} ({verdict}) | {tp[1]} / {ts[1]} | {rp:.1f} s / {rs:.1f} s | {ratio} | {docs} "
            f"| {agg['classes'][0]} / {agg['classes'][1]} | {agg['direct_dependencies'][0]} / "
            f"{agg['direct_dependencies'][1]} | {agg['chains'][0]} / {agg['chains'][1]} | {procs}"
            f"{f' ({incomplete} incomplete)' if incomplete else ''} | {len(reports)} |"
        )
        d = [f"### {t}", ""]
        opt = "lock crates at opt-level 3" if shim.get("opt", "1") == "1" else "lock crates unoptimized (`--unoptimized`)"
        d += [f"Dev profile, {opt}.", ""]
        if shim.get("nested"):
            d += [f"Shimmed run with `LOCKDEP_NESTED_SITES={shim['nested']}`.", ""]
        bp, bs = secs(plain.get("build_s")), secs(shim.get("build_s"))
        if bp or bs:
            d += [f"Built (`--no-run`, untimed in the table) in {bp:.0f} s published, {bs:.0f} s with the shim.", ""]
        for label, (p, f, i, names, crashes) in (("published", tp), ("with the shim", ts)):
            if f or crashes:
                d.append(f"Failed {label}: {', '.join(names) or '(none by name)'}")
                d.extend(f"    {c}" for c in crashes)
                d.append("")
        if reports:
            d.append("| kind | classes (names as each process numbered them) | acquisition sites | test binaries |")
            d.append("|---|---|---|---|")
            for (kind, _), e in sorted(reports.items()):
                d.append(
                    f"| {kind} | {', '.join(f'`{c}`' for c in e['classes'])} | "
                    f"{'<br>'.join(f'`{s}`' for s in e['sites'])} | {', '.join(sorted(e['exes']))} |"
                )
        else:
            d.append("No reports.")
        d.append("")
        details.append("\n".join(d))
    print(f"## Real-world suites (lockdep {commit})\n")
    print(
        "| target | tests passed (published / shim) | failed (published / shim) | run time (published / shim) "
        "| slowdown | doctests (published / shim) | classes (max / Σ) | dependencies (max / Σ) "
        "| chains (max / Σ) | processes | distinct reports |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        "\nTimes are the suites' runs, not their builds (built first with `--no-run`); doctests, compiled by "
        "rustdoc during their run, apart. Counts are per test process (one per test binary): the largest and "
        "the sum over processes.\n"
    )
    print("\n".join(details))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
