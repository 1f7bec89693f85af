#!/usr/bin/env python3
# usage: fidelity_check.py seq|map Y.npy Y_REF.npy  (outputs that tools/ort/ort_run.js wrote)
# Fidelity of ONNX Runtime's outputs of a compressed model against ORT's fp32 outputs (numpy, float64).
import numpy as np, sys
def common(y, r):
    y = y.astype(np.float64); r = r.astype(np.float64)
    e = y - r
    return dict(rel_error=np.linalg.norm(e) / np.linalg.norm(r), sqnr_db=10 * np.log10((r**2).sum() / (e**2).sum()),
                cosine=(y * r).sum() / np.sqrt((y**2).sum() * (r**2).sum()))
def ctc(p, blank=0):
    out, prev = [], -1
    for c in p:
        if c != prev and c != blank: out.append(int(c))
        prev = c
    return out
for kind, y, r in [(sys.argv[1], np.load(sys.argv[2]), np.load(sys.argv[3]))]:
    m = common(y, r)
    if kind == 'seq':
        ay, ar = y.argmax(-1), r.argmax(-1)
        m.update(position_agreement=(ay == ar).mean(), sequence_agreement=(ay == ar).all(1).mean(),
                 ctc_agreement=np.mean([ctc(a) == ctc(b) for a, b in zip(ay, ar)]))
    else:
        a, b = y > 0.3, r > 0.3
        u = (a | b).sum()
        m.update(mask_iou=(a & b).sum() / u if u else 1.0)
    print(' '.join(f'{k} {v:.6f}' for k, v in m.items()))
