"""Training throughput of `segtrain train` against a bare PyTorch loop, interleaved step by step.

Both train the same network (the run's own) with the same loss, optimizer, batch, patch size,
precision and memory layout. The bare loop draws batches from tensors already in memory and does
nothing else; segtrain reads the images, samples and augments patches, and runs through Lightning
with all its callbacks and logs.

The two are measured in one process, one step of each in turn: after every segtrain weight
update, a callback that the benchmark adds to segtrain's Trainer runs one bare-loop update on its
own copy of the network and times it. segtrain's time for an update is the time from the end of
the previous bare update to the end of its own (loading the batch included). Interleaving makes
the machine's noise (other programs, clock changes) fall on both alike; a ratio of two runs made
minutes apart on a shared machine varies by 20% or more. The first ``--warmup`` updates of each
are left out (kernel creation, first reads, compilation). Two ratios are printed: images per
second over all timed updates, and the median update time of the bare loop over segtrain's,
which a few updates slowed by other programs (seconds long, on a shared machine) do not move.
With loader processes (``workers1``)
the next batch is also prepared while the bare update runs, which flatters segtrain a little.

Variants (``--variants``): ``planned`` (what the planner chose: loader processes and the image
cache), ``workers1`` (one loader process), ``nocache`` (images decoded at every draw),
``compile`` (``--compile``; against the eager bare loop). Each runs in a fresh process.

    .venv/bin/python bench/throughput.py [--quick] [--steps 40] [--warmup 5] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "planned": {},
    "workers1": {"num_workers": 1},
    "nocache": {"cache_mb": 0},
    "compile": {"compile": True},
}


class _BareLoop:
    """A plain loop over in-memory tensors with its own copy of the run's network, loss and optimizer."""

    def __init__(self, pl_module, batch: int, size: int, bf16: bool):
        import torch

        from segtrain.engine.module import SegmentationModule
        from segtrain.optim.optimizers import build_optimizer

        torch.manual_seed(0)
        own = SegmentationModule(pl_module.meta)  # the same network (channels-last as planned) and loss
        self.model, self.loss_fn, self.batch = own.model, own.loss_fn, batch
        train = own.config.train
        self.optimizer = build_optimizer(train.optimizer or "adamw", self.model, 1e-3, train.weight_decay)
        self.memory = torch.channels_last if own.channels_last else torch.contiguous_format
        self.data = torch.randn(32, pl_module.meta["in_channels"], size, size)
        self.labels = torch.randint(0, 2, (32, size, size))
        self.bf16 = bf16

    def step(self) -> None:
        import torch

        index = torch.randint(0, 32, (self.batch,))
        x = self.data[index].contiguous(memory_format=self.memory)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.loss_fn(self.model(x), self.labels[index])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def _child(args) -> dict:
    """One `segtrain.train` run with a bare-loop update after each of its updates; both rates."""
    import torch  # noqa: F401
    from lightning.pytorch.callbacks import Callback

    import segtrain
    import segtrain.engine.trainer as trainer_module

    ours: list[float] = []
    bare: list[float] = []

    class Interleave(Callback):
        loop, mark = None, None

        def on_train_start(self, trainer, pl_module):
            self.loop = _BareLoop(pl_module, args.batch, args.size, args.bf16)
            self.mark = time.perf_counter()

        def on_train_batch_end(self, *_):
            end = time.perf_counter()
            ours.append(end - self.mark)
            self.loop.step()
            self.mark = time.perf_counter()
            bare.append(self.mark - end)

    build = trainer_module.build_trainer

    def build_interleaved(*a, extra_callbacks=(), **k):
        return build(*a, extra_callbacks=(*extra_callbacks, Interleave()), **k)

    trainer_module.build_trainer = build_interleaved
    config = {"train": {"channels_last": args.bf16, **VARIANTS[args.variant]}}
    result = segtrain.train(
        args.data, Path(args.out), config=config, batch_size=args.batch, patch_size=args.size, lr=1e-3,
        precision="bf16-mixed" if args.bf16 else "32", steps_per_epoch=args.warmup + args.steps, epochs=1,
        progress=False, report=False, overwrite=True,
    )
    plan = json.loads((result.run / "plan.json").read_text())
    timed = slice(args.warmup, args.warmup + args.steps)
    return {"ours": args.steps * args.batch / sum(ours[timed]), "bare": args.steps * args.batch / sum(bare[timed]),
            "ours_steps": ours[timed], "bare_steps": bare[timed],
            "num_workers": plan["num_workers"], "cache_mb": plan.get("cache_mb")}


def _run_child(args, variant: str, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", "--variant", variant, "--out", str(out), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--size", str(args.size), "--batch", str(args.batch),
               "--data", str(args.data)] + (["--bf16"] if args.bf16 else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{variant} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed weight updates")
    parser.add_argument("--warmup", type=int, default=5, help="weight updates left out at the start")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant (medians are printed)")
    parser.add_argument("--variants", default="planned,workers1,nocache,compile")
    parser.add_argument("--quick", action="store_true", help="12 timed steps, the planned variant only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="planned", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args)))
        return
    if args.quick:
        args.steps, args.warmup, args.repeats, args.variants = 12, 3, 1, "planned"
    from segtrain.runtime.env import detect_machine

    machine = detect_machine()
    args.bf16 = machine.bf16
    print(f"machine: {machine.description}; batch {args.batch} x {args.size}x{args.size}, {args.steps} timed updates "
          f"after {args.warmup}, {'bf16 autocast, channels-last' if args.bf16 else 'float32'}; segtrain and the bare "
          "loop interleaved update by update in one process per run", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        import segtrain

        args.data = segtrain.synth(Path(tmp) / "data", n=40, size=args.size, seed=0)
        for variant in args.variants.split(","):
            runs = [_run_child(args, variant, Path(tmp) / f"run_{variant}") for _ in range(args.repeats)]
            ratios = [r["ours"] / r["bare"] for r in runs]
            ours = statistics.median(r["ours"] for r in runs)
            bare = statistics.median(r["bare"] for r in runs)
            # typical updates: the median update of each over all runs, so that a few updates slowed by
            # other programs (seconds long on a shared machine) do not decide the ratio
            typical_ours = statistics.median(t for r in runs for t in r["ours_steps"])
            typical_bare = statistics.median(t for r in runs for t in r["bare_steps"])
            detail = f"workers {runs[0]['num_workers']}, cache {runs[0]['cache_mb']} MB"
            print(f"segtrain {variant:9s}: {ours:6.2f} images/s, bare loop {bare:6.2f} images/s, ratio "
                  f"{statistics.median(ratios):5.3f} (runs: {', '.join(f'{r:.3f}' for r in ratios)}); median "
                  f"update {typical_ours * 1000:.0f} ms against {typical_bare * 1000:.0f} ms, ratio "
                  f"{typical_bare / typical_ours:5.3f}  ({detail})", flush=True)


if __name__ == "__main__":
    main()
