"""Plots throughput against body size from the harness's results.jsonl lines.

Usage: python3 plot_sizes.py RESULTS.jsonl OUT.png

Two panels (publish, consume); one line per client: the median throughput (bytes of
bodies per second) of its successful repetitions at each size, ws transport only. The
peer clients are drawn thin beside raw and stompws, so the best of them is the top
thin line.
"""

import json
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OURS = {"raw": "raw limit", "stompws": "stompws (Rust)", "stompws-c": "stompws (C)"}


def main(results_path, png_path):
    runs = defaultdict(list)  # (scenario, client, size) -> msgs/s of each repetition
    with open(results_path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("ok") and r.get("transport") == "ws" and r.get("msgs_per_s"):
                runs[(r["scenario"], r["client"], r["size"])].append(r["msgs_per_s"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=False)
    for ax, scenario in zip(axes, ["publish", "consume"]):
        clients = sorted({c for (s, c, _) in runs if s == scenario})
        for client in clients:
            points = sorted(
                (size, statistics.median(v))
                for (s, c, size), v in runs.items()
                if s == scenario and c == client
            )
            if not points:
                continue
            xs = [p[0] for p in points]
            ys = [p[1] * p[0] / 1e6 for p in points]  # MB/s
            ours = client in OURS
            ax.plot(
                xs,
                ys,
                marker="o" if ours else ".",
                linewidth=2.2 if ours else 1.0,
                alpha=1.0 if ours else 0.7,
                label=OURS.get(client, client),
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("body size (bytes)")
        ax.set_ylabel("throughput (MB/s of bodies)")
        ax.set_title(f"{scenario} over ws (median of repetitions)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
