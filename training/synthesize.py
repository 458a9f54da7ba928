"""The embedded default data set: synthetic gameplay frames in the real Kaggle layout.

The real data set (Kaggle ``fraxle/images-from-fromsoftware-soulslikes``) cannot be downloaded here, so
this writes ``OUT/FromSoftwareImages/<game folder>/<clip>_<frame>.jpg`` frames at 640x360 whose classes
differ the way the games do: palette and lighting, scene structure and HUD layout, with random variation
(camera, weather, hidden HUD, noise, blur, JPEG quality) and overlap between games so that a model has to
learn more than a mean colour. Frames come in clips of near-duplicate consecutive frames, as the real set
was cut from gameplay videos, so the splitter's grouping is exercised for real.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from inference.labels import LABELS
from training.cli import save_args
from training.game_looks import KAGGLE_FOLDERS, REAL_COUNTS, RGB, STYLES, GameStyle

WIDTH, HEIGHT = 640, 360
PAN = 24  # extra pixels of scene around the frame, for the camera to pan within a clip

# What every synthetic frame carries in its JPEG comment: `prepare` counts them (data_kind).
SYNTHETIC_MARK = b"FromSoft Lens synthetic frame (python -m training synthesize)"


def clip_plan(images: int, seed: int) -> list[tuple[str, int, int]]:
    """(label, clip index, frame count) for every clip: class sizes follow REAL_COUNTS."""
    total = sum(REAL_COUNTS.values())
    exact = {label: images * REAL_COUNTS[label] / total for label in LABELS}
    counts = {label: int(v) for label, v in exact.items()}
    # Largest remainder, so the counts add up to ``images`` exactly.
    for label in sorted(LABELS, key=lambda lb: exact[lb] - counts[lb], reverse=True)[
        : images - sum(counts.values())
    ]:
        counts[label] += 1
    rng = np.random.default_rng(seed)
    plan: list[tuple[str, int, int]] = []
    for label in LABELS:
        left, clip = counts[label], 0
        while left > 0:
            frames = min(left, int(rng.integers(4, 13)))
            plan.append((label, clip, frames))
            left -= frames
            clip += 1
    return plan


def _jitter(rng: np.random.Generator, colour: RGB, amount: float) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.normal(0, amount, 3), 0, 255)


def _vertical_gradient(top: np.ndarray, bottom: np.ndarray, rows: int, width: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (rows, width, 3))


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: random values on a coarse grid, bilinearly enlarged by Pillow."""
    coarse = rng.uniform(0, 255, (cells, max(2, cells * width // height))).astype(np.uint8)
    big = Image.fromarray(coarse, "L").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(big, np.float32) / 127.5 - 1.0


def _draw_structures(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, kind: str, horizon: int, width: int, colour: RGB
) -> None:
    x = int(rng.integers(-40, 40))
    while x < width:
        w = int(rng.integers(30, 110))
        h = int(rng.integers(40, 170))
        base = horizon + int(rng.integers(0, 20))
        if kind == "spires":  # gothic towers with needle spires
            draw.rectangle([x, base - h, x + w // 2, base], fill=colour)
            draw.polygon(
                [(x, base - h), (x + w // 4, base - h - int(rng.integers(40, 110))), (x + w // 2, base - h)],
                fill=colour,
            )
        elif kind == "castle":  # crenellated walls and keeps
            draw.rectangle([x, base - h // 2, x + w, base], fill=colour)
            for cx in range(x, x + w, 12):
                draw.rectangle([cx, base - h // 2 - 8, cx + 6, base - h // 2], fill=colour)
        elif kind == "towers":  # round towers with domes
            draw.rectangle([x, base - h, x + w // 3, base], fill=colour)
            draw.ellipse([x - 6, base - h - w // 6, x + w // 3 + 6, base - h + w // 6], fill=colour)
        elif kind == "ruins":  # broken, jagged masonry
            pts = (
                [(x, base)]
                + [(x + i * w // 5, base - int(rng.integers(h // 3, h))) for i in range(6)]
                + [(x + w, base)]
            )
            draw.polygon(pts, fill=colour)
        elif kind == "erdtree":  # rolling hills and a few trees
            draw.ellipse([x - w, base - h // 3, x + 2 * w, base + h // 3], fill=colour)
        elif kind == "pagoda":  # layered curved roofs
            for level in range(int(rng.integers(1, 4))):
                y = base - level * 34
                draw.polygon([(x - 14, y), (x + w // 2, y - 26), (x + w + 14, y)], fill=colour)
                draw.rectangle([x + 8, y, x + w - 8, y + 18], fill=colour)
        x += w + int(rng.integers(5, 60))


def _scene(rng: np.random.Generator, style: GameStyle) -> tuple[np.ndarray, int]:
    """One clip's background, PAN pixels larger than a frame on every side; returns it and the horizon."""
    height, width = HEIGHT + 2 * PAN, WIDTH + 2 * PAN
    horizon = int(height * rng.uniform(0.32, 0.62))
    sky = _vertical_gradient(
        _jitter(rng, style.sky_top, 14), _jitter(rng, style.sky_horizon, 14), horizon, width
    )
    ground = _vertical_gradient(
        _jitter(rng, style.ground_far, 12), _jitter(rng, style.ground_near, 12), height - horizon, width
    )
    img = np.concatenate([sky, ground], axis=0).copy()
    img += _value_noise(rng, height, width, int(rng.integers(6, 18)))[..., None] * rng.uniform(6, 22)

    # Silhouettes on the horizon, then a couple of nearer, darker ones for depth.
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    far = tuple(int(v) for v in _jitter(rng, style.ground_far, 10) * 0.55)
    _draw_structures(draw, rng, style.structures, horizon, width, far)  # type: ignore[arg-type]
    if style.structures == "erdtree":  # the golden tree on the horizon
        cx = int(rng.integers(width // 5, 4 * width // 5))
        gold = tuple(int(v) for v in _jitter(rng, style.accent, 10))
        draw.rectangle([cx - 5, horizon - 150, cx + 5, horizon], fill=gold)
        draw.ellipse([cx - 110, horizon - 260, cx + 110, horizon - 110], fill=gold)
    near = tuple(int(v) for v in _jitter(rng, style.ground_near, 8) * 0.4)
    for _ in range(int(rng.integers(0, 3))):
        x0 = int(rng.integers(0, width))
        draw.rectangle(
            [x0, int(height * rng.uniform(0.2, 0.5)), x0 + int(rng.integers(20, 70)), height], fill=near
        )
    # Accent details: blood splatter, embers, leaves, gold motes.
    accent = tuple(int(v) for v in _jitter(rng, style.accent, 20))
    for _ in range(int(rng.integers(5, 40))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(horizon // 2, height))
        r = int(rng.integers(1, 6))
        draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=accent)
    img = np.asarray(canvas, np.float32)

    # Light source: a radial glow (moon, sun, Erdtree light, embers).
    ys, xs = np.ogrid[:height, :width]
    lx, ly = rng.uniform(0.1, 0.9) * width, style.light_height * horizon * rng.uniform(0.6, 1.2)
    radius = rng.uniform(60, 220)
    glow = np.exp(-(((xs - lx) ** 2 + (ys - ly) ** 2) / (2 * radius**2))).astype(np.float32)
    img += glow[..., None] * (np.asarray(style.light, np.float32) - img) * rng.uniform(0.35, 0.8)

    # Fog thickening towards the horizon; weather varies per clip.
    depth = np.exp(-np.abs(np.arange(height, dtype=np.float32) - horizon) / (height * 0.25))[:, None, None]
    fog = np.clip(style.fog_density * rng.uniform(0.5, 1.5), 0, 0.9)
    img = img * (1 - fog * depth) + np.asarray(style.fog, np.float32) * fog * depth
    img *= rng.uniform(0.7, 1.15)  # exposure: time of day, dark areas
    return img, horizon


def _bar(
    draw: ImageDraw.ImageDraw, x: int, y: int, length: int, fill: float, colour: RGB, h: int = 6
) -> None:
    draw.rectangle([x - 1, y - 1, x + length + 1, y + h + 1], fill=(18, 16, 14))
    draw.rectangle([x, y, x + int(length * fill), y + h], fill=colour)


def _quadrant(draw: ImageDraw.ImageDraw, cx: int, cy: int, size: int) -> None:
    """The Souls item/spell/weapon slots: four framed squares in a cross."""
    for dx, dy in ((0, -1), (-1, 0), (1, 0), (0, 1)):
        x, y = cx + dx * (size + 4), cy + dy * (size + 4)
        draw.rectangle([x, y, x + size, y + size], outline=(170, 160, 130), fill=(30, 28, 24))


def _draw_hud(frame: Image.Image, rng: np.random.Generator, hud: str, hp: float, st: float) -> None:
    draw = ImageDraw.Draw(frame)
    red, green, blue, gold = (150, 20, 20), (40, 120, 50), (40, 60, 160), (200, 170, 80)
    if hud == "souls_bars_short":  # Bloodborne: health and stamina, quick items bottom-left
        _bar(draw, 24, 22, 170, hp, red, 7)
        _bar(draw, 24, 34, 140, st, green, 4)
        for i in range(3):
            draw.rectangle([24 + i * 40, 310, 56 + i * 40, 342], outline=(150, 140, 120))
        draw.text((560, 326), f"{int(rng.integers(0, 99999))}", fill=(220, 220, 230))
    elif hud == "souls_bars_long":  # Dark Souls: long HP and stamina, slots quadrant
        _bar(draw, 40, 20, 260, hp, red, 6)
        _bar(draw, 40, 32, 200, st, green, 5)
        _quadrant(draw, 60, 290, 26)
        draw.rectangle([540, 322, 620, 342], fill=(20, 18, 16))
    elif hud == "ds2_bars":  # Dark Souls II: thin bars with frames, slots bottom-left
        _bar(draw, 30, 18, 230, hp, red, 5)
        _bar(draw, 30, 28, 180, st, green, 4)
        _quadrant(draw, 54, 296, 22)
        draw.ellipse([570, 300, 620, 350], outline=(190, 190, 200))
    elif hud == "souls_bars_ds3":  # Dark Souls III: HP, FP and stamina bars
        _bar(draw, 36, 16, 220, hp, red, 5)
        _bar(draw, 36, 26, 170, rng.uniform(0.2, 1.0), blue, 4)
        _bar(draw, 36, 35, 190, st, green, 4)
        _quadrant(draw, 64, 290, 24)
    elif hud == "des_bars":  # Demon's Souls: HP and MP top-left, stamina below, small slots
        _bar(draw, 28, 24, 200, hp, red, 6)
        _bar(draw, 28, 35, 150, rng.uniform(0.2, 1.0), blue, 4)
        _bar(draw, 28, 44, 170, st, green, 3)
        _quadrant(draw, 40, 300, 18)
    elif hud == "er_bars":  # Elden Ring: three bars, compass top-centre, runes bottom-right
        _bar(draw, 30, 18, 240, hp, red, 5)
        _bar(draw, 30, 28, 160, rng.uniform(0.2, 1.0), blue, 4)
        _bar(draw, 30, 37, 200, st, green, 4)
        draw.rectangle([200, 12, 440, 20], fill=(24, 22, 20), outline=(180, 170, 130))
        draw.polygon([(320, 8), (316, 22), (324, 22)], fill=gold)
        _quadrant(draw, 56, 288, 24)
        draw.text((560, 330), f"{int(rng.integers(0, 999999))}", fill=gold)
    elif hud == "sekiro":  # Sekiro: posture bar top-centre, vitality bottom-left, prosthetic bottom
        posture = float(rng.uniform(0.0, 0.7))
        draw.rectangle([220, 22, 420, 30], fill=(24, 22, 20))
        draw.rectangle([320 - int(100 * posture), 22, 320 + int(100 * posture), 30], fill=(230, 140, 30))
        _bar(draw, 30, 330, 200, hp, (170, 30, 30), 6)
        draw.ellipse([30, 280, 70, 320], outline=(200, 200, 190), width=2)
        draw.ellipse([80, 290, 106, 316], outline=(200, 200, 190), width=2)


def render_clip(label: str, clip: int, frames: int, seed: int) -> list[bytes]:
    """JPEG bytes of one clip: one scene, then frames that pan, flicker and re-encode slightly."""
    rng = np.random.default_rng([seed, LABELS.index(label), clip])
    style = STYLES[label]
    scene, _ = _scene(rng, style)
    blur = float(rng.choice([0.0, 0.0, 0.6, 1.2]))  # motion/depth-of-field softness of the world, not the HUD
    scene_u8 = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    if blur:
        scene_u8 = scene_u8.filter(ImageFilter.GaussianBlur(blur))
    base = np.asarray(scene_u8, np.int16)
    # Sensor/compression noise: one field per clip, sampled at a different offset for every frame.
    noise = rng.integers(-4, 5, (HEIGHT + 2 * PAN, WIDTH + 2 * PAN, 1), dtype=np.int16)
    show_hud = rng.uniform() > 0.15  # some clips hide the HUD (cutscenes, menus off)
    hp, st = float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 1.0))
    quality = int(rng.integers(70, 95))
    x, y = float(rng.uniform(0, 2 * PAN)), float(rng.uniform(0, 2 * PAN))
    dx, dy = rng.normal(0, 2.5, 2)
    out = []
    for _ in range(frames):
        x, y = float(np.clip(x + dx, 0, 2 * PAN)), float(np.clip(y + dy, 0, 2 * PAN))
        nx, ny = (int(v) for v in rng.integers(0, 2 * PAN, 2))
        crop = base[int(y) : int(y) + HEIGHT, int(x) : int(x) + WIDTH]
        flicker = int(rng.integers(-6, 7))  # exposure flicker between frames
        pixels = crop + noise[ny : ny + HEIGHT, nx : nx + WIDTH] + flicker
        frame = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        if show_hud:
            hp = float(np.clip(hp + rng.normal(0, 0.03), 0.05, 1.0))
            st = float(np.clip(st + rng.normal(0, 0.1), 0.05, 1.0))
            _draw_hud(frame, rng, style.hud, hp, st)
        buf = io.BytesIO()
        frame.save(buf, "JPEG", quality=quality, comment=SYNTHETIC_MARK)
        out.append(buf.getvalue())
    return out


def _render_job(job: tuple[str, int, int, int]) -> tuple[str, int, list[bytes]]:
    label, clip, frames, seed = job
    return label, clip, render_clip(label, clip, frames, seed)


def synthesize(out_dir: Path, images: int, seed: int, workers: int) -> Iterator[int]:
    """Write the data set; yields the number of frames written after each clip (for progress)."""
    root = out_dir / "FromSoftwareImages"
    for label in LABELS:
        (root / KAGGLE_FOLDERS[label]).mkdir(parents=True, exist_ok=True)
    jobs = [(label, clip, frames, seed) for label, clip, frames in clip_plan(images, seed)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for label, clip, frames in pool.map(_render_job, jobs, chunksize=4):
            for i, data in enumerate(frames):
                (root / KAGGLE_FOLDERS[label] / f"{clip:05d}_{i:03d}.jpg").write_bytes(data)
            yield len(frames)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, help="folder that receives FromSoftwareImages/")
    parser.add_argument("--images", type=int, default=2800, help="total frames (default 2800)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")


def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with tqdm(total=args.images, unit="img", desc="synthesize") as bar:
        for n in synthesize(args.out_dir, args.images, args.seed, args.workers):
            bar.update(n)
    elapsed = time.perf_counter() - started
    save_args(args, args.out_dir / "synthesize_args.yaml")
    print(
        f"synthesize: {args.images} frames in {elapsed:.1f} s ({args.images / elapsed:.0f} images/s) "
        f"-> {args.out_dir / 'FromSoftwareImages'}"
    )
    return 0
