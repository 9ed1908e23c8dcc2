#!/usr/bin/env bash
# Mutation testing: plants each small bug listed in scripts/mutants.txt, one
# at a time, in a scratch copy of the tree, runs the test suite against it and
# reports which mutations the suite caught and which survived.
#
#   scripts/mutants.sh              every mutation
#   scripts/mutants.sh NAME...      only these
#   scripts/mutants.sh --list       list the mutations
#   scripts/mutants.sh --check      only check that every snippet is found exactly once
#
# Environment:
#   MUTANTS_CMD      the suite (run from the scratch copy's root)
#                    [cargo test -p lockdep --features enabled --tests]
#   MUTANTS_FILE     the list of mutations [scripts/mutants.txt]
#   MUTANTS_DIR      scratch copy, its target dir and the logs [target/mutants]
#   MUTANTS_TIMEOUT  seconds per suite run; a run that times out counts as caught [1200]
#
# Exit status: 0 when every mutation was caught; 1 when one survived; 2 when
# a snippet is not found exactly once (code moved: update the list) or a
# mutation does not compile (it would prove nothing); 3 when the suite fails
# without any mutation.
#
# The working tree is never modified: the scratch copy holds the tracked and
# untracked (not ignored) files as they are now, uncommitted edits included.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
unset RUST_BACKTRACE

cmd=${MUTANTS_CMD:-cargo test -p lockdep --features enabled --tests}
list=${MUTANTS_FILE:-scripts/mutants.txt}
dir=${MUTANTS_DIR:-target/mutants}
limit=${MUTANTS_TIMEOUT:-1200}
case $list in /*) ;; *) list=$root/$list ;; esac
case $dir in /*) ;; *) dir=$root/$dir ;; esac

# The list's parser and the one place that edits source text.
#   mut names            the mutation names, one per line
#   mut check ROOT       every snippet found exactly once under ROOT (else exit 2)
#   mut field NAME KEY   one field of a mutation
#   mut apply ROOT NAME  applies NAME under ROOT
mut() {
    python3 - "$list" "$@" <<'PY'
import sys

def parse(path):
    muts, cur = [], None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = {"name": line[1:-1], "line": n}
            muts.append(cur)
            continue
        key, sep, value = line.partition("= ")
        key = key.strip()
        if cur is None or not sep or key not in ("file", "find", "replace", "why"):
            sys.exit(f"{path}:{n}: expected [name] or 'file|find|replace|why = value'")
        cur[key] = value.replace("\\n", "\n")
    names = set()
    for m in muts:
        for k in ("file", "find", "replace"):
            if k not in m:
                sys.exit(f"{path}:{m['line']}: [{m['name']}] has no '{k} = '")
        if m["name"] in names:
            sys.exit(f"{path}:{m['line']}: duplicate name [{m['name']}]")
        if m["find"] == m["replace"]:
            sys.exit(f"{path}:{m['line']}: [{m['name']}] replaces its text with itself")
        names.add(m["name"])
    return muts

path, op, *args = sys.argv[1:]
muts = parse(path)
by_name = {m["name"]: m for m in muts}

def count(root, m):
    try:
        return open(f"{root}/{m['file']}", encoding="utf-8").read().count(m["find"])
    except FileNotFoundError:
        return -1

if op == "names":
    print("\n".join(m["name"] for m in muts))
elif op == "check":
    bad = 0
    for m in muts:
        n = count(args[0], m)
        if n != 1:
            bad += 1
            what = "file not found" if n < 0 else f"found {n} times, not once"
            print(f"[{m['name']}] {m['file']}: {what}: {m['find']!r}", file=sys.stderr)
    sys.exit(2 if bad else 0)
elif op == "field":
    m = by_name.get(args[0]) or sys.exit(f"no mutation named {args[0]!r}")
    print(m.get(args[1], ""))
elif op == "apply":
    root, name = args
    m = by_name[name]
    p = f"{root}/{m['file']}"
    text = open(p, encoding="utf-8").read()
    if text.count(m["find"]) != 1:
        sys.exit(f"[{name}] snippet not found exactly once in {p}")
    open(p, "w", encoding="utf-8").write(text.replace(m["find"], m["replace"], 1))
else:
    sys.exit(f"unknown op {op}")
PY
}

case ${1:-} in
--list)
    for n in $(mut names); do printf '%-34s %s\n' "$n" "$(mut field "$n" why)"; done
    exit 0
    ;;
--check)
    mut check "$root" && echo "every snippet is found exactly once"
    exit $?
    ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

# Which mutations: all, or the names given (each must exist).
all=$(mut names)
if [ $# -gt 0 ]; then
    for n in "$@"; do
        grep -qx -- "$n" <<<"$all" || { echo "no mutation named '$n' (see --list)" >&2; exit 2; }
    done
    selected=("$@")
else
    mapfile -t selected <<<"$all"
fi

# A moved or edited snippet stops the run before anything is built.
if ! mut check "$root"; then
    echo "mutants: update $list: a snippet must match exactly once" >&2
    exit 2
fi

scratch=$dir/src
logs=$dir/logs
mkdir -p "$dir" "$logs"
echo "mutants: copying the tree to $scratch"
rm -rf "$scratch"
mkdir -p "$scratch"
git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null |
    tar -xf - -C "$scratch"
export CARGO_TARGET_DIR=$dir/target

run_suite() { # LOG: runs the suite in the scratch copy; 0 pass, 124 timeout, else fail
    (cd "$scratch" && timeout "$limit" bash -c "$cmd") >"$1" 2>&1
}

echo "mutants: suite: $cmd"
start=$SECONDS
if ! run_suite "$logs/baseline.log"; then
    echo "mutants: the suite fails without any mutation; see $logs/baseline.log" >&2
    exit 3
fi
echo "mutants: baseline passes ($((SECONDS - start)) s)"

survived=()
broken=()
for name in "${selected[@]}"; do
    file=$(mut field "$name" file)
    cp "$scratch/$file" "$dir/pristine"
    mut apply "$scratch" "$name"
    start=$SECONDS
    status=0
    run_suite "$logs/$name.log" || status=$?
    cp "$dir/pristine" "$scratch/$file"
    took=$((SECONDS - start))
    if [ "$status" = 0 ]; then
        verdict="SURVIVED"
        survived+=("$name")
    elif grep -q "could not compile" "$logs/$name.log"; then
        verdict="DOES NOT COMPILE"
        broken+=("$name")
    elif [ "$status" = 124 ]; then
        verdict="caught (timeout)"
    else
        verdict="caught"
    fi
    printf '%-34s %-17s %4d s  %s\n' "$name" "$verdict" "$took" "$file"
done

echo
if [ ${#broken[@]} -gt 0 ]; then
    echo "mutants: ${#broken[@]} do not compile (fix their replacement): ${broken[*]}"
fi
if [ ${#survived[@]} -gt 0 ]; then
    echo "mutants: ${#survived[@]} of ${#selected[@]} survived: ${survived[*]}"
    echo "mutants: each needs a test that fails on it (logs in $logs)"
    exit 1
fi
if [ ${#broken[@]} -gt 0 ]; then
    exit 2
fi
echo "mutants: all ${#selected[@]} caught"
