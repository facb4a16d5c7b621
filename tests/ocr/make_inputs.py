#!/usr/bin/python3
"""Makes the inputs of the PP-OCRv4 comparison test from a real text image.

    /usr/bin/python3 tests/ocr/make_inputs.py OUT_DIR [--image PATH] [--png]

Writes OUT_DIR/det_x.npy (detection input, float32 [1,3,H,W]) and OUT_DIR/rec_x.npy
(recognition input, float32 [1,3,48,320]); --png also writes the images they were made from.
The image is a scanned book page from Debian's opencv-doc examples (imageTextN.png).

Preprocessing follows PaddleOCR's inference defaults for these models:
  det: BGR->RGB, resize so both sides are multiples of 32 (longest side about 640), x/255,
       (x - ImageNet mean) / ImageNet std, HWC->CHW.
  rec: one text line cropped to the 320:48 aspect ratio, resized to 48x320, BGR->RGB,
       (x/255 - 0.5) / 0.5, HWC->CHW.
"""
import argparse
import os
import sys

import cv2
import numpy as np

IMAGE = "/usr/share/doc/opencv-doc/examples/data/imageTextN.png"
DET_MAX_SIDE = 640
REC_H, REC_W = 48, 320
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def to_nchw(rgb_float):
    return np.ascontiguousarray(rgb_float.transpose(2, 0, 1)[None], dtype=np.float32)


def det_input(bgr):
    h, w = bgr.shape[:2]
    scale = DET_MAX_SIDE / max(h, w)
    # Round each side to the nearest multiple of 32 (at least 32): the detector downsamples 32x.
    new_h = max(32, int(round(h * scale / 32)) * 32)
    new_w = max(32, int(round(w * scale / 32)) * 32)
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return to_nchw((rgb - IMAGENET_MEAN) / IMAGENET_STD), resized


def text_line_bands(gray):
    """(top, bottom) row ranges that hold ink, top to bottom."""
    has_ink = (gray < 128).any(axis=1)
    bands, start = [], None
    for y, ink in enumerate(has_ink):
        if ink and start is None:
            start = y
        elif not ink and start is not None:
            bands.append((start, y))
            start = None
    return bands


def rec_crop(bgr):
    """The start of the second full text line, padded, cut to the recognizer's aspect ratio."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bands = [b for b in text_line_bands(gray) if b[1] - b[0] >= 8]
    if len(bands) < 2:
        sys.exit("make_inputs: found no text lines in the image")
    top, bottom = bands[1]
    pad = 3
    top, bottom = max(0, top - pad), min(gray.shape[0], bottom + pad)
    cols = np.nonzero((gray[top:bottom] < 128).any(axis=0))[0]
    left = max(0, int(cols[0]) - pad)
    width = int(round((bottom - top) * REC_W / REC_H))
    return bgr[top:bottom, left:left + width]


def rec_input(bgr):
    crop = cv2.resize(rec_crop(bgr), (REC_W, REC_H), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return to_nchw((rgb - 0.5) / 0.5), crop


def main():
    parser = argparse.ArgumentParser(description="Make PP-OCR det/rec inputs as .npy files.")
    parser.add_argument("out_dir")
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--png", action="store_true", help="also write the resized images")
    args = parser.parse_args()

    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"make_inputs: cannot read {args.image} (Debian package opencv-doc)")
    os.makedirs(args.out_dir, exist_ok=True)
    det, det_img = det_input(bgr)
    rec, rec_img = rec_input(bgr)
    np.save(os.path.join(args.out_dir, "det_x.npy"), det)
    np.save(os.path.join(args.out_dir, "rec_x.npy"), rec)
    if args.png:
        cv2.imwrite(os.path.join(args.out_dir, "det.png"), det_img)
        cv2.imwrite(os.path.join(args.out_dir, "rec.png"), rec_img)
    print(f"{args.image}: det_x {list(det.shape)}, rec_x {list(rec.shape)}")


if __name__ == "__main__":
    main()
