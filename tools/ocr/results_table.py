#!/usr/bin/env python3
"""Markdown tables of tools/ocr/results_ocr.sh's results.tsv files, one table per model (the last
row of a model and method wins; methods in a fixed order).
    tools/ocr/results_table.py build/ocr_results/results.tsv [MORE.tsv ...]"""
import csv
import json
import sys

COLS = {
    "rec": [("line acc %", "line_accuracy", 100), ("line acc, spaces ignored %", "line_accuracy_nospace", 100),
            ("char acc %", "char_accuracy", 100), ("strings = fp32 %", "ref_string_agreement", 100),
            ("strings = fp32, spaces ignored %", "ref_string_agreement_nospace", 100),
            ("steps = fp32 %", "ref_step_agreement", 100)],
    "det": [("pixel F1 %", "pixel_f1", 100), ("pixel IoU %", "pixel_iou", 100), ("box recall %", "box_recall", 100),
            ("box precision %", "box_precision", 100), ("map IoU with fp32 %", "ref_map_iou", 100)],
    "cls": [("accuracy %", "accuracy", 100), ("class = fp32 %", "ref_agreement", 100)],
}


ORDER = ["fp32", "rtn8", "rtn4", "gptq4", "pq", "admm-cp4", "cp-als4"]


def main(paths):
    last = {}
    for path in paths:
        for r in csv.DictReader(open(path, encoding="utf-8"), delimiter="\t"):
            last[(r["model"], r["method"])] = r
    rows = sorted(last.values(), key=lambda r: ORDER.index(r["method"]) if r["method"] in ORDER else 99)
    for model in ("cls", "rec", "det"):
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        fp32 = next((int(r["bytes"]) for r in mine if r["method"] == "fp32" and r["bytes"]), None)
        head = ["method", "file", "file ratio", "compress s"] + [c[0] for c in COLS[model]] + ["ORT vs engine: max abs (samples)"]
        print(f"\n{model} ({json.loads(mine[0]['scores'])['samples'] if mine[0]['scores'] else '?'} test samples)\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for r in mine:
            if not r["scores"]:
                print(f"| {r['method']} | failed: {r['error']} |" + " |" * (len(head) - 2))
                continue
            s = json.loads(r["scores"])
            b = int(r["bytes"])
            cells = [r["method"], f"{b / 1024:.1f} KiB", f"{fp32 / b:.2f}" if fp32 else "", r["compress_s"]]
            cells += [f"{s[k] * f:.2f}" if k in s else "" for _, k, f in COLS[model]]
            e = s.get("engine")
            same = e and (e.get("argmax_agreement", e.get("map_iou")) == 1)
            cells.append(f"{e['max_abs_diff']:.1e} ({e['samples']}){'' if same else (' map differs' if model == 'det' else ' argmax differs')}" if e else f"– ({r['error']})")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
