#!/usr/bin/env python3
# Writes det_text.npy (2, 3, 640, 640) and rec_text.npy (8, 3, 48, 320) to the current folder:
# the fidelity inputs of docs/RESULTS.md (issue 14). Needs numpy; seeded, so the files are reproducible.
# Synthetic "printed text": dark glyph-like strokes on a light page, normalised as PP-OCR expects.
import numpy as np
r = np.random.default_rng(1)
def glyph_line(img, y, x0, x1, h):
    x = x0
    while x < x1 - h:
        w = int(r.integers(h // 2, h + 1))
        g = np.zeros((h, w), bool)
        for _ in range(int(r.integers(2, 5))):  # 2-4 strokes per glyph
            if r.random() < 0.5:
                c = int(r.integers(0, w)); g[:, max(0, c - 1):c + 1] = True
            else:
                c = int(r.integers(0, h)); g[max(0, c - 1):c + 1, :] = True
        img[y:y + h, x:x + w][g] = r.uniform(0, 60)
        x += w + int(r.integers(1, 4)) + (int(r.integers(4, 10)) if r.random() < 0.2 else 0)
def page(H, W, lines):
    img = np.full((H, W), 235.0) + r.normal(0, 5, (H, W))
    for y, h in lines: glyph_line(img, y, int(r.integers(4, 30)), W - int(r.integers(4, 60)), h)
    return np.clip(img, 0, 255)
det = []
for _ in range(2):
    ys = list(range(20, 600, 48))
    det.append(page(640, 640, [(y, int(r.integers(16, 28))) for y in ys]))
det = np.stack(det)[:, None].repeat(3, 1) / 255.0
mean = np.array([0.485, 0.456, 0.406])[None, :, None, None]; std = np.array([0.229, 0.224, 0.225])[None, :, None, None]
np.save('det_text.npy', ((det - mean) / std).astype(np.float32))
rec = np.stack([page(48, 320, [(int(r.integers(6, 12)), int(r.integers(24, 32)))]) for _ in range(8)])[:, None].repeat(3, 1) / 255.0
np.save('rec_text.npy', ((rec - 0.5) / 0.5).astype(np.float32))
print('ok')
