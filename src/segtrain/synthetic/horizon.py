"""Procedural horizon scenes for sky segmentation, written as an image/mask dataset.

Each scene is an outdoor view with a horizon at a random height (about 15%-85% of the
image from the top) and camera roll (about -20 to +20 degrees).

Sky
    Vertical colour gradients (day blue, dusk orange/purple/pink, overcast grey, night
    near-black, some with a light-pollution glow, dark storm, bright overexposed haze),
    fBm clouds, haze near the horizon and sometimes a sun with glare, often low.
Below the sky
    Either sea (deep colour mixed with the reflected sky, perspective waves, sun-glint
    streaks), possibly with a far shore of hills, mountains or a city, or land: textured
    ground (grass, dry grass, sand, snow, rock, dirt) under mountains (ridged fBm
    profile, snow caps, aerial perspective), rolling hills, a tree line or a city
    skyline (stepped building profile with windows, some lit).
Camera
    Fog near the horizon, white balance, vignetting, exposure gain, a soft highlight
    roll-off, gamma, Gaussian blur and sensor noise. The boundary between sky and the
    rest is always kept visible: where it is too faint, the land and sky next to it are
    nudged apart in brightness.

Masks are computed from the geometry, not the pixels, and are not blurred.

Class indices
    ``classes=2``: 0 = not sky, 1 = sky.
    ``classes=3``: 0 = land (ground, mountains, hills, trees, buildings), 1 = sky,
    2 = water (the sea below the horizon).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from segtrain.synthetic import _scenes as sc
from segtrain.errors import UserError

F32 = np.float32
LAND, SKY, WATER = 0, 1, 2
_MIN_SIZE = 16
_CONTRAST = 0.2  # minimum RGB distance between the mean sky and land next to the boundary
_LUT_SIZE, _LUT_SCALE = 4096, 1023.75  # tone-curve lookup over [0, 4]


def synthesize_horizon(out: Path | str, n: int = 200, size: int = 256, seed: int = 0, classes: int = 2) -> int:
    """Write n procedural horizon scenes to out/images/NNNN.png (8-bit RGB) and out/masks/NNNN.png (8-bit, class indices). Returns n.

    Parameters
    ----------
    out : pathlib.Path or str
        Dataset folder; ``images/`` and ``masks/`` are created inside it if missing.
        Existing files with the same names are overwritten; other files are left alone.
    n : int, default 200
        Number of scenes, at least 1. Files are named ``0000.png``, ``0001.png``, ...
        (wider zero padding when ``n > 10000``).
    size : int, default 256
        Width and height in pixels, at least 16.
    seed : int, default 0
        Base seed, at least 0. Scene ``i`` depends only on ``(seed, i)``, so a smaller
        ``n`` gives a prefix of a larger one and repeated calls give identical files.
    classes : int, default 2
        2: masks hold 1 for sky, 0 for everything else. 3: 0 = land, 1 = sky, 2 = water.

    Returns
    -------
    int
        The number of scenes written, ``n``.

    Raises
    ------
    segtrain.errors.UserError
        If ``classes`` is not 2 or 3, ``n < 1``, ``size < 16`` or ``seed < 0``.
    """
    n, size, seed, classes = check_args(n, size, seed, classes)
    out = Path(out)
    img_dir, mask_dir = out / "images", out / "masks"
    img_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(n - 1)))
    for i in range(n):
        image, mask = render_scene(np.random.default_rng([seed, i]), size, classes)
        name = f"{i:0{width}d}.png"
        image.save(img_dir / name, compress_level=1, compress_type=zlib.Z_RLE)  # fast, small for noisy images
        Image.fromarray(mask).save(mask_dir / name, compress_level=1)
    return n


def check_args(n, size, seed, classes) -> tuple[int, int, int, int]:
    """The arguments of :func:`synthesize_horizon` as integers; a bad one is a ``UserError`` (nothing written)."""
    def as_int(value):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            return None
        return int(value)

    if as_int(classes) not in (2, 3):
        raise UserError(f"--classes {classes!r}: not supported; use 2 (sky / not sky) or 3 (land / sky / water)")
    if as_int(n) is None or n < 1:
        raise UserError(f"--n {n!r}: not a valid number of images; use an integer >= 1")
    if as_int(size) is None or size < _MIN_SIZE:
        raise UserError(f"--size {size!r}: too small or not an integer; use an integer >= {_MIN_SIZE}")
    if as_int(seed) is None or seed < 0:
        raise UserError(f"--seed {seed!r}: not valid; use an integer >= 0")
    return int(n), int(size), int(seed), int(classes)


def render_scene(rng: np.random.Generator, size: int, classes: int = 2) -> tuple[Image.Image, np.ndarray]:
    """Render one scene.

    Parameters
    ----------
    rng : numpy.random.Generator
        The scene's only source of randomness.
    size : int
        Width and height in pixels.
    classes : int
        2 or 3, see :func:`synthesize_horizon`.

    Returns
    -------
    image : PIL.Image.Image
        ``size x size`` 8-bit RGB.
    mask : numpy.ndarray
        ``(size, size)`` uint8 class indices.
    """
    geo = sc.Geometry(rng, size)
    pal = sc.sky_palette(rng)
    dark = pal["kind"] in ("night", "storm")  # dark skies hang over (brighter) land, never over a dark sea
    weights = [0.0 if dark else 0.32, 0.26, 0.1, 0.12, 0.2]
    layout = rng.choice(["sea", "mountains", "hills", "forest", "city"], p=np.divide(weights, sum(weights)))
    sea = layout == "sea" or (layout == "city" and not dark and rng.random() < 0.4)
    far = layout
    if layout == "sea":
        far = rng.choice(["none", "hills", "mountains", "forest", "city"], p=[0.4, 0.2, 0.15, 0.1, 0.15])
    cap = 0.7 * geo.h0 if layout != "sea" else 0.4 * geo.h0

    if far == "none":
        prof = np.zeros_like(geo.u)
        render_land = None
    elif far == "city":
        edges, heights = sc.skyline(rng, cap)
        idx, prof = sc.city_heights(geo, edges, heights)

        def render_land(g):
            return sc.render_city(rng, g, pal, edges, idx[g.rows], prof[g.rows])
    else:
        back = sc.ridge_profile(rng, str(far), cap)
        front = None
        if far != "forest" and rng.random() < 0.5:
            front = sc.ridge_profile(rng, "hills" if far == "mountains" else "forest", 0.6 * float(back.max()))
        prof = geo.along(back if front is None else np.maximum(back, front))

        def render_land(g):
            return sc.render_ridges(rng, g, pal, back, front)

    dist = geo.vc + prof  # >= 0 below the sky boundary, in image widths
    is_sky = dist < 0
    under = geo.vc >= 0
    img = np.zeros((3, size, size), F32)
    parts = [(is_sky, lambda g: sc.render_sky(rng, g, pal)),
             (under, lambda g: (sc.render_sea if sea else sc.render_ground)(rng, g, pal)),
             (~(is_sky | under), render_land)]
    for where, render in parts:  # render each region only over the rows it spans
        rows = np.flatnonzero(where.any(axis=1))
        if rows.size and render is not None:
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            np.copyto(img[:, lo:hi], render(geo.crop(lo, hi)), where=where[lo:hi])

    if classes == 2:
        mask = is_sky.astype(np.uint8)
    else:
        mask = np.full((size, size), LAND, np.uint8)
        mask[is_sky] = SKY
        if sea:
            mask[under] = WATER
    return _camera(rng, geo, pal, img, is_sky, dist), mask


def _camera(rng: np.random.Generator, geo, pal: dict, img, is_sky, dist) -> Image.Image:
    """Fog, colour cast, vignette, exposure, tone curve, gamma, contrast guard, blur and noise.

    ``img`` is the ``(3, H, W)`` float scene (modified in place), ``is_sky`` the sky mask and
    ``dist`` the distance below the sky boundary (negative in the sky).
    """
    size = geo.size
    if rng.random() < 0.2:
        fog_col = F32(0.5) * pal["hor"] + F32(rng.uniform(0.2, 0.5))
        amount = F32(rng.uniform(0.15, 0.5)) * np.exp(-np.abs(geo.vc) / F32(rng.uniform(0.05, 0.2)))
        img += (fog_col - img) * amount
    img *= (1 + rng.normal(0, 0.05, (3, 1, 1))).astype(F32) * F32(np.exp(rng.uniform(-0.35, 0.3)))
    if rng.random() < 0.5:
        img *= 1 - F32(rng.uniform(0, 0.4)) * (geo.x**2 + geo.y**2) * 2
    lut_index = np.clip(img * F32(_LUT_SCALE) + F32(0.5), 0, _LUT_SIZE - 1).astype(np.int32)
    img = _tone_curve(rng.uniform(0.7, 1.4)).take(lut_index)
    img = _guard_contrast(img, is_sky, dist, size)
    sigma = rng.uniform(0, 1.5) * size / 256 if rng.random() < 0.4 else 0.0
    if sigma > 0.3:
        blurred = _to_pil(img).filter(ImageFilter.GaussianBlur(sigma))
        img = np.stack([np.asarray(ch, F32) for ch in blurred.split()]) * F32(1 / 255)
    grain = rng.random((3, size, size), dtype=F32)  # per channel, plus a shared (luminance) part
    grain += F32(1.5) * rng.random((1, size, size), dtype=F32)
    grain -= F32(1.25)
    grain *= F32(rng.uniform(0.002, 0.02) / 0.52)  # std of the sum is 0.52
    shot = np.sqrt(img)
    shot += F32(0.4)
    grain *= shot
    img += grain
    return _to_pil(img)


def _tone_curve(gamma: float) -> np.ndarray:
    """Lookup table on [0, 4]: a soft highlight roll-off above 0.8, then ``x ** gamma``.

    The roll-off is monotonic, so over-exposed sky and snow are compressed but stay apart.
    """
    x = np.arange(_LUT_SIZE, dtype=F32) / F32(_LUT_SCALE)
    knee = F32(0.8)
    x = np.where(x > knee, knee + (1 - knee) * (1 - np.exp((knee - x) / (1 - knee))), x)
    return (x ** F32(gamma)).astype(F32)


def _to_pil(img: np.ndarray) -> Image.Image:
    """``(3, H, W)`` float in [0, 1] to an 8-bit RGB image."""
    scaled = img * F32(255)
    scaled += F32(0.5)
    np.maximum(scaled, 0, out=scaled)
    np.minimum(scaled, 255, out=scaled)
    u8 = scaled.astype(np.uint8)
    return Image.merge("RGB", [Image.fromarray(ch) for ch in u8])


def _guard_contrast(img: np.ndarray, is_sky: np.ndarray, dist: np.ndarray, size: int) -> np.ndarray:
    """Keep the sky boundary visible.

    Per column, compare the mean colour of the sky and of the land within a thin band
    either side of the boundary; where they differ by less than ``_CONTRAST`` (RGB
    distance), push the two sides apart: the land further the way it already leans
    (darker or brighter than the sky), as far as there is room, and the sky the other
    way for the rest (a horizon glow or shade). Both changes fade away from the boundary.
    """
    band = max(0.03, 3.0 / size)
    sky_band = (is_sky & (dist > -band)).astype(F32)
    land = ~is_sky
    land_band = (land & (dist < band)).astype(F32)
    ns, nl = sky_band.sum(0), land_band.sum(0)  # per column
    ok = (ns > 0) & (nl > 0)
    if not ok.any():
        return img
    ms = np.einsum("chw,hw->cw", img, sky_band) / np.maximum(ns, 1)  # (3, W)
    ml = np.einsum("chw,hw->cw", img, land_band) / np.maximum(nl, 1)
    need = np.where(ok, np.maximum(_CONTRAST - np.linalg.norm(ml - ms, axis=0), 0), 0)
    if need.max() <= 0:
        return img
    k = max(3, size // 16) | 1  # max filter then box filter: smooth, and never below the raw need
    need = np.lib.stride_tricks.sliding_window_view(np.pad(need, k // 2, mode="edge"), k).max(1)
    need = np.convolve(np.pad(need, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
    luma_s, luma_l = float(ms[:, ok].mean()), float(ml[:, ok].mean())
    if luma_l >= luma_s:  # land brighter: brighten it, darken the sky for the rest
        land_shift = np.minimum(need, 0.8 * (1 - luma_l))
        sky_shift = -np.minimum(need - land_shift, 0.8 * luma_s)
    else:
        land_shift = -np.minimum(need, 0.8 * luma_l)
        sky_shift = np.minimum(need + land_shift, 0.8 * (1 - luma_s))
    fade = F32(-1 / 0.08)
    img = img + land_shift.astype(F32) * (np.exp(np.maximum(dist, 0) * fade) * land)
    img += sky_shift.astype(F32) * (np.exp(np.minimum(dist, 0) * -fade) * is_sky)
    return np.clip(img, 0, 1)
