#!/usr/bin/env python3
"""Prints every criterion result as a ratio to the baseline of its group.

Reads target/criterion/<group>/<bench>/new/estimates.json (the median) as
written by `cargo bench`; the baseline of a group is its `parking_lot`
benchmark (for `graph-growth-*`, `parking_lot/<direction>`).
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = {}
for est in sorted(root.glob("*/**/new/estimates.json")):
    bench_dir = est.parent.parent
    rel = bench_dir.relative_to(root).parts
    group, bench = rel[0], "/".join(rel[1:])
    median = json.loads(est.read_text())["median"]["point_estimate"]
    rows.setdefault(group, {})[bench] = median


def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


for group in sorted(rows):
    benches = rows[group]
    print(f"\n{group}")
    for bench in sorted(benches):
        parts = bench.split("/")
        if len(parts) == 2:
            base = benches.get(f"parking_lot/{parts[1]}")
        elif group.startswith("threads-"):
            base = benches.get(bench.replace("-2", "-1")) if bench.endswith("-2") else benches.get("parking_lot-1")
        else:
            base = benches.get("parking_lot")
        ratio = f"{benches[bench] / base:6.2f}x" if base else "   -   "
        print(f"  {bench:<32} {fmt(benches[bench]):>12}   {ratio}")
