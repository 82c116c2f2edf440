#!/usr/bin/env python3
"""Checks one harness run (benches/harness.sh) against the speed targets of the stompws
drivers, and prints every repetition beside the medians.

Usage: benches/check_targets.py RESULTS_DIR    (the folder with results.jsonl)

Targets, each per transport (ws against `raw`, tcp against `raw-tcp`), for the Rust
driver (`stompws`, `stompws-tcp`) and the C driver (`stompws-c`, `stompws-c-tcp`):
- consume 128 B: msgs/s at least 0.9 x raw, and the C driver at least 0.95 x the Rust
  driver of the same transport. That one is judged by the median of the per-repetition
  ratios: a repetition runs every client back to back, while this machine's speed
  drifts between repetitions (consume runs fall into a slow and a fast mode, for every
  client), so the ratio of two medians says more about which mode each median fell in
  than about the two drivers. The ratio of the medians is printed beside it;
- publish 128 B: at least 0.8 x raw;
- publish and consume of large bodies (the run's largest size): at least 0.95 x raw;
- rtt with client and fixture on the same core: p50 at most 1.15 x raw's;
- peak RSS: at most 1.25 x raw's in the same scenario, size and placement.
When the run has the C driver taking one message per call (`stompws-c-one`,
`stompws-c-one-tcp`), its consume 128 B against raw and against the Rust driver is
printed too, for information: the targets are the batch-taking driver's.
Ratios are of medians over the repetitions. A target whose rows are missing from the
run is reported as not measured. Exit status: 0 when every measured target holds and
none is missing, 1 otherwise.
"""

import json
import statistics
import sys
from pathlib import Path

DRIVERS = {"ws": ("stompws", "stompws-c"), "tcp": ("stompws-tcp", "stompws-c-tcp")}
ONE_PER_CALL = {"ws": "stompws-c-one", "tcp": "stompws-c-one-tcp"}
RAW = {"ws": "raw", "tcp": "raw-tcp"}


def load(folder):
    rows = {}
    for line in (Path(folder) / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if not r.get("ok"):
            continue
        key = (r["scenario"], r["size"], r["placement"], r["client"])
        rows.setdefault(key, []).append(r)
    for runs in rows.values():
        runs.sort(key=lambda r: r["rep"])
    return rows


def spread(values, fmt):
    return " ".join(fmt.format(v) for v in values)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1])
    sizes = sorted({size for (_, size, _, _) in rows})
    big = sizes[-1] if sizes else None
    failed = 0
    print("| target | client | transport | per repetition | median | raw median | ratio | limit | holds |")
    print("|---|---|---|---|---|---|---|---|---|")

    def check(name, scenario, size, placement, client, transport, field, limit, higher):
        nonlocal failed
        raw = rows.get((scenario, size, placement, RAW[transport]))
        own = rows.get((scenario, size, placement, client))
        if not raw or not own:
            failed += 1
            print(f"| {name} | {client} | {transport} | not measured | | | | | NO |")
            return None
        fmt = "{:,.0f}" if field == "msgs_per_s" else "{:.1f}"
        if field == "maxrss_kb":
            fmt = "{:,}"
        vals = [r[field] for r in own]
        med, raw_med = statistics.median(vals), statistics.median(r[field] for r in raw)
        ratio = med / raw_med
        holds = ratio >= limit if higher else ratio <= limit
        failed += not holds
        sign = ">=" if higher else "<="
        print(f"| {name} | {client} | {transport} | {spread(vals, fmt)} | {fmt.format(med)} "
              f"| {fmt.format(raw_med)} | {ratio:.3f} | {sign} {limit} | {'yes' if holds else 'NO'} |")
        return med

    def paired(case, client, other):
        """msgs/s of `client` over `other`'s in each repetition both ran."""
        a = {r["rep"]: r["msgs_per_s"] for r in rows[case + (client,)]}
        b = {r["rep"]: r["msgs_per_s"] for r in rows[case + (other,)]}
        return [a[rep] / b[rep] for rep in sorted(a) if rep in b]

    def info(transport, rust):
        one = rows.get(("consume", 128, "split", ONE_PER_CALL[transport]))
        raw = rows.get(("consume", 128, "split", RAW[transport]))
        own = rows.get(("consume", 128, "split", rust))
        if not one or not raw or not own:
            return
        vals = [r["msgs_per_s"] for r in one]
        med = statistics.median(vals)
        raw_med = statistics.median(r["msgs_per_s"] for r in raw)
        rust_med = statistics.median(r["msgs_per_s"] for r in own)
        vs_rust = statistics.median(paired(("consume", 128, "split"), ONE_PER_CALL[transport], rust))
        print(f"| consume 128 B, one per call (info) | {ONE_PER_CALL[transport]} | {transport} "
              f"| {spread(vals, '{:,.0f}')} | {med:,.0f} | {raw_med:,.0f} | {med / raw_med:.3f} "
              f"| vs Rust per repetition {vs_rust:.3f} (of medians {med / rust_med:.3f}) | |")

    for transport, (rust, c) in DRIVERS.items():
        meds = {}
        for client in (rust, c):
            meds[client] = check("consume 128 B", "consume", 128, "split", client, transport,
                                 "msgs_per_s", 0.9, True)
        if meds[rust] and meds[c]:
            ratios = paired(("consume", 128, "split"), c, rust)
            ratio = statistics.median(ratios)
            holds = ratio >= 0.95
            failed += not holds
            print(f"| consume 128 B, C vs Rust, per repetition | {c} | {transport} "
                  f"| {spread(ratios, '{:.3f}')} | {meds[c]:,.0f} | (Rust) {meds[rust]:,.0f} "
                  f"| {ratio:.3f} (of medians: {meds[c] / meds[rust]:.3f}) | >= 0.95 "
                  f"| {'yes' if holds else 'NO'} |")
        info(transport, rust)
        for client in (rust, c):
            check("publish 128 B", "publish", 128, "split", client, transport, "msgs_per_s",
                  0.8, True)
            if big and big != 128:
                for scenario in ("publish", "consume"):
                    check(f"{scenario} {big // 1024} KiB", scenario, big, "split", client,
                          transport, "msgs_per_s", 0.95, True)
            check("rtt same core p50 us", "rtt", 128, "same-core", client, transport, "p50_us",
                  1.15, False)
    print()
    print("| peak RSS (kB) | client | scenario | size | placement | per repetition | median | raw median | ratio | holds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (scenario, size, placement, client), runs in sorted(rows.items()):
        transport = next((t for t, ds in DRIVERS.items() if client in ds), None)
        if transport is None:
            continue
        raw = rows.get((scenario, size, placement, RAW[transport]))
        if not raw:
            continue
        vals = [r["maxrss_kb"] for r in runs]
        med, raw_med = statistics.median(vals), statistics.median(r["maxrss_kb"] for r in raw)
        ratio = med / raw_med
        holds = ratio <= 1.25
        failed += not holds
        print(f"| | {client} | {scenario} | {size} | {placement} | {spread(vals, '{:,}')} "
              f"| {med:,.0f} | {raw_med:,.0f} | {ratio:.3f} | {'yes' if holds else 'NO'} |")
    print()
    print("all targets hold" if failed == 0 else f"{failed} target(s) missed or not measured")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
