#!/usr/bin/env python3
"""How well `qcp compress --measure-latency` predicts ONNX Runtime, layer by layer (a benchmark).

    tools/latency_vs_ort.py REPORT.json ORT.json [--md]

REPORT.json: `qcp compress ... --measure-latency --report REPORT.json`; ORT.json:
`tools/layer_latency.py ORIGINAL COMPRESSED --json` on the same models, batch and threads.
Prints per layer the engine's and ORT's after/before ratios of medians (and of the fastest runs,
"min", which a loaded machine disturbs less), then the sums of layers, the Spearman rank
correlation of the two ratio lists, and how many layers both put on the same side of 1 (faster
or slower than the original)."""
import argparse
import json
import sys


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report")
    ap.add_argument("ort")
    ap.add_argument("--md", action="store_true", help="Markdown table")
    a = ap.parse_args()
    rep = json.load(open(a.report))
    ort = {r["layer"]: r for r in json.load(open(a.ort))["layers"]}
    rows = []
    for l in rep["layers"]:
        lat = l.get("latency")
        if not lat or l["name"] not in ort:
            continue
        o = ort[l["name"]]
        st = lat.get("stages") or {}
        shares = "/".join(f"{100 * st[k]['share']:.0f}" for k in ("expansion", "depthwise", "projection") if k in st)
        ost = o.get("stages") or {}
        if ost:
            shares += " vs ORT " + "/".join(f"{100 * ost[k]['share']:.0f}" for k in ("expansion", "depthwise", "projection") if k in ost)
            shares += f" (ORT stages alone: {sum(v['ms'] for v in ost.values()) / o['compressed_ms']:.2f}x the chain)"
        rows.append((l["name"], l.get("rank"), lat["before_ms"], lat["after_ms"], lat["ratio"], shares,
                     o["original_ms"], o["compressed_ms"], o["ratio"],
                     lat["after_min_ms"] / lat["before_min_ms"], o["compressed_min_ms"] / o["original_min_ms"]))
    if not rows:
        sys.exit("no layer is in both files")
    if a.md:
        print("| layer | R | engine ms (median) | engine ratio | engine min ratio | stages % (exp/dw/proj) "
              "| ORT ms (median) | ORT ratio | ORT min ratio |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n, r, eb, ea, er, sh, ob, oa, orr, emr, omr in rows:
            print(f"| {n} | {r} | {eb:.3f} → {ea:.3f} | {er:.2f} | {emr:.2f} | {sh} | {ob:.3f} → {oa:.3f} | {orr:.2f} | {omr:.2f} |")
    else:
        print(f"{'layer':28} {'R':>4} {'eng ms':>17} {'eng':>5} {'min':>5} {'stages %':>9} {'ORT ms':>17} {'ORT':>5} {'min':>5}")
        for n, r, eb, ea, er, sh, ob, oa, orr, emr, omr in rows:
            print(f"{n:28} {r!s:>4} {eb:7.3f} -> {ea:7.3f} {er:5.2f} {emr:5.2f} {sh:>9} {ob:7.3f} -> {oa:7.3f} {orr:5.2f} {omr:5.2f}")
    eb, ea = sum(r[2] for r in rows), sum(r[3] for r in rows)
    ob, oa = sum(r[6] for r in rows), sum(r[7] for r in rows)
    er, orr = [r[4] for r in rows], [r[8] for r in rows]
    same = sum((x < 1) == (y < 1) for x, y in zip(er, orr))
    emr, omr = [r[9] for r in rows], [r[10] for r in rows]
    same_min = sum((x < 1) == (y < 1) for x, y in zip(emr, omr))
    model = rep["totals"]["latency"]["model"]
    print(f"sum of {len(rows)} layers: engine {eb:.3f} -> {ea:.3f} ms ({ea / eb:.2f}x), ORT {ob:.3f} -> {oa:.3f} ms ({oa / ob:.2f}x); "
          f"engine whole model {model['before_ms']:.3f} -> {model['after_ms']:.3f} ms ({model['ratio']:.2f}x)")
    print(f"Spearman rank correlation of the ratios: medians {spearman(er, orr):.2f}, min {spearman(emr, omr):.2f}; "
          f"same side of 1: medians {same} of {len(rows)}, min {same_min} of {len(rows)}")


if __name__ == "__main__":
    sys.exit(main())
