"""Tables for bench/profile: system calls and callgrind instruction counts of
one start, split by process (starter, intermediate, daemon) and by phase
(before/after the process's fork; the daemon until it is ready: its pause()
or its execve() of the payload). Reads the directory bench/profile filled."""
import collections
import glob
import os
import re
import subprocess
import sys

PHASES = [
    ("starter, until fork", "s.pre", True),
    ("intermediate, until fork", "i.pre", True),
    ("daemon, until ready", "d.pre", True),
    ("starter, after fork (waits, exits)", "s.post", False),
    ("intermediate, after fork", "i.post", False),
]


def roles(parent_of, first):
    """starter -> intermediate -> daemon, by the fork tree"""
    kids = collections.defaultdict(list)
    for child, parent in parent_of.items():
        kids[parent].append(child)
    starter = first
    inter = kids[starter][0] if kids[starter] else None
    daemon = kids[inter][0] if inter and kids[inter] else None
    return {starter: "s", inter: "i", daemon: "d"}


def parse_strace(path):
    calls = collections.defaultdict(list)  # pid -> [name, ...] in order
    parent_of = {}
    first = None
    pending = {}
    for line in open(path, errors="replace"):
        m = re.match(r"(\d+) +(.*)", line)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if first is None:
            first = pid
        if rest.startswith("+++") or rest.startswith("---"):
            continue
        r = re.match(r"<\.\.\. (\w+) resumed>.*= (\d+)", rest)
        if r:
            if r.group(1) in ("clone", "clone3", "fork", "vfork"):
                parent_of[int(r.group(2))] = pid
            continue
        if rest.startswith("<..."):
            continue
        c = re.match(r"(\w+)\(", rest)
        if not c:
            continue
        name = c.group(1)
        calls[pid].append(name)
        if name in ("clone", "clone3", "fork", "vfork"):
            d = re.search(r"= (\d+)\s*$", rest)
            if d:
                parent_of[int(d.group(1))] = pid
    if first is None:
        return None
    role = roles(parent_of, first)
    phases = collections.defaultdict(collections.Counter)
    for pid, names in calls.items():
        r = role.get(pid)
        if r is None:
            continue
        phase = "pre"
        for i, name in enumerate(names):
            if r == "d":
                phases["d.pre"][name] += 1
                if name in ("pause", "execve") and not (name == "execve" and pid == first):
                    break
                continue
            phases[r + "." + phase][name] += 1
            if name in ("clone", "clone3", "fork", "vfork"):
                phase = "post"
    return phases


def parse_callgrind(directory):
    files = glob.glob(os.path.join(directory, "cg.*"))
    if not files:
        return None
    parts = collections.defaultdict(list)  # pid -> [(part, trigger, total, file)]
    for f in files:
        head = open(f, errors="replace").read(4096)
        pid = int(re.search(r"^pid: (\d+)", head, re.M).group(1))
        part = int((re.search(r"^part: (\d+)", head, re.M) or re.search("x(1)", "x1")).group(1))
        trig = (re.search(r"^desc: Trigger: (.*)$", head, re.M) or re.search("(.*)", "")).group(1)
        tot = re.search(r"^(?:summary|totals): (\d+)", open(f, errors="replace").read(), re.M)
        parts[pid].append((part, trig, int(tot.group(1)) if tot else 0, f))
    pids = sorted(parts)
    role = {}
    for r, pid in zip("sid", pids):
        role[pid] = r
    phases = {}
    files_of = {}
    for pid, ps in parts.items():
        ps.sort()
        r = role[pid]
        if r == "d":
            phases["d.pre"] = ps[0][2]
            files_of["d.pre"] = ps[0][3]
        else:
            phases[r + ".pre"] = ps[0][2]
            files_of[r + ".pre"] = ps[0][3]
            phases[r + ".post"] = sum(p[2] for p in ps[1:])
    return phases, files_of


# The frames running when fork() returned in a child: callgrind charges them
# the child phase's unattributed cost, which is not their own.
FORKING_FRAMES = ("main", "(below main)", "cmd_start", "daemonctx_open", "dcx_detach")


