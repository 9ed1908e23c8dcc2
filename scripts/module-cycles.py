#!/usr/bin/env python3
"""Lists the import cycles between lockdep's top-level modules (and inside
the engine), reading `crate::X` / `super::X` paths in code (comments and doc
comments are ignored). Exits 1 when there is a cycle.

    python3 scripts/module-cycles.py [lockdep/src]
"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "lockdep", "src")
root = os.path.normpath(root)

def module_of(path):
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts  # e.g. ['engine', 'graph'], ['lib'], ['sync', 'raw']

def code_lines(text):
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("//"):
            continue
        yield line.split("//")[0]

top_edges, eng_edges = {}, {}
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(dirpath, f)
        mod = module_of(path)
        if mod == ["lib"]:
            continue
        top = mod[0]
        text = "\n".join(code_lines(open(path).read()))
        for m in re.finditer(r"(?<![\w$])crate::([a-z_]+)", text):
            dep = m.group(1)
            if dep != top and os.path.exists(os.path.join(root, dep + ".rs")) or os.path.isdir(os.path.join(root, dep)):
                if dep != top:
                    top_edges.setdefault(top, set()).add(dep)
        if top == "engine" and len(mod) > 1:
            for m in re.finditer(r"(?<![\w$])super::([a-z_]+)", text):
                if m.group(1) != mod[1]:
                    eng_edges.setdefault(mod[1], set()).add(m.group(1))

def cycles(edges):
    found, seen = [], set()
    def dfs(n, stack, on):
        for d in sorted(edges.get(n, ())):
            if d in on:
                cyc = stack[stack.index(d):] + [d]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    found.append(cyc)
            elif len(stack) < 12:
                dfs(d, stack + [d], on | {d})
    for n in sorted(edges):
        dfs(n, [n], {n})
    return found

bad = False
for name, edges in (("lockdep", top_edges), ("lockdep::engine", eng_edges)):
    cs = cycles(edges)
    for c in cs:
        print(f"{name}: cycle " + " -> ".join(c))
    bad |= bool(cs)
print("no cycles" if not bad else "")
sys.exit(1 if bad else 0)
