"""Latency chart for bench/results/latency*.json: each goal's insert→healed latency over the run,
plus p50/p99 lines. Needs matplotlib (bench/run.ts installs it with pip when missing)."""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
data = json.load(open(src))
series = data["series"]
fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
colors = ["tab:blue", "tab:orange", "tab:green"]
for i, s in enumerate(series):
    xs = [p[0] for p in s["points"]]
    ys = [p[1] for p in s["points"]]
    ax.scatter(xs, ys, s=4, alpha=0.5, color=colors[i % 3], label=f"{s['label']} (p50 {s['p50']:.0f} ms, p99 {s['p99']:.0f} ms)")
    ax.axhline(s["p50"], color=colors[i % 3], lw=1, ls="--")
    ax.axhline(s["p99"], color=colors[i % 3], lw=1, ls=":")
ax.set_yscale("log")
ax.set_xlabel("seconds into the run (goal inserted)")
ax.set_ylabel("insert commit -> task has assignable agent (ms, log)")
ax.set_title(data.get("title", "goalkeeper latency"))
ax.grid(True, which="both", alpha=0.3)
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
fig.savefig(out)
print(out)
