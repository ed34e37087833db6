"""Tiled inference: segtrain's `tiled_logits` against MONAI's `sliding_window_inference`, side by side.

Both blend the same default U-Net's logits over the same image with the same tile size, overlap,
Gaussian weights and edge padding, so their outputs must agree (the largest absolute difference
is printed). MONAI is called as segtrain called it before issue 7: 4 tiles per forward, tiles
sliced from the NCHW image, under `torch.inference_mode`. `--variants` can add two ablations:
`monai-tuned`, MONAI given channels-last tiles and segtrain's batch (the layout's share of the
gain), and `ours-serial`, segtrain with one network call at a time on all threads (the share of
running batches of tiles in parallel workers).

Each measurement runs in its own fresh process (imports, model with seed 0, a random image with
seed 1, one warm-up call on a 640x640 image that builds the same batch shapes, then the timed
call), alternating the variants, `--repeats` rounds; the best time of each counts. Peak memory
is the growth of the resident set during the timed call: the kernel's peak (VmHWM) is reset just
before it (/proc/self/clear_refs) and read after it, minus the resident size before; it counts
everything the process touched (PyTorch's allocator, oneDNN's scratch, freed memory malloc
kept), unlike tracemalloc, which sees no tensor.

    .venv/bin/python bench/inference.py [--size 4096] [--repeats 2] [--precision 32|bf16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP_SIZE = 640
"""3x3 tiles of 256 at 25% overlap: batches of 4, 4 and 1, the shapes the timed 21x21 grid of a
4096x4096 image uses (441 = 110 x 4 + 1), so no kernel is created during the timed call."""
VARIANTS = ("monai", "ours", "monai-tuned", "ours-serial")


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(args: argparse.Namespace) -> None:
    """One timed call of one variant in this fresh process; prints one JSON line."""
    import resource

    import torch
    from monai.inferers import sliding_window_inference

    from segtrain.config import ModelConfig
    from segtrain.inference import tiling
    from segtrain.inference.tiling import TILES_PER_BATCH, tiled_logits
    from segtrain.models import build_model

    if args.child == "ours-serial":
        tiling.MAX_WORKERS = 1  # one network call at a time, on all threads, as MONAI runs them

    torch.manual_seed(0)
    model = build_model(3, 2, ModelConfig()).eval()
    ours_batch = args.tiles_per_batch or TILES_PER_BATCH

    def call(image):
        if args.child.startswith("ours"):
            return tiled_logits(model, image, args.patch, args.overlap, ours_batch)
        if args.child == "monai":
            batch, predictor = 4, lambda tiles: model(tiles).float()
        else:
            batch = ours_batch
            predictor = lambda tiles: model(tiles.contiguous(memory_format=torch.channels_last)).float()  # noqa: E731
        return sliding_window_inference(image, (args.patch, args.patch), batch, predictor, args.overlap,
                                        mode="gaussian", padding_mode="replicate")

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    generator = torch.Generator().manual_seed(1)
    warm = torch.randn((1, 3, WARMUP_SIZE, WARMUP_SIZE), generator=generator)
    image = torch.randn((1, 3, args.size, args.size), generator=generator)
    with torch.inference_mode(), autocast:
        call(warm)
        del warm
        exact = _reset_peak()
        before_kb = _status_kb("VmRSS")
        maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        out = call(image)
        seconds = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if not exact and peak_kb <= maxrss_kb:  # the old peak hides this call's: say so rather than guess
        peak_kb = None
    if args.save:
        import numpy as np

        np.save(args.save, out.float().numpy())
    growth = None if peak_kb is None or before_kb is None else (peak_kb - before_kb) / 1024
    print(json.dumps({"seconds": seconds, "peak_growth_mb": growth, "exact_peak": exact,
                      "threads": torch.get_num_threads(), "tiles_per_batch": ours_batch}))


def measure(variant: str, args: argparse.Namespace, save: Path | None) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--size", str(args.size), "--precision", args.precision,
               "--patch", str(args.patch), "--overlap", str(args.overlap)]
    if args.tiles_per_batch:
        command += ["--tiles-per-batch", str(args.tiles_per_batch)]
    if save is not None:
        command += ["--save", str(save)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="image side in pixels (default 4096)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per variant; the best counts")
    parser.add_argument("--precision", choices=("32", "bf16"), default="32")
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--tiles-per-batch", type=int, default=0, help="segtrain's batch (default TILES_PER_BATCH)")
    parser.add_argument("--variants", default="monai,ours", help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    variants = [v for v in args.variants.split(",") if v]
    if not set(variants) <= set(VARIANTS) or "monai" not in variants or "ours" not in variants:
        parser.error(f"--variants must include monai and ours, from {VARIANTS}")
    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        saved = {v: Path(tmp) / f"{v}.npy" for v in variants}
        for round_ in range(args.repeats):
            order = variants if round_ % 2 == 0 else variants[::-1]  # alternate, so drift in load hits both
            for v in order:
                results[v].append(measure(v, args, saved[v] if round_ == 0 else None))
                print(f"  round {round_ + 1} {v:12s} {results[v][-1]['seconds']:8.2f} s", flush=True)
        import numpy as np

        reference = np.load(saved["monai"])
        diffs = {v: float(np.abs(np.load(saved[v]) - reference).max()) for v in variants if v != "monai"}
    megapixels = args.size * args.size / 1e6
    first = results["monai"][0]
    print(f"\n{args.size}x{args.size}x3 image, default U-Net (build_model(3, 2, ModelConfig())), tiles of "
          f"{args.patch} at overlap {args.overlap}, precision {args.precision}, {first['threads']} threads, "
          f"best of {args.repeats}")
    print("peak = growth of the resident set during the call "
          + ("(VmHWM reset before it)" if first["exact_peak"] else "(ru_maxrss; '-' where an earlier peak hid it)"))
    print(f"| {'variant':34s} | {'best s':>8s} | {'MPix/s':>7s} | {'peak MB':>8s} | {'max |d| vs MONAI':>16s} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 9}|{'-' * 10}|{'-' * 18}|")
    batch = first["tiles_per_batch"]
    names = {"monai": "MONAI sliding_window_inference (4)", "monai-tuned": f"MONAI, channels-last tiles ({batch})",
             "ours": f"segtrain tiled_logits ({batch})", "ours-serial": f"segtrain, one call at a time ({batch})"}
    best = {v: min(r["seconds"] for r in rs) for v, rs in results.items()}
    for v in variants:
        peaks = [r["peak_growth_mb"] for r in results[v] if r["peak_growth_mb"] is not None]
        peak = f"{max(peaks):8.0f}" if peaks else f"{'-':>8s}"
        diff = f"{diffs[v]:16.2e}" if v in diffs else f"{'(reference)':>16s}"
        print(f"| {names[v]:34s} | {best[v]:8.2f} | {megapixels / best[v]:7.3f} | {peak} | {diff} |")
    print(f"\nratio ours/MONAI (throughput): {best['monai'] / best['ours']:.2f}x")


if __name__ == "__main__":
    main()
