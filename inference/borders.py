"""Uniform borders around a screenshot found and cut before the eval transform: letterbox and pillarbox
bars (a 16:9 game on a 16:10 or ultrawide screen) and flat frames around a stream's picture. The model
learned from whole frames; with the bars left in, the game reaches it shrunk, with black bands in its
crop. trace.moe cuts borders before its search for the same reason (its ``cutBorders``).

A side is cut when its outermost line is one colour and the lines after it keep that colour; an image
with nothing to cut comes back as the same object, so its tensor is bit for bit what it was before this
step existed. Finding out costs four lines of pixels for most screenshots, and at most a loop per 32
lines of each side: an image with one side more than ``MAX_ASPECT`` times the other is refused
(ImageLimitError), and a cut never leaves one, so the eval transform's resize that follows stays bounded.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inference.image_limits import MAX_ASPECT, check_aspect

TOLERANCE = 16  # per channel, of 255: JPEG's noise in a flat bar stays under it, a scene's texture does not
UNIFORM_SHARE = 0.98  # of a line's pixels within the tolerance: a stray pixel or a compression block
MIN_BAR = 0.01  # of the side's length: anything thinner is a frame's own dark edge, not a bar
PAIR_SLACK = 0.02  # of the side's length two opposite bars may differ by (JPEG blocks, odd sizes)
MIN_KEPT = 0.35  # of each side kept: a 32:9 screen around a 16:9 game keeps half; a flat picture, nothing
BLOCK = 32  # lines tested at a time, outside in: a bar ends within the first block for most images

Box = tuple[int, int, int, int]  # left, top, right, bottom, as Pillow crops


def _uniform(lines: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per line of ``lines`` (lines, pixels, 3): whether nearly all its pixels are within the tolerance of
    ``colour``."""
    near = (np.abs(lines.astype(np.int16) - colour).max(axis=2) <= TOLERANCE).mean(axis=1)
    return near >= UNIFORM_SHARE


def _bar(lines: np.ndarray, most: int) -> int:
    """How many of ``lines``, counted from the first (the image's edge) inwards and at most ``most``, are
    one flat bar of the first line's colour."""
    colour = np.median(lines[0], axis=0).astype(np.int16)
    if not _uniform(lines[:1], colour)[0]:  # most screenshots: their edge is already the picture
        return 0
    width = 0
    while width < most:
        block = _uniform(lines[width : min(width + BLOCK, most)], colour)
        if not block.all():
            return width + int(block.argmin())
        width += len(block)
    return width


def _paired(one: int, other: int, length: int) -> bool:
    """Whether two opposite bars frame a centred picture: both there, and about as wide. A dark sky or a
    shadow along one edge of a scene is uniform too, but on one side only."""
    wide = min(one, other) >= max(2, MIN_BAR * length)
    return wide and abs(one - other) <= PAIR_SLACK * length + 2


def border_box(pixels: np.ndarray) -> Box | None:
    """The box inside the uniform borders of an RGB array (height, width, 3), or None when there are none
    to cut (or the image is nearly all one colour: nothing tells a bar from the picture then)."""
    height, width = pixels.shape[:2]
    check_aspect(width, height)
    columns = pixels.transpose(1, 0, 2)
    sides = {"top": (pixels, height), "bottom": (pixels[::-1], height)}
    sides |= {"left": (columns, width), "right": (columns[::-1], width)}
    bars = {side: _bar(lines, int(length * (1 - MIN_KEPT))) for side, (lines, length) in sides.items()}
    for first, second, length in (("top", "bottom", height), ("left", "right", width)):
        if not _paired(bars[first], bars[second], length):
            bars[first] = bars[second] = 0
    if not any(bars.values()):
        return None
    box = (bars["left"], bars["top"], width - bars["right"], height - bars["bottom"])
    kept_w, kept_h = box[2] - box[0], box[3] - box[1]
    elongated = max(kept_w, kept_h) > MAX_ASPECT * min(kept_w, kept_h)
    return box if min(kept_w / width, kept_h / height) >= MIN_KEPT and not elongated else None


def trim_borders(image: Image.Image) -> Image.Image:
    """``image`` (RGB) without its uniform borders; the same object when it has none."""
    box = border_box(np.asarray(image))
    return image if box is None else image.crop(box)