def top_functions(path, mid_stack=False):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    funcs = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S.*?)(?: \[(.*)\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2).split(":")[-1]
            obj = os.path.basename(m.group(3) or "")
            # a phase that begins inside a call (after fork() returned) gets
            # the cost of the frames already running charged to the outermost
            # ones: those are not costs of the function itself
            if name in ("main", "(below main)") or name.startswith("__libc_start_main") or name.startswith("0x"):
                continue
            if mid_stack and name in FORKING_FRAMES:
                continue
            funcs[(name, obj)] += int(m.group(1).replace(",", ""))
    return funcs


def main(work):
    runs = []
    for d in sorted(glob.glob(os.path.join(work, "*")), key=lambda p: int(os.path.basename(p))):
        name = open(os.path.join(d, "name")).read().strip()
        st = parse_strace(os.path.join(d, "strace.txt")) if os.path.exists(os.path.join(d, "strace.txt")) else None
        cg = parse_callgrind(os.path.join(d, "cg"))
        runs.append((name, st, cg))

    print("## Profile: where daemonctx spends more than the floor\n")
    print("One start of each, outside the timed run (bench/profile). *Critical path* = the phases a start must go "
          "through before the daemon is ready: the starter until its fork, the intermediate until its fork, the "
          "daemon until its pause() or its execve() of the payload. The starter's life after its fork (waiting "
          "for the daemon's report, then exiting) runs beside the daemon, not before it.\n")

    print("### System calls (strace -f)\n")
    print("| phase | " + " | ".join(r[0] for r in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for label, key, crit in PHASES:
        cells = [str(sum(st[key].values())) if st else "—" for _, st, _ in runs]
        print("| %s%s | %s |" % (label, " (critical)" if crit else "", " | ".join(cells)))
    crit_tot = []
    for _, st, _ in runs:
        crit_tot.append(str(sum(sum(st[k].values()) for _, k, c in PHASES if c)) if st else "—")
    print("| **critical path** | %s |" % " | ".join("**%s**" % c for c in crit_tot))
    print()

    floor = runs[0][1]
    if floor:
        for name, st, _ in runs[1:]:
            if not st or name.startswith("floor"):
                continue
            ref = floor
            if "CLI" in name:
                ref = next((r[1] for r in runs if r[0].startswith("floor + exec")), floor) or floor
            print("Critical-path system calls of **%s** beyond %s:\n" % (
                name, "the floor + exec" if ref is not floor else "the floor"))
            rows = []
            for label, key, crit in PHASES:
                if not crit:
                    continue
                diff = st[key] - ref[key]
                less = ref[key] - st[key]
                if diff or less:
                    more = ", ".join("%s x%d" % (k, v) if v > 1 else k for k, v in sorted(diff.items()))
                    fewer = ", ".join("%s x%d" % (k, v) if v > 1 else k for k, v in sorted(less.items()))
                    rows.append("- %s: +%d (%s)%s" % (label, sum(diff.values()), more or "none",
                                                     "; -%d (%s)" % (sum(less.values()), fewer) if fewer else ""))
            print("\n".join(rows) + "\n")

    if all(cg is None for _, _, cg in runs):
        print("(callgrind: valgrind not available)\n")
        return
    print("### User-space instructions (callgrind Ir; the dynamic loader included)\n")
    print("| phase | " + " | ".join(r[0] for r in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for label, key, crit in PHASES:
        cells = ["{:,}".format(cg[0].get(key, 0)) if cg else "—" for _, _, cg in runs]
        print("| %s%s | %s |" % (label, " (critical)" if crit else "", " | ".join(cells)))
    cells = ["**{:,}**".format(sum(cg[0].get(k, 0) for _, k, c in PHASES if c)) if cg else "—" for _, _, cg in runs]
    print("| **critical path** | %s |" % " | ".join(cells))
    print()
    fcg = runs[0][2]
    if not fcg:
        return
    for name, _, cg in runs[1:]:
        if not cg or name.startswith("floor"):
            continue
        print("Where **%s** executes more instructions than the floor on the critical path (top functions, "
              "exclusive Ir, all critical phases together; in the intermediate's and the daemon's phases the "
              "frames that were running when fork() returned (main, cmd_start, daemonctx_open, dcx_detach) are "
              "left out: callgrind charges them those phases' unattributed cost):\n" % name)
        mine, ref = collections.Counter(), collections.Counter()
        for _, key, crit in PHASES:
            if crit and key in cg[1]:
                mine.update(top_functions(cg[1][key], key != "s.pre"))
            if crit and key in fcg[1]:
                ref.update(top_functions(fcg[1][key], key != "s.pre"))
        diff = {k: mine[k] - ref.get(k, 0) for k in mine}
        print("| function | object | Ir | floor Ir | extra |\n|---|---|---:|---:|---:|")
        for (fn, obj), d in sorted(diff.items(), key=lambda kv: -kv[1])[:10]:
            print("| %s | %s | {:,} | {:,} | {:,} |".format(mine[(fn, obj)], ref.get((fn, obj), 0), d)
                  % (fn.replace("|", "/"), obj))
        print()


if __name__ == "__main__":
    main(sys.argv[1])
