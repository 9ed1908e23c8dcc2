#!/usr/bin/env python3
"""Lists the import cycles between lockdep's modules, reading `crate::X` /
`crate::X::Y` / `super::X` paths in code (comments and doc comments are
ignored). A module is a file: `crate::save::format` is `save/format.rs`,
`crate::save` is `save/mod.rs`. Two graphs are checked: the crate's modules
(a path into a directory module counts as its `mod.rs` unless it names one of
its files), and the engine's files among themselves. Exits 1 when there is a
cycle.

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
        me = "/".join(mod)
        for m in re.finditer(r"(?<![\w$])crate::([a-z_]+)(?:::([a-z_]+))?", text):
            dep, sub = m.group(1), m.group(2)
            if os.path.isdir(os.path.join(root, dep)):
                node = f"{dep}/{sub}" if sub and os.path.exists(os.path.join(root, dep, sub + ".rs")) else dep
            elif os.path.exists(os.path.join(root, dep + ".rs")):
                node = dep
            else:
                continue
            # The engine's files are one node here (their own graph is below).
            src = "engine" if top == "engine" else me
            node = "engine" if node.startswith("engine/") else node
            if node != src and not (len(mod) > 1 and node == top and top != "engine"):
                top_edges.setdefault(src, set()).add(node)
        if len(mod) > 1 and top != "engine":
            # A directory module's files see their siblings through super::.
            for m in re.finditer(r"(?<![\w$])super::([a-z_]+)", text):
                sib = m.group(1)
                if sib != mod[-1] and os.path.exists(os.path.join(root, top, sib + ".rs")):
                    top_edges.setdefault(me, set()).add(f"{top}/{sib}")
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
