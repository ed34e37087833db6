"""Building blocks for the procedural horizon scenes of :mod:`segtrain.synthetic.horizon`.

Everything here is vectorised numpy over whole rows of a ``size x size`` frame (see
:meth:`Geometry.crop`); images are ``(3, H, W)`` float32. Geometry is
expressed in image-width units in a frame rolled with the camera: ``u`` runs along the
horizon and ``vc`` is the distance below it (negative above), so ``alt = -vc`` is the
height above the horizon. Colours are float32 RGB, roughly in [0, 1] (sun glare may
exceed 1 until the tone curve in :mod:`segtrain.synthetic.horizon` compresses it).
"""

from __future__ import annotations

import copy

import numpy as np

F32 = np.float32
_XS = np.linspace(-0.8, 0.8, 1025)  # samples along the horizon for 1-D profiles


def _smooth(t):
    return t * t * (3.0 - 2.0 * t)


def _resample(grid: np.ndarray, ny: int, nx: int, lattice: bool, rows: slice = slice(None)) -> np.ndarray:
    """Smoothstep-interpolate a lattice onto ``ny x nx`` points (only ``rows`` of them), separably.

    With ``lattice`` the points are a finer lattice spanning the same extent (corner to
    corner); otherwise they are pixel centres.
    """
    out = grid
    for axis, n in ((0, ny), (1, nx)):
        cells = grid.shape[axis] - 1
        pos = np.arange(n) * (cells / (n - 1)) if lattice else (np.arange(n) + 0.5) * (cells / n)
        pos = pos[rows] if axis == 0 else pos
        i0 = np.minimum(pos.astype(np.int64), cells - 1)
        t = _smooth(pos - i0).astype(F32)
        lo, hi = out.take(i0, axis=axis), out.take(i0 + 1, axis=axis)
        out = lo + (hi - lo) * (t[:, None] if axis == 0 else t)
    return out


def fbm(rng: np.random.Generator, size: int, cy: int, cx: int, octaves: int = 4, gain: float = 0.5,
        rows: slice = slice(None)) -> np.ndarray:
    """Fractal value noise, ``size x size`` (or those ``rows`` of it), stretched to [0, 1].

    The octaves are summed on the finest lattice and interpolated to pixels once.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random lattices.
    size : int
        Output is ``size x size``.
    cy, cx : int
        Lattice cells of the first octave vertically and horizontally (``cy > cx``
        makes features wider than tall).
    octaves, gain : int, float
        Number of octaves, each with twice the cells and ``gain`` times the amplitude.
    rows : slice
        The rows to return.
    """
    fy, fx = min(cy << (octaves - 1), size) + 1, min(cx << (octaves - 1), size) + 1
    total = np.zeros((fy, fx), F32)
    amp = 1.0
    for o in range(octaves):
        grid = rng.random((min(cy << o, size) + 1, min(cx << o, size) + 1), dtype=F32)
        total += F32(amp) * (grid if grid.shape == total.shape else _resample(grid, fy, fx, True))
        amp *= gain
    total = _resample(total, size, size, False, rows)
    lo, hi = total.min(), total.max()
    return (total - lo) / max(hi - lo, 1e-6)


