"""Draw the bundled sample images (resources/samples/): our own synthetic scenes.

Deterministic (fixed seed): running it again gives the same files. Each scene has a
shaded, slightly noisy background and several objects a click model should separate:
discs, a star, a ring with a hole, overlapping shapes, a small object, one on the border.

    python scripts/make_samples.py
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "resources" / "samples"
HEIGHT, WIDTH = 600, 800
rng = np.random.default_rng(2026)


def background(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A vertical colour gradient with soft low-frequency blotches (RGB float)."""
    t = np.linspace(0, 1, HEIGHT)[:, None, None]
    image = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    image = np.repeat(image, WIDTH, axis=1)
    blotches = cv2.resize(rng.normal(0, 10, (6, 8)), (WIDTH, HEIGHT),
                          interpolation=cv2.INTER_CUBIC)
    return image + blotches[..., None]


def stripes(image: np.ndarray, period: float, strength: float) -> np.ndarray:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    return image + strength * np.sin((xx + 0.6 * yy) * 2 * np.pi / period)[..., None]


def shaded(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int],
           light: tuple[float, float] = (-0.5, -0.6)) -> np.ndarray:
    """Paint ``mask`` in ``color`` with a soft light from the upper left."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    extent = max(np.ptp(ys), np.ptp(xs), 1) / 2
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    shade = 1.0 - 0.35 * np.clip(((yy - cy) * light[0] + (xx - cx) * light[1]) / extent, -1, 1)
    painted = np.array(color, float)[None, None, :] * (1.15 - 0.3 * (1 - shade))[..., None]
    return np.where(mask[..., None], painted, image)


def disc(cy: int, cx: int, r: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(mask, (cx, cy), r, 1, -1, cv2.LINE_AA)
    return mask.astype(bool)


def ellipse(cy: int, cx: int, ry: int, rx: int, angle: float) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.ellipse(mask, (cx, cy), (rx, ry), angle, 0, 360, 1, -1, cv2.LINE_AA)
    return mask.astype(bool)


def polygon(points: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.round(np.array(points)).astype(np.int32)], 1, cv2.LINE_AA)
    return mask.astype(bool)


def star(cy: int, cx: int, outer: int, inner: int, points: int = 5) -> np.ndarray:
    angles = np.arange(2 * points) * np.pi / points - np.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return polygon([(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii)])


def finish(image: np.ndarray, name: str) -> None:
    image = cv2.GaussianBlur(image, (0, 0), 0.8) + rng.normal(0, 2.5, image.shape)
    rgb = np.clip(image, 0, 255).astype(np.uint8)
    cv2.imwrite(str(OUT / name), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])


def fruit_table() -> None:
    image = background((196, 170, 138), (120, 86, 60))
    image = stripes(image, 46, 6)  # wood grain
    image = shaded(image, ellipse(330, 420, 150, 300, 0), (236, 233, 224))  # a plate
    image = shaded(image, disc(300, 250, 85), (240, 140, 30))  # orange
    image = shaded(image, disc(330, 560, 95), (200, 35, 40))  # apple
    image = shaded(image, ellipse(232, 598, 16, 34, -30), (70, 150, 50))  # apple leaf
    image = shaded(image, disc(390, 400, 45), (245, 215, 60))  # lemon
    image = shaded(image, disc(545, 60, 70), (110, 60, 150))  # plum, cut by the border
    finish(image, "01_fruit_table.jpg")


def workshop() -> None:
    image = background((70, 90, 110), (40, 52, 66))
    image = shaded(image, star(180, 190, 130, 55), (250, 200, 40))
    ring = disc(200, 560, 120) & ~disc(200, 560, 60)  # a washer: the hole shows background
    image = shaded(image, ring, (185, 190, 198))
    image = shaded(image, polygon([(80, 420), (330, 380), (350, 470), (100, 520)]),
                   (40, 140, 200))  # a tilted plate
    image = shaded(image, disc(470, 640, 14), (230, 60, 60))  # a small screw head
    image = shaded(image, polygon([(450, 560), (800, 520), (800, 600), (470, 600)]),
                   (150, 110, 70))  # a board leaving the picture
    finish(image, "02_workshop.jpg")


def pond() -> None:
    image = background((60, 120, 130), (30, 70, 90))
    image = stripes(image, 23, 4)  # ripples
    image = shaded(image, ellipse(260, 300, 110, 170, 15), (60, 150, 60))  # lily pad
    image = shaded(image, ellipse(250, 330, 60, 90, -20), (240, 170, 200))  # flower on it
    image = shaded(image, ellipse(420, 600, 70, 120, -25), (240, 120, 30))  # koi
    image = shaded(image, polygon([(650, 460), (700, 420), (710, 500)]), (240, 120, 30))  # tail
    image = shaded(image, ellipse(120, 640, 40, 55, 0), (120, 120, 115))  # a stone
    finish(image, "03_pond.jpg")


def night_sky() -> None:
    image = background((16, 22, 60), (40, 30, 80))
    image = shaded(image, disc(150, 620, 80) & ~disc(120, 660, 75), (245, 240, 200))  # moon
    for cy, cx, r in ((90, 120, 6), (200, 300, 4), (70, 420, 5), (260, 180, 3)):
        image = shaded(image, star(cy, cx, 3 * r, r, 4), (255, 255, 230))  # stars
    hills = polygon([(0, 430), (180, 360), (380, 420), (560, 350), (800, 410),
                     (800, 600), (0, 600)])
    image = shaded(image, hills, (25, 60, 35))
    house = polygon([(300, 330), (420, 330), (420, 460), (300, 460)]) | polygon(
        [(285, 335), (360, 270), (435, 335)])
    image = shaded(image, house, (150, 70, 50))
    image = shaded(image, polygon([(330, 360), (365, 360), (365, 395), (330, 395)]),
                   (255, 220, 120))  # a lit window
    finish(image, "04_night_sky.jpg")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for scene in (fruit_table, workshop, pond, night_sky):
        scene()


if __name__ == "__main__":
    main()
