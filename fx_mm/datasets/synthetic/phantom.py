# Copyright (c) fx_mm contributors. All rights reserved.
"""Drawing of one synthetic chest X-ray phantom (image, organ masks,
findings); deterministic given the random generator."""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np


# ----------------------------------------------------------------------
# Drawing helpers. Geometry is defined in normalised image coordinates
# ([0, 1] x [0, 1], y down) and mapped to pixels by a per-image pose.
# ----------------------------------------------------------------------
class _Pose:
    """Similarity transform about the image centre, then to pixels."""

    def __init__(self, size: int, angle_deg: float, scale: float,
                 shift: Tuple[float, float]) -> None:
        theta = np.deg2rad(angle_deg)
        self.rot = scale * np.array([[np.cos(theta), -np.sin(theta)],
                                     [np.sin(theta),
                                      np.cos(theta)]])
        self.shift = np.asarray(shift, dtype=np.float64)
        self.size = size
        self.scale = scale

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) normalised -> (N, 2) pixel coordinates (continuous)."""
        points = np.asarray(points, dtype=np.float64) - 0.5
        return (points @ self.rot.T + 0.5 + self.shift) * self.size


def _ellipse(center: Sequence[float],
             axes: Sequence[float],
             angle_deg: float = 0.0,
             egg: float = 0.0,
             num: int = 72) -> np.ndarray:
    """(num, 2) outline of an ellipse; ``egg`` > 0 widens its lower half."""
    t = np.linspace(0, 2 * np.pi, num, endpoint=False)
    x = axes[0] * np.cos(t) * (1 + egg * np.sin(t))
    y = axes[1] * np.sin(t)
    theta = np.deg2rad(angle_deg)
    xr = x * np.cos(theta) - y * np.sin(theta)
    yr = x * np.sin(theta) + y * np.cos(theta)
    return np.stack([xr + center[0], yr + center[1]], axis=1)


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> cv2 fixed point with 4 fractional bits."""
    return np.round(points * 16).astype(np.int32)


def _fill(size: int, pixel_points: np.ndarray) -> np.ndarray:
    """Binary (size, size) uint8 mask of a filled polygon."""
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.fillPoly(mask, [_fixed(pixel_points)], 1, cv2.LINE_8, shift=4)
    return mask