def lattice_fbm(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, octaves: int = 2, n: int = 64) -> np.ndarray:
    """Value noise sampled at arbitrary coordinates ``(u, v)`` (periodic lattice of ``n``), about [0, 1]."""
    total = np.zeros(u.shape, F32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        g = rng.random(n * n, dtype=F32)
        idx, frac = [], []
        for coord in (u, v):
            c = coord * F32(2**o)
            c += F32(rng.uniform(0, n))
            i = np.floor(c)
            c -= i
            t = c * c  # smoothstep of the fraction, in place
            c *= F32(-2)
            c += F32(3)
            t *= c
            idx.append(i.astype(np.int32) & (n - 1))
            frac.append(t)
        iu, iv = idx
        iv *= n
        iu1, iv1 = (iu + 1) & (n - 1), (iv + n) & (n * n - 1)
        a, b = g.take(iv + iu), g.take(iv + iu1)
        c, d = g.take(iv1 + iu), g.take(iv1 + iu1)
        b -= a  # bilinear: a + (b - a) tu + ((c - a) + (d - b - c + a) tu) tv
        d -= c
        d -= b
        c -= a
        d *= frac[0]
        d += c
        d *= frac[1]
        b *= frac[0]
        a += b
        a += d
        a *= F32(amp)
        total += a
        norm += amp
        amp *= 0.5
    return total / F32(norm)


class Geometry:
    """Camera geometry of one scene: horizon height ``h0`` (fraction from the top) and roll.

    Attributes ``x``, ``y`` are pixel-centre coordinates in [-0.5, 0.5]; ``u`` and ``vc``
    are the rolled coordinates described in the module docstring.
    """

    def __init__(self, rng: np.random.Generator, size: int):
        c = ((np.arange(size) + 0.5) / size - 0.5).astype(F32)
        self.size, self.rows = size, slice(0, size)
        self.x, self.y = c[None, :], c[:, None]
        roll = rng.uniform(-20, 20) if rng.random() < 0.7 else rng.uniform(-4, 4)
        self.h0 = float(rng.uniform(0.15, 0.85))
        th = np.deg2rad(roll)
        cs, sn = F32(np.cos(th)), F32(np.sin(th))
        self.u = self.x * cs + self.y * sn
        self.vc = (self.y * cs - self.x * sn) - F32(self.h0 - 0.5)
        self.alt = -self.vc
        pos = np.clip((self.u + F32(0.8)) * F32((len(_XS) - 1) / 1.6), 0, len(_XS) - 1.001)
        self._i = pos.astype(np.int32)
        self._f = pos - self._i

    def crop(self, lo: int, hi: int) -> Geometry:
        """The same geometry restricted to image rows ``lo:hi`` (``rows`` says which)."""
        g = copy.copy(self)
        g.rows = slice(lo, hi)
        for name in ("y", "u", "vc", "alt", "_i", "_f"):
            setattr(g, name, getattr(self, name)[lo:hi])
        return g

    def along(self, prof: np.ndarray) -> np.ndarray:
        """Evaluate a profile sampled on ``_XS`` (positions along the horizon) at every pixel."""
        a = prof.astype(F32).take(self._i)
        return a + (prof.astype(F32).take(self._i + 1) - a) * self._f

    def below(self, texture) -> np.ndarray:
        """Call ``texture(rows)`` only for the rows that reach below the horizon; zeros elsewhere."""
        out = np.zeros(self.u.shape, F32)
        rows = np.flatnonzero((self.vc > 0).any(axis=1))
        if rows.size:
            out[rows[0]:] = texture(slice(int(rows[0]), None))
        return out


def rgb(*c) -> np.ndarray:
    """A colour as a ``(3, 1, 1)`` float32 array, broadcastable against ``(3, H, W)`` images."""
    return np.asarray(c, F32).reshape(3, 1, 1)


def _jit(rng, c, s=0.04):
    return np.clip(rgb(*c) + rng.normal(0, s, (3, 1, 1)).astype(F32), 0.0, 1.0)


def sky_palette(rng: np.random.Generator) -> dict:
    """Draw a sky kind (day, dusk, overcast, night, storm, bright) and its colours."""
    kinds = ["day", "dusk", "overcast", "night", "storm", "bright"]
    kind = rng.choice(kinds, p=[0.48, 0.16, 0.12, 0.07, 0.07, 0.1])
    one = rgb(1, 1, 1)
    if kind == "day":
        p = dict(zen=_jit(rng, (0.16, 0.36, 0.78)), hor=_jit(rng, (0.68, 0.8, 0.93)),
                 cloud=_jit(rng, (0.96, 0.96, 0.97), 0.02), shade=_jit(rng, (0.58, 0.62, 0.7)),
                 light=F32(rng.uniform(0.8, 1.1)) * rgb(1.0, 0.97, 0.92))
    elif kind == "dusk":
        hor = (0.98, 0.58, 0.28) if rng.random() < 0.6 else (0.95, 0.55, 0.62)
        p = dict(zen=_jit(rng, (0.22, 0.2, 0.45)), hor=_jit(rng, hor), cloud=_jit(rng, (0.95, 0.6, 0.45)),
                 shade=_jit(rng, (0.3, 0.22, 0.35)), light=F32(rng.uniform(0.45, 0.85)) * rgb(0.9, 0.62, 0.45))
    elif kind == "overcast":
        g = F32(rng.uniform(0.45, 0.85))
        p = dict(zen=g * rgb(0.8, 0.81, 0.85), hor=g * rgb(1.0, 1.0, 1.02), cloud=one * g * 1.08,
                 shade=one * g * 0.7, light=one * g * F32(rng.uniform(0.8, 1.1)))
    elif kind == "night":
        hor = (0.05, 0.08, 0.18) if rng.random() < 0.7 else (0.14, 0.12, 0.17)
        p = dict(zen=_jit(rng, (0.018, 0.03, 0.08), 0.006), hor=_jit(rng, hor, 0.015), cloud=rgb(0.09, 0.1, 0.15),
                 shade=rgb(0.05, 0.06, 0.1), light=F32(rng.uniform(0.3, 0.55)) * rgb(0.95, 0.92, 0.88))
    elif kind == "storm":
        g = F32(rng.uniform(0.15, 0.35))
        p = dict(zen=g * rgb(0.75, 0.85, 1.1), hor=g * rgb(1.2, 1.3, 1.5), cloud=one * g * 1.35,
                 shade=one * g * 0.95, light=one * F32(rng.uniform(0.7, 1.05)))
    else:
        g = F32(rng.uniform(0.86, 0.98))
        p = dict(zen=g * rgb(0.92, 0.95, 1.0), hor=one * min(g * 1.03, 1.0), cloud=one, shade=one * g * 0.85,
                 light=one * F32(rng.uniform(0.95, 1.2)))
    p["kind"], p["p"] = str(kind), float(rng.uniform(0.5, 1.5))
    p["sun"] = None
    if kind in ("day", "dusk", "bright") and rng.random() < (0.75 if kind == "dusk" else 0.5):
        alt = rng.uniform(-0.01, 0.07) if kind == "dusk" or rng.random() < 0.3 else rng.uniform(0.08, 0.5)
        col = (1.0, 0.72, 0.4) if kind == "dusk" else (1.0, 0.97, 0.9)
        p["sun"] = dict(u=rng.uniform(-0.4, 0.4), alt=alt, r=rng.uniform(0.012, 0.035), s=rng.uniform(0.5, 1.3),
                        halo=rng.uniform(0.06, 0.2), col=rgb(*col))
    return p


def sky_gradient(pal: dict, t: np.ndarray) -> np.ndarray:
    """Colour of the sky at normalised altitude ``t`` in [0, 1] (0 = horizon, 1 = zenith)."""
    t = np.clip(t, 0.0, 1.0) ** F32(pal["p"])
    return pal["hor"] + (pal["zen"] - pal["hor"]) * t


def render_sky(rng: np.random.Generator, geo: Geometry, pal: dict) -> np.ndarray:
    """Gradient sky with fBm clouds, horizon haze and optional sun glare."""
    n = geo.size
    top = geo.h0 + 0.15
    img = sky_gradient(pal, geo.alt / F32(top))
    cover = rng.uniform(0.0, 0.6) if pal["kind"] != "overcast" else rng.uniform(0.5, 1.0)
    if cover > 0.08:
        cy, cx = int(rng.integers(4, 9)), int(rng.integers(2, 4))  # soft clouds, wider than tall
        clouds = fbm(rng, n, cy, cx, 4, rng.uniform(0.35, 0.55), rows=geo.rows)
        thr = 1.0 - cover
        dens = np.clip((clouds - thr) / F32(rng.uniform(0.15, 0.4)), 0, 1) * F32(rng.uniform(0.35, 0.8))
        shade = fbm(rng, n, 3, 6, 3, rows=geo.rows)
        ccol = pal["cloud"] + (pal["shade"] - pal["cloud"]) * shade
        img += (ccol - img) * dens
    haze = F32(rng.uniform(0.0, 0.6)) * np.exp(-np.maximum(geo.alt, 0) / F32(rng.uniform(0.02, 0.1)))
    img += (pal["hor"] * F32(1.05) - img) * haze
    sun = pal["sun"]
    if sun is not None:
        d = np.sqrt((geo.u - F32(sun["u"])) ** 2 + (geo.alt - F32(sun["alt"])) ** 2)
        disc = F32(1.5) * np.exp(-((d / F32(sun["r"])) ** 4))
        glare = F32(sun["s"]) * (disc + F32(0.6) * np.exp(-d / F32(sun["halo"])))
        img += sun["col"] * glare
    return img


MATERIALS = {  # base colour, patch colour, texture strength
    "grass": ((0.17, 0.3, 0.08), (0.3, 0.28, 0.12), 0.5),
    "dry": ((0.5, 0.45, 0.22), (0.38, 0.3, 0.16), 0.4),
    "sand": ((0.85, 0.74, 0.54), (0.7, 0.58, 0.4), 0.25),
    "snow": ((0.93, 0.95, 0.98), (0.7, 0.75, 0.85), 0.15),
    "rock": ((0.42, 0.39, 0.35), (0.25, 0.23, 0.22), 0.55),
    "dirt": ((0.36, 0.26, 0.16), (0.22, 0.16, 0.1), 0.45),
}
_GROUND_WEIGHTS = {  # grass, dry, sand, snow, rock, dirt
    "day": (0.35, 0.15, 0.15, 0.1, 0.1, 0.15), "dusk": (0.35, 0.15, 0.15, 0.1, 0.1, 0.15),
    "overcast": (0.35, 0.15, 0.1, 0.15, 0.1, 0.15), "night": (0.15, 0.15, 0.4, 0.15, 0.1, 0.05),
    "storm": (0.1, 0.35, 0.45, 0.1, 0.0, 0.0), "bright": (0.25, 0.1, 0.35, 0.2, 0.1, 0.0),
}


def perspective_noise(rng: np.random.Generator, geo: Geometry, depth: np.ndarray, fu: float, fv: float, octaves: int):
    """Noise on a plane seen in perspective below the horizon.

    Returns ``(detail, raw)``: ``raw`` is the noise in about [0, 1]; ``detail`` is
    ``raw - 0.5`` faded out where its lattice gets finer than about a pixel (towards the
    horizon), so distant texture averages out instead of aliasing.
    """
    z = F32(1.0) / depth
    fu, fv = F32(fu), F32(fv)
    raw = geo.below(lambda r: lattice_fbm(rng, geo.u[r] * z[r] * fu, z[r] * fv, octaves))
    per_px = np.maximum(fu * z, fv * z * z) * F32(2 ** (octaves - 1) / geo.size)
    return (raw - F32(0.5)) * np.clip(F32(1.5) - per_px, 0, 1), raw


def render_ground(rng: np.random.Generator, geo: Geometry, pal: dict) -> np.ndarray:
    """Textured ground below the horizon (grass, sand, snow, rock, ...) with perspective."""
    name = rng.choice(list(MATERIALS), p=_GROUND_WEIGHTS[pal["kind"]])
    base, patch, strength = MATERIALS[name]
    base, patch = _jit(rng, base, 0.03), _jit(rng, patch, 0.03)
    depth = np.maximum(geo.vc, 0) + F32(0.01)
    fine, _ = perspective_noise(rng, geo, depth, rng.uniform(2, 5), rng.uniform(3, 8), 4)
    blob = np.clip((fbm(rng, geo.size, 8, 3, 3, rows=geo.rows) - F32(rng.uniform(0.3, 0.8))) * 4, 0, 1)
    col = base + (patch - base) * blob
    grain = fbm(rng, geo.size, 24, 24, 3, rows=geo.rows) - F32(0.5)  # fine texture, also far away
    col *= 1 + F32(strength * 2.5) * fine + F32(rng.uniform(0.4, 0.7)) * grain
    col *= (F32(1.0) - F32(rng.uniform(-0.15, 0.25)) * np.clip(depth * 2, 0, 1))
    return col * pal["light"]


def render_sea(rng: np.random.Generator, geo: Geometry, pal: dict) -> np.ndarray:
    """Sea surface: deep colour mixed with the reflected sky, perspective waves, sun glint."""
    depth = np.maximum(geo.vc, 0)
    waves, raw = perspective_noise(rng, geo, depth + F32(0.012), rng.uniform(0.5, 1.5), rng.uniform(4.0, 10.0), 2)
    refl = sky_gradient(pal, depth * F32(rng.uniform(1.0, 3.0)))
    r0, r1 = rng.uniform(0.1, 0.2), rng.uniform(0.3, 0.55)
    fres = F32(r0) + F32(r1 - r0) * np.exp(-depth / F32(rng.uniform(0.05, 0.15)))
    deeps = ((0.02, 0.08, 0.14), (0.03, 0.12, 0.1), (0.06, 0.08, 0.1), (0.05, 0.15, 0.2))
    deep = _jit(rng, deeps[rng.integers(len(deeps))], 0.015) * pal["light"] * F32(1.5)
    col = deep + (refl - deep) * fres
    col *= 1 + F32(rng.uniform(0.6, 1.8)) * waves
    sun = pal["sun"]
    if sun is not None and sun["alt"] > -0.005:
        width = F32(0.015) + depth * F32(rng.uniform(0.15, 0.5))
        glint = np.exp(-(((geo.u - F32(sun["u"])) / width) ** 2)) * np.clip((raw - F32(0.5)) * 5, 0, 1)
        col += sun["col"] * (glint * F32(sun["s"] * 1.3))
    return col


def ridge_profile(rng: np.random.Generator, kind: str, cap: float) -> np.ndarray:
    """Heights above the horizon along ``_XS`` for ``mountains``, ``hills`` or ``forest``."""
    cells, octaves, rough, ridge, amp = {
        "mountains": (int(rng.integers(2, 6)), 5, 0.5, True, rng.uniform(0.08, 0.35)),
        "hills": (int(rng.integers(2, 5)), 3, 0.4, False, rng.uniform(0.03, 0.12)),
        "forest": (int(rng.integers(20, 45)), 3, 0.7, False, rng.uniform(0.02, 0.07)),
    }[kind]
    out, a = np.zeros_like(_XS), 1.0
    for o in range(octaves):
        k = cells << o
        n = np.interp(_XS, np.linspace(-0.8, 0.8, k + 1), rng.random(k + 1))
        out += a * (1 - np.abs(2 * n - 1) if ridge else n)
        a *= rough
    out = (out - out.min()) / max(out.max() - out.min(), 1e-9)
    if kind == "forest":
        out = 0.5 + 0.5 * out
    return (min(amp, cap) * out).astype(F32)


def render_ridges(rng: np.random.Generator, geo: Geometry, pal: dict, back: np.ndarray, front) -> np.ndarray:
    """Colour mountains / hills / tree lines (a back layer and an optional front one)."""
    harsh = pal["kind"] in ("bright", "storm", "night")  # snowy mountains are likelier
    bases = [(0.33, 0.35, 0.42), (0.08, 0.16, 0.08), (0.4, 0.32, 0.25), (0.82, 0.85, 0.92), (0.2, 0.2, 0.22)]
    probs = (0.25, 0.2, 0.15, 0.25, 0.15) if harsh else (0.3, 0.25, 0.2, 0.1, 0.15)
    pick = rng.choice(len(bases), p=probs)
    base = _jit(rng, bases[pick], 0.03) * pal["light"]
    streak = fbm(rng, geo.size, 3, 24, 3, rows=geo.rows)
    if pick == 3:  # snowy: dark rock shows through in the gullies
        streak = np.clip(streak * 3 - 1, 0, 1) * F32(-2.5)
    fine = fbm(rng, geo.size, 20, 20, 3, rows=geo.rows)
    slope = geo.along(np.gradient(back, _XS))
    lit = F32(1.0) + F32(0.25) * np.tanh(slope * F32(rng.choice([-3.0, 3.0])))
    tex = (F32(0.8) + F32(0.15) * streak + F32(rng.uniform(0.4, 0.7)) * (fine - F32(0.5))) * lit
    col = base * tex
    if rng.random() < 0.35:
        top = geo.along(back)
        line = F32(rng.uniform(0.4, 0.8)) * top + F32(0.03) * (fine - F32(0.5))
        snow = ((geo.alt > line) & (top > 0.06))
        col = np.where(snow, rgb(0.92, 0.94, 0.98) * pal["light"] * tex, col)
    aerial = F32(rng.uniform(0.1, 0.35))
    far = col + (pal["hor"] - col) * aerial
    if front is None:
        return far
    near = col * F32(rng.uniform(0.6, 0.9))
    in_front = geo.alt < geo.along(front)
    return np.where(in_front, near, far)


def skyline(rng: np.random.Generator, cap: float):
    """Random buildings along the horizon: returns ``(edges, heights)``, ``len(edges) = len(heights) + 1``."""
    widths = []
    while sum(widths) < 1.7:
        widths.append(rng.uniform(0.012, 0.07))
    edges = -0.85 + np.concatenate([[0.0], np.cumsum(widths)])
    nb = len(widths)
    top = rng.uniform(0.05, 0.35)
    h = top * rng.uniform(0.2, 1.0, nb) ** 1.5
    towers = rng.random(nb) < 0.12
    h[towers] *= rng.uniform(1.3, 2.2, towers.sum())
    gaps = rng.random(nb) < 0.1
    h[gaps] = rng.uniform(0.003, 0.012, gaps.sum())
    return edges.astype(F32), np.minimum(h, cap).astype(F32)


def city_heights(geo: Geometry, edges: np.ndarray, heights: np.ndarray):
    """Per-pixel building index and roof height above the horizon."""
    idx = np.clip(np.searchsorted(edges, geo.u, side="right") - 1, 0, len(heights) - 1)
    return idx, heights[idx]


def render_city(rng: np.random.Generator, geo: Geometry, pal: dict, edges, idx, roof) -> np.ndarray:
    """Buildings with per-building shade and a grid of windows, some lit."""
    night = pal["kind"] in ("night", "storm") or (pal["kind"] == "dusk" and rng.random() < 0.5)
    nb = len(edges) - 1
    shade = (rng.uniform(0.15, 0.5, nb) * (0.15 if night else 1.0)).astype(F32)
    col = shade[idx] * (_jit(rng, (1.0, 0.97, 0.93), 0.05) * (1 if night else pal["light"]))
    wx, wy = F32(rng.uniform(0.007, 0.016)), F32(rng.uniform(0.009, 0.018))
    lu, lv = geo.u - edges[idx], roof - geo.alt
    width = edges[idx + 1] - edges[idx]
    cu, cv = lu / wx, lv / wy
    fu, fv = cu - np.floor(cu), cv - np.floor(cv)
    win = (fu > 0.25) & (fu < 0.75) & (fv > 0.3) & (fv < 0.8) & (lv > wy) & (lu > wx * 0.5) & (lu < width - wx * 0.5)
    table = rng.random(4096) < (rng.uniform(0.3, 0.7) if night else rng.uniform(0.0, 0.15))
    key = (idx * 131 + np.floor(cu).astype(np.int64) * 17 + np.floor(cv).astype(np.int64) * 7919) % 4096
    lit = win & table[key]
    glass = pal["hor"] * F32(0.5) if not night else rgb(0.02, 0.02, 0.02)
    col = np.where(win, glass, col)
    lamp = rgb(1.0, 0.82, 0.5) * F32(rng.uniform(0.6, 1.0))
    return np.where(lit, lamp, col)
