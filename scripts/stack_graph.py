#!/usr/bin/env python3
"""Worst-case stack per k4sync-core entry point on the embedded target.

Input: the stack-probe static library built by scripts/stack.sh for thumbv7em-none-eabihf
with `-Z emit-stack-sizes`. Frame sizes come from the `.stack_sizes` section (the compiler's
own figure) for the probe's object; functions without one (compiler_builtins, e.g. memcpy)
get theirs from their prologue (push/vpush/sub sp). Calls are the R_ARM_THM_CALL/JUMP24
relocations of each function's section; an indirect call (blx rN) may reach any function
whose address is stored in data (vtables), which over-approximates core::fmt's dispatch.
Each probe owns the caller's state and hands it to a `measure_*` function that cannot be
inlined; the bound of an entry point is the deepest call path from its `measure_*` frame.

Usage: stack_graph.py LIBRARY.a [--json] [--budget BYTES]  (needs llvm-objdump and llvm-readobj)
"""
import json
import re
import subprocess
import sys
from functools import lru_cache


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def demangle(names):
    out = run("llvm-cxxfilt", *names).splitlines() if names else []
    return dict(zip(names, out))


def main():
    lib = sys.argv[1]
    as_json = "--json" in sys.argv[2:]

    sizes = {}
    for m in re.finditer(r"Functions: \[(.*?)\]\s*\n\s*Size: 0x([0-9A-Fa-f]+)",
                         run("llvm-readobj", "--stack-sizes", lib)):
        for name in m.group(1).split(", "):
            sizes[name] = int(m.group(2), 16)

    calls, indirect, prologue = {}, set(), {}
    fn = None
    sub_re = re.compile(r"\tsub(?:\.w|w)?\tsp, (?:sp, )?#(\d+)")
    push_re = re.compile(r"\t(?:push|stmdb)(?:\.w)?\t(?:sp!, )?\{([^}]*)\}")
    vpush_re = re.compile(r"\tvpush\t\{([^}]*)\}")
    for line in run("llvm-objdump", "-d", "-r", "--no-show-raw-insn", lib).splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            name = head.group(1)
            fn = None if name.startswith("$") else name
            if fn:
                calls.setdefault(fn, set())
                prologue.setdefault(fn, [0, True])
            continue
        if fn is None:
            continue
        rel = re.search(r"R_ARM_THM_(?:CALL|JUMP24)\t(\S+)", line)
        if rel:
            calls[fn].add(rel.group(1))
            continue
        if "\tblx\tr" in line or re.search(r"\tbx\tr(?!14|lr)", line):
            indirect.add(fn)
        if prologue[fn][1]:
            p = push_re.search(line)
            v = vpush_re.search(line)
            s = sub_re.search(line)
            if p:
                prologue[fn][0] += 4 * count_regs(p.group(1))
            elif v:
                prologue[fn][0] += 8 * count_regs(v.group(1))
            elif s:
                prologue[fn][0] += int(s.group(1))
            elif re.search(r"\t(b|bl|blx|bx|pop|ldr|str|cmp|cbz|cbnz)\b", line):
                prologue[fn][1] = False

    taken = set()
    for m in re.finditer(r"R_ARM_ABS32\s+(\S+)", run("llvm-objdump", "-r", lib)):
        if m.group(1) in calls:
            taken.add(m.group(1))

    def frame(f):
        return sizes.get(f, prologue.get(f, [0])[0])

    unknown = set()

    @lru_cache(maxsize=None)
    def deepest(f, stack=()):
        if f in stack:
            return (0, ("<recursion: %s>" % f,))
        if f not in calls:
            unknown.add(f)
            return (0, (f + " (not in library)",))
        targets = set(calls[f])
        if f in indirect:
            targets |= taken
        best = (0, ())
        for t in sorted(targets):
            d = deepest(t, stack + (f,))
            if d[0] > best[0]:
                best = d
        return (frame(f) + best[0], (f,) + best[1])

    names0 = demangle(sorted(calls))
    probes = sorted((f for f in calls if "::measure_" in names0.get(f, "")),
                    key=lambda f: names0[f])
    names = names0
    rows = []
    for p in probes:
        total, path = deepest(p)
        rows.append({
            "entry": short(names[p]).split("::measure_")[-1],
            "stack_bytes": total,
            "path": [f"{short(names.get(n, n))} ({frame(n)})" for n in path],
        })
    state = state_sizes(lib)
    budget = None
    if "--budget" in sys.argv:
        budget = int(sys.argv[sys.argv.index("--budget") + 1])
    over = [r for r in rows if budget is not None and r["stack_bytes"] > budget]
    if as_json:
        print(json.dumps({"calls": rows, "state": state, "budget": budget}, indent=1))
    else:
        print(f"{'entry point':32} {'stack':>7}   deepest path (frame bytes)")
        for r in rows:
            print(f"{r['entry']:32} {r['stack_bytes']:5} B   " + " > ".join(r["path"][:6]))
        print()
        print(f"{'state the caller keeps':32} {'size':>7}")
        for name, size in state.items():
            print(f"{name:32} {size:5} B")
    for r in over:
        print(f"stack budget exceeded: {r['entry']} needs {r['stack_bytes']} B > {budget} B",
              file=sys.stderr)
    if over:
        sys.exit(1)


STATE_NAMES = ["Aligner<9>", "CapturePairer<u32, u32>", "emu::Device", "SyncSession",
               "UvcFrameAssembler", "RigPlan", "ValidatedConfig", "config::Sequence"]


def state_sizes(lib):
    words = []
    dump = run("llvm-objdump", "-s", "--section=.rodata.STATE_SIZES", lib)
    for line in dump.splitlines():
        m = re.match(r"^ [0-9a-f]{4} ((?:[0-9a-f]{8} ?){1,4})", line)
        if m:
            words += [int.from_bytes(bytes.fromhex(w), "little") for w in m.group(1).split()]
    return dict(zip(STATE_NAMES, words))


def count_regs(spec):
    n = 0
    for part in spec.split(","):
        part = part.strip()
        m = re.match(r"([rds])(\d+)-[rds](\d+)", part)
        n += int(m.group(3)) - int(m.group(2)) + 1 if m else 1
    return n


def short(name):
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$C$", ","), ("$u20$", " "), ("$RF$", "&"),
                 ("$u7b$", "{"), ("$u7d$", "}"), ("..", "::")):
        name = name.replace(a, b)
    return name.replace("k4sync_core::", "")


if __name__ == "__main__":
    main()