def _polyline(size: int, pixel_points: np.ndarray,
              thickness: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.polylines(
        mask, [_fixed(pixel_points)],
        False,
        1,
        thickness=max(1, int(thickness)),
        lineType=cv2.LINE_8,
        shift=4)
    return mask


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blurred float32 copy of a binary mask (soft organ borders)."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _smooth_noise(rng: np.random.Generator, size: int,
                  grid: int) -> np.ndarray:
    """(size, size) float32 smooth random field with values ~N(0, 1)."""
    coarse = rng.standard_normal((grid, grid)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def _sample_inside(rng: np.random.Generator, region: np.ndarray,
                   margin: float) -> Optional[Tuple[float, float]]:
    """A random point (x, y) at least ``margin`` px inside ``region``."""
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    candidates = np.flatnonzero(dist >= margin)
    if candidates.size == 0:
        return None
    idx = int(candidates[rng.integers(candidates.size)])
    row, col = divmod(idx, region.shape[1])
    return (col + rng.uniform(0.0, 1.0), row + rng.uniform(0.0, 1.0))


def render_phantom(rng: np.random.Generator, size: int,
                   finding_prob: Dict[str, float]) -> dict:
    """Draw one phantom.

    Returns:
        dict: ``image`` (size, size) uint8, ``masks`` {organ: (size, size)
        uint8 {0, 1}}, ``labels`` {finding: 0/1}, ``boxes`` list of
        ``(finding, [x1, y1, x2, y2])`` in pixels.
    """
    unit = size / 256.0  # finding sizes are specified at 256 px
    pose = _Pose(size, rng.uniform(-4, 4), rng.uniform(0.92, 1.06),
                 rng.uniform(-0.03, 0.03, size=2))
    px = pose.scale * size  # pixels per normalised unit after the pose
    labels = {
        name: int(rng.uniform() < prob)
        for name, prob in sorted(finding_prob.items())
    }

    # --- anatomy -------------------------------------------------------
    def jit(value: float, amount: float) -> float:
        return value + rng.uniform(-amount, amount)

    body = _fill(size, pose(_ellipse((0.5, 0.6), (jit(0.48, 0.02), 0.75))))
    lung_r = _fill(
        size,
        pose(
            _ellipse((jit(0.31, 0.01), jit(0.46, 0.01)),
                     (jit(0.14, 0.01), jit(0.28, 0.015)), jit(4, 2), 0.22)))
    lung_l = _fill(
        size,
        pose(
            _ellipse((jit(0.69, 0.01), jit(0.46, 0.01)),
                     (jit(0.13, 0.01), jit(0.275, 0.015)), jit(-4, 2), 0.22)))
    heart_factor = rng.uniform(1.3, 1.45) if labels.get('cardiomegaly') \
        else rng.uniform(0.95, 1.08)
    heart = _fill(
        size,
        pose(
            _ellipse((jit(0.56, 0.01), jit(0.65, 0.01)),
                     (0.12 * heart_factor, 0.10 * heart_factor), jit(-20, 5))))
    top_w, mid_w = jit(0.06, 0.01), jit(0.07, 0.01)
    mediastinum = _fill(
        size,
        pose(
            np.array([(0.5 - top_w, -0.05), (0.5 + top_w, -0.05),
                      (0.5 + mid_w, 0.35), (0.6, 0.6), (0.42, 0.6),
                      (0.5 - mid_w, 0.35)])))
    not_central = (1 - heart) * (1 - mediastinum)
    masks = dict(
        heart=heart,
        right_lung=lung_r * not_central,
        left_lung=lung_l * not_central)
    # ~5 % of the image width, as adult clavicles on a PA radiograph (and
    # thick enough to be learnt in a few CPU minutes at 128-192 px)
    clavicle_px = 0.05 * px
    for name, side in (('right_clavicle', -1), ('left_clavicle', 1)):
        y_med, y_lat = jit(0.2, 0.015), jit(0.13, 0.015)
        points = np.array([(0.5 + side * 0.045, y_med),
                           (0.5 + side * 0.18, y_med - 0.01),
                           (0.5 + side * jit(0.31, 0.02), y_lat)])
        masks[name] = _polyline(size, pose(points), clavicle_px) * body

    ribs = np.zeros((size, size), dtype=np.uint8)
    u = np.linspace(0.0, 1.0, 24)
    for k in range(9):
        y0 = 0.16 + 0.072 * k + rng.uniform(-0.008, 0.008)
        for side in (-1, 1):
            x = 0.5 + side * (0.035 + 0.37 * u)
            y = y0 + 0.07 * u - 0.035 * np.sin(np.pi * u)
            ribs |= _polyline(size, pose(np.stack([x, y], 1)), 0.016 * px)

    sigma = 1.2 * unit
    lungs = np.maximum(masks['left_lung'], masks['right_lung'])
    soft_lungs = _soft(lungs, sigma)
    image = 0.05 + 0.5 * _soft(body, 2 * sigma)
    image -= 0.32 * soft_lungs
    image += 0.2 * _soft(heart, sigma) + 0.16 * _soft(
        mediastinum * (1 - heart), sigma)
    spine = np.zeros((size, size), dtype=np.uint8)
    top, bottom = _fixed(pose([(0.5, -0.1), (0.5, 1.1)])).tolist()
    cv2.line(spine, tuple(top), tuple(bottom), 1, max(1, int(0.05 * px)),
             cv2.LINE_8, 4)
    image += 0.06 * _soft(spine, sigma) * _soft(body, sigma)
    # air in the trachea: a dark stripe down the upper mediastinum
    trachea = _polyline(size, pose([(0.5, -0.05), (0.5, 0.3)]), 0.028 * px)
    image -= 0.1 * _soft(trachea, 1.5 * sigma)
    # lung markings: hilar vessels (brighter medially) and fine texture
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    hila = np.zeros((size, size), dtype=np.float32)
    for hx, hy in pose([(0.41, 0.46), (0.6, 0.46)]):
        dist2 = (cols - hx)**2 + (rows - hy)**2
        hila += np.exp(-dist2 / (2 * (0.07 * px)**2))
    markings = 0.07 * hila + 0.025 * _smooth_noise(rng, size, 40)
    image += markings * soft_lungs
    image += 0.08 * _soft(ribs, 0.8 * unit) * _soft(body, 2 * sigma)
    clavicles = np.maximum(masks['left_clavicle'], masks['right_clavicle'])
    image += 0.18 * _soft(clavicles, 0.8 * unit)

    # --- findings ------------------------------------------------------
    boxes: List[Tuple[str, List[float]]] = []
    lung_sides = [masks['right_lung'], masks['left_lung']]
    if labels.get('nodule'):
        centers: List[Tuple[float, float, float]] = []
        for _ in range(int(rng.choice(3, p=(0.5, 0.35, 0.15))) + 1):
            radius = rng.uniform(5.0, 12.0) * unit
            for _attempt in range(20):
                side = lung_sides[int(rng.integers(2))]
                center = _sample_inside(rng, side, radius + 2)
                if center is None:
                    continue
                if all(
                        np.hypot(center[0] - cx, center[1] - cy) > 2.5 *
                        max(radius, r) for cx, cy, r in centers):
                    break
            else:  # pragma: no cover - the lungs always have room
                continue
            cx, cy = center
            centers.append((cx, cy, radius))
            dist2 = ((cols - cx)**2 + (rows - cy)**2) / radius**2
            image += rng.uniform(0.45, 0.6) * np.sqrt(
                np.clip(1.0 - dist2, 0.0, 1.0))
            boxes.append(('nodule',
                          [cx - radius, cy - radius, cx + radius,
                           cy + radius]))
        labels['nodule'] = int(bool(centers))
    if labels.get('opacity'):
        num = 1 if rng.uniform() < 0.7 else 2
        for _ in range(num):
            side = lung_sides[int(rng.integers(2))]
            center = _sample_inside(rng, side, 12 * unit)
            if center is None:  # pragma: no cover
                continue
            axes = rng.uniform(16.0, 32.0, size=2) * unit
            theta = rng.uniform(0, np.pi)
            dx, dy = cols - center[0], rows - center[1]
            along = (dx * np.cos(theta) + dy * np.sin(theta)) / axes[0]
            across = (-dx * np.sin(theta) + dy * np.cos(theta)) / axes[1]
            texture = np.clip(0.85 + 0.25 * _smooth_noise(rng, size, 24), 0.55,
                              1.3)
            amplitude = rng.uniform(0.28, 0.38)
            patch = amplitude * np.exp(-2.0 * (along**2 + across**2)**2) \
                * _soft(side, sigma) * texture
            visible = patch >= 0.2 * amplitude
            if not visible.any():  # pragma: no cover
                continue
            image += patch
            ys, xs = np.nonzero(visible)
            boxes.append(('opacity', [
                float(xs.min()),
                float(ys.min()),
                float(xs.max() + 1),
                float(ys.max() + 1)
            ]))
        labels['opacity'] = int(any(b[0] == 'opacity' for b in boxes))

    # --- acquisition: smooth shading, contrast, noise -------------------
    image *= 1.0 + 0.05 * _smooth_noise(rng, size, 5)
    image += np.linspace(-1, 1, size, dtype=np.float32)[:, None] \
        * rng.uniform(-0.04, 0.04)
    image = image * rng.uniform(0.9, 1.1) + rng.uniform(-0.04, 0.04)
    image += rng.normal(0.0, 0.022, size=(size, size))
    image = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)

    clipped = []
    for name, (x1, y1, x2, y2) in boxes:
        clipped.append((name, [
            float(np.clip(x1, 0, size)),
            float(np.clip(y1, 0, size)),
            float(np.clip(x2, 0, size)),
            float(np.clip(y2, 0, size))
        ]))
    return dict(image=image, masks=masks, labels=labels, boxes=clipped)
