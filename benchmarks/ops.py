#!/usr/bin/env python3
"""Time per libtorch operator in one or two Chrome traces, side by side.

A trace comes from `rachis bench run --trace FILE` (libtorch's profiler, on the training thread) or from
`benchmarks/pytorch/bench.py --trace FILE` (torch.profiler). Times are self times (an operator's duration less the
operators it called), summed over the trace and divided by --steps, so two traces of different lengths compare per
step. Autograd nodes are named the same way on both sides (the `autograd::engine::evaluate_function: ` prefix of
torch.profiler is dropped).

    python3 benchmarks/ops.py rachis.json pytorch.json --steps 4 4 --top 30
"""
from __future__ import annotations

import argparse
import collections
import json
import sys

PREFIXES = ("autograd::engine::evaluate_function: ",)
SKIPPED = ("ProfilerStep", "PyTorch Profiler", "[memory]")


def load(path: str) -> dict[str, list[float, int]]:
    """Self microseconds and calls per operator name."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        sys.exit(f"{path}: cannot read the trace: {error}")
    events = data["traceEvents"] if isinstance(data, dict) else data
    threads: dict[object, list[dict]] = collections.defaultdict(list)
    for e in events:
        if e.get("ph") != "X" or "dur" not in e or e.get("cat") in ("python_function", "user_annotation"):
            continue
        if any(e["name"].startswith(s) for s in SKIPPED):
            continue
        threads[(e.get("pid"), e.get("tid"))].append(e)
    totals: dict[str, list] = collections.defaultdict(lambda: [0.0, 0])
    for evs in threads.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack: list[list] = []  # [end, name, self]
        def close(entry):
            totals[entry[1]][0] += max(entry[2], 0.0)
            totals[entry[1]][1] += 1
        for e in evs:
            ts, dur = float(e["ts"]), float(e["dur"])
            while stack and stack[-1][0] <= ts:
                close(stack.pop())
            name = e["name"]
            for p in PREFIXES:
                if name.startswith(p):
                    name = name[len(p):]
            if stack:
                stack[-1][2] -= dur
            stack.append([ts + dur, name, dur])
        while stack:
            close(stack.pop())
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("traces", nargs="+", help="one or two Chrome traces")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="steps in each trace (default 1 each)")
    parser.add_argument("--top", type=int, default=25, help="operators shown (by the largest time)")
    args = parser.parse_args()
    if len(args.traces) > 2:
        parser.error("at most two traces")
    steps = args.steps or [1] * len(args.traces)
    if len(steps) != len(args.traces) or any(s < 1 for s in steps):
        parser.error("--steps takes one positive count per trace")
    tables = [load(t) for t in args.traces]
    names = set().union(*tables)
    per_step = lambda t, s, n: (t[n][0] / s / 1000.0 if n in t else 0.0, t[n][1] / s if n in t else 0.0)
    rows = sorted(names, key=lambda n: -max(per_step(t, s, n)[0] for t, s in zip(tables, steps)))
    header = f"{'operator':<48}" + "".join(f"{'ms/step':>10}{'calls':>7}" for _ in tables) + ("   ratio" if len(tables) == 2 else "")
    print(header)
    print("-" * len(header))
    for n in rows[:args.top]:
        cells = [per_step(t, s, n) for t, s in zip(tables, steps)]
        line = f"{n[:47]:<48}" + "".join(f"{ms:>10.1f}{calls:>7.0f}" for ms, calls in cells)
        if len(tables) == 2:
            line += f"{cells[0][0] / cells[1][0]:>8.2f}" if cells[1][0] > 0 else f"{'-':>8}"
        print(line)
    totals = [sum(v[0] for v in t.values()) / s / 1000.0 for t, s in zip(tables, steps)]
    print("-" * len(header))
    print(f"{'all operators':<48}" + "".join(f"{ms:>10.1f}{'':>7}" for ms in totals)
          + (f"{totals[0] / totals[1]:>8.2f}" if len(tables) == 2 and totals[1] > 0 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
