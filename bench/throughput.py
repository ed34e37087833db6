"""Training throughput of `segtrain train` against a bare PyTorch loop, side by side in one run.

Both train the same network (the run's own, rebuilt from its checkpoint) with the same loss,
optimizer, batch, patch size, precision and memory layout. The bare loop draws batches from
tensors already in memory and does nothing else; segtrain reads the images, samples and
augments patches, and runs through Lightning with all its callbacks and logs. Each variant runs
in a fresh process, alternating with the bare loop (``--repeats`` rounds; medians are printed).

Both rates are taken over the same steps: the first ``--warmup`` weight updates of each (kernel
creation, the first reads, compilation) are left out, and time runs from the end of update
``warmup`` to the end of the last one. segtrain's per-step times come from a callback that the
benchmark adds to its Trainer (nothing else changes).

Variants (``--variants``): ``planned`` (what the planner chose: loader processes and the image
cache), ``workers1`` (one loader process), ``nocache`` (images decoded at every draw),
``compile`` (``--compile``; against the eager bare loop).

    .venv/bin/python bench/throughput.py [--quick] [--steps 40] [--warmup 5] [--repeats 2]
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


def _child_segtrain(args) -> dict:
    """One `segtrain.train` run in this process; rate over the steps after the warm-up."""
    import torch  # noqa: F401  (loaded before timing starts, as in the bare loop)
    from lightning.pytorch.callbacks import Callback

    import segtrain
    import segtrain.engine.trainer as trainer_module

    times: list[float] = []

    class StepClock(Callback):
        def on_train_batch_end(self, *_):
            times.append(time.perf_counter())

    build = trainer_module.build_trainer

    def build_with_clock(*a, extra_callbacks=(), **k):
        return build(*a, extra_callbacks=(*extra_callbacks, StepClock()), **k)

    trainer_module.build_trainer = build_with_clock
    precision = "bf16-mixed" if args.bf16 else "32"
    config = {"train": {"channels_last": args.bf16, **VARIANTS[args.variant]}}
    result = segtrain.train(
        args.data, Path(args.out), config=config, batch_size=args.batch, patch_size=args.size, lr=1e-3,
        precision=precision, steps_per_epoch=args.warmup + args.steps, epochs=1, progress=False, report=False,
        overwrite=True,
    )
    plan = json.loads((result.run / "plan.json").read_text())
    seconds = times[-1] - times[args.warmup - 1]
    return {"images_s": args.steps * args.batch / seconds, "num_workers": plan["num_workers"],
            "cache_mb": plan.get("cache_mb"), "checkpoint": str(result.run / "checkpoints" / "last.ckpt")}


def _child_bare(args) -> dict:
    """The run's network, loss and optimizer in a plain loop on in-memory tensors."""
    import torch

    from segtrain.engine.module import SegmentationModule
    from segtrain.engine.optim import build_optimizer
    from segtrain.inference.predictor import load_checkpoint

    meta = load_checkpoint(args.checkpoint)["segtrain"]
    torch.manual_seed(0)
    module = SegmentationModule(meta)  # the run's network (channels-last as planned) and loss
    model, loss_fn = module.model, module.loss_fn
    config = module.config.train
    optimizer = build_optimizer(config.optimizer or "adamw", model, 1e-3, config.weight_decay)
    memory = torch.channels_last if module.channels_last else torch.contiguous_format
    data = torch.randn(32, meta["in_channels"], args.size, args.size)
    labels = torch.randint(0, 2, (32, args.size, args.size))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)
    start = 0.0
    for step in range(args.warmup + args.steps):
        index = torch.randint(0, 32, (args.batch,))
        x = data[index].contiguous(memory_format=memory)
        with autocast:
            loss = loss_fn(model(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step == args.warmup - 1:
            start = time.perf_counter()
    return {"images_s": args.steps * args.batch / (time.perf_counter() - start)}


def _run_child(kind: str, args, **extra) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--size", str(args.size), "--batch", str(args.batch), "--data", str(args.data)]
    command += ["--bf16"] if args.bf16 else []
    for key, value in extra.items():
        command += [f"--{key}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed weight updates")
    parser.add_argument("--warmup", type=int, default=5, help="weight updates left out at the start")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default="planned,workers1,nocache,compile")
    parser.add_argument("--quick", action="store_true", help="12 timed steps, 1 round, the planned variant only")
    parser.add_argument("--child", choices=["segtrain", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="planned", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = _child_segtrain(args) if args.child == "segtrain" else _child_bare(args)
        print(json.dumps(result))
        return
    if args.quick:
        args.steps, args.warmup, args.repeats, args.variants = 12, 3, 1, "planned"
    from segtrain.runtime.env import detect_machine

    machine = detect_machine()
    args.bf16 = machine.bf16
    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        import segtrain

        args.data = segtrain.synth(Path(tmp) / "data", n=40, size=args.size, seed=0)
        ours: dict[str, list[float]] = {v: [] for v in variants}
        bare: list[float] = []
        facts = {}
        for _ in range(args.repeats):
            for variant in variants:
                run = _run_child("segtrain", args, variant=variant, out=Path(tmp) / f"run_{variant}")
                ours[variant].append(run["images_s"])
                facts[variant] = run
                bare.append(_run_child("bare", args, checkpoint=run["checkpoint"])["images_s"])
    reference = statistics.median(bare)
    print(f"machine: {machine.description}; batch {args.batch} x {args.size}x{args.size}, {args.steps} timed steps "
          f"after {args.warmup}, {'bf16 autocast, channels-last' if args.bf16 else 'float32'}; "
          f"medians of {args.repeats} round(s), each run in a fresh process")
    print(f"{'bare loop':28s}: {reference:7.2f} images/s  (runs: {', '.join(f'{b:.2f}' for b in bare)})")
    for variant in variants:
        rate = statistics.median(ours[variant])
        detail = f"workers {facts[variant]['num_workers']}, cache {facts[variant]['cache_mb']} MB"
        print(f"{'segtrain ' + variant:28s}: {rate:7.2f} images/s  ratio {rate / reference:6.3f}  ({detail}; "
              f"runs: {', '.join(f'{r:.2f}' for r in ours[variant])})")


if __name__ == "__main__":
    main()
