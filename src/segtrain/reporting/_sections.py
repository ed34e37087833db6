"""The six sections of the run report, each rendered from a :class:`Context` into escaped HTML."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.reporting._figure import read_columns, read_json
from segtrain.reporting._html import Raw, code, esc, fmt, h3, image, note, para, percent, pre, section, table, tag
from segtrain.reporting._run import SPLITS, RunFiles
from segtrain.reporting.provenance import DataListing
from segtrain.reporting.race_plot import race_parts

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
"""Findings are listed most serious first; unknown severities last."""

_PLAN_META = ("reasons", "sources", "overridden", "warnings", "fingerprint")  # plan.json keys that are no item


@dataclass
class Context:
    """Everything the sections show: the run's files, the figures drawn and what could not be."""

    run: RunFiles
    figures: dict[str, Path | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    confusion_source: str = ""
    data_found: bool = False
    listing: DataListing | None = None
    checkpoint_sha256: str | None = None
    checkpoint_meta: dict = field(default_factory=dict)
    lightning_recorded: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    device: str = "cpu"
    """Where the report's predictions run (``report --device``)."""

    def figure(self, key: str, alt: str, caption: str = "") -> Raw:
        """The figure ``key`` embedded, or the note saying why it is missing."""
        path = self.figures.get(key)
        if path is None:
            return note(self.notes.get(key, f"{alt}: no data in this run folder"))
        return image(path, alt, caption)


def _plan_items(plan: dict) -> list[str]:
    reasons = plan.get("reasons")
    if isinstance(reasons, dict) and reasons:
        return list(reasons)
    return [k for k in plan if k not in _PLAN_META]


def data(ctx: Context) -> Raw:
    run = ctx.run
    prints = run.plan.get("fingerprint") or {}
    counts = [(name, len(run.stems(name))) for name in SPLITS]
    parts = [h3("Images per split"),
             table(["split", "images"], counts + [("all", sum(n for _, n in counts))], numeric=[1])]
    root = run.data_root
    parts.append(para(Raw(f"Dataset folder: {code(root if root else 'not recorded')}"
                          + ("" if ctx.data_found else " (not found: the figures that need the images are left out)"))))
    if prints:
        rows = [("images fingerprinted (training split)", prints.get("n_images"))]
        for axis in ("height", "width"):
            spread = prints.get(axis) or {}
            rows.append((f"{axis} (px) min / median / max",
                         f"{fmt(spread.get('min'))} / {fmt(spread.get('median'))} / {fmt(spread.get('max'))}"))
        intensity = prints.get("intensity") or {}
        rows += [("distinct image sizes", prints.get("distinct_sizes")), ("channels", prints.get("channels")),
                 ("intensity min / max", f"{fmt(intensity.get('min'))} / {fmt(intensity.get('max'))}"),
                 ("intensity mean / std", f"{fmt(intensity.get('mean'))} / {fmt(intensity.get('std'))}"),
                 ("masks with only background", percent(prints.get("empty_mask_share")))]
        if prints.get("ignored_share") or prints.get("outside_roi"):
            why = "; pixels outside the region of interest are ignored" if prints.get("outside_roi") else ""
            rows.append(("pixels ignored (not in the loss or the scores)",
                         f"{percent(prints.get('ignored_share') or 0.0)} of pixels ignored{why}"))
        parts += [h3("Image sizes and intensities"), table(["", "value"], rows)]
    else:
        parts.append(note("plan.json holds no dataset fingerprint: image sizes and class shares are unknown"))
    names = run.class_names
    mapping = run.section("data").get("label_mapping") or prints.get("label_mapping") or {}
    raw_values: dict[int, list[str]] = {}
    for raw, k in mapping.items():
        raw_values.setdefault(int(k), []).append(str(raw))
    fractions = prints.get("class_fractions") or []
    classes = [(k, name, ", ".join(raw_values.get(k, [])) or "-",
                percent(fractions[k]) if k < len(fractions) else "-") for k, name in enumerate(names)]
    parts += [h3("Classes"), table(["class", "name", "mask values", "pixel share (training)"], classes, numeric=[0, 3]),
              ctx.figure("class_shares", "class pixel shares"),
              h3("Training samples"), ctx.figure("samples", "training samples with their masks overlaid")]
    return section("data", "Data", parts)


def plan(ctx: Context) -> Raw:
    run = ctx.run
    if not run.plan:
        return section("plan", "Plan", [note("no plan.json in this run folder")])
    sources = run.plan.get("sources") or {}
    reasons = run.plan.get("reasons") or {}
    overridden = set(run.plan.get("overridden") or []) | {k for k, v in sources.items() if v == "user"}
    rows, classes = [], []
    for name in _plan_items(run.plan):
        source = sources.get(name, "planned")
        marked = name in overridden
        rows.append((name, run.plan.get(name), Raw(esc(source) + (tag("overridden") if marked else "")),
                     reasons.get(name, "")))
        classes.append("overridden" if marked else "")
    parts = [para(f"{len(rows)} planned values; {len(overridden)} overridden (given by the user, highlighted)."),
             table(["item", "value", "source", "reason"], rows, row_classes=classes)]
    warnings = run.plan.get("warnings") or []
    if warnings:
        parts += [h3("Planner warnings"), Raw("<ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")]
    return section("plan", "Plan", parts)


def _training_summary(run: RunFiles) -> Raw | None:
    columns = read_columns(run.folder.metrics)
    if columns is None or "epoch" not in columns:
        return None
    rows: list[tuple[str, Any]] = [("epochs", int(columns["epoch"][-1]))]
    if "step" in columns:
        rows.append(("weight updates", int(columns["step"][-1])))
    dice = columns.get("val_dice")
    if dice is not None and np.isfinite(dice).any():
        best = int(np.nanargmax(dice))
        rows.append(("best validation Dice", f"{fmt(float(dice[best]))} at epoch {int(columns['epoch'][best])}"))
    for name, label in (("train_loss", "last training loss"), ("val_loss", "last validation loss")):
        if name in columns:
            rows.append((label, float(columns[name][-1])))
    if "seconds" in columns:
        rows.append(("training time (s)", float(columns["seconds"][-1])))
    if "data_share" in columns and np.isfinite(columns["data_share"]).any():
        rows.append(("time waiting for data (mean share)", percent(float(np.nanmean(columns["data_share"])))))
    if "peak_memory_mb" in columns and np.isfinite(columns["peak_memory_mb"]).any():
        limit = columns.get("memory_limit_mb")
        limit_text = f" of a {limit[-1]:.0f} MB limit" if limit is not None and math.isfinite(limit[-1]) else ""
        rows.append(("peak memory", f"{np.nanmax(columns['peak_memory_mb']):.0f} MB{limit_text}"))
    stops = [e for e in run.events if e.get("kind") == "stop"]
    if stops:
        rows.append(("stopped by", f"{stops[-1].get('reason', '-')}: {stops[-1].get('detail', '')}".rstrip(": ")))
    return table(["", "value"], rows)


def curves(ctx: Context) -> Raw:
    summary = _training_summary(ctx.run)
    parts = [summary if summary is not None else note("no metrics.csv: training recorded no epoch")]
    parts += [h3("Loss"), ctx.figure("losses", "training and validation loss per epoch"),
              h3("Validation scores"), ctx.figure("val_metrics", "validation Dice, IoU and per-class Dice per epoch"),
              h3("Learning rate"), ctx.figure("lr", "learning rate per step"),
              ctx.figure("steps", "learning rate and training loss per weight update"),
              ctx.figure("lr_find", "learning-rate range test"),
              h3("Gradient norms"), ctx.figure("grad_norms", "gradient norm per layer group")]
    race = read_json(ctx.run.folder.race)  # the budget race, when the run had one
    parts += race_parts(race, ctx.figure("race", "validation score against seconds per race candidate"))
    return section("curves", "Curves", parts)


def results(ctx: Context) -> Raw:
    ev = ctx.run.evaluation
    if ev is None:
        parts = [note("no evaluation.json: run 'segtrain evaluate RUN' to score the test split")]
    else:
        headline = ev.get("headline") or {}
        rows = [(f"headline: {headline.get('name', '-')}", headline.get("value"))]
        rows += [(key.replace("_", " "), ev[key]) for key in (
            "dice", "iou", "pixel_accuracy", "mean_dice", "mean_iou", "hd95", "boundary_f1", "boundary_tolerance_px",
            "horizon_row_error_px", "horizon_angle_error_deg", "n_images", "mode", "threshold") if key in ev]
        checkpoint = "checkpoints/" + Path(str(ev.get("checkpoint", "best.ckpt"))).name  # not where the run was
        parts = [para(f"Scores of {checkpoint} on the {ev.get('split', 'test')} split, "
                      "whole images at their original size."),
                 table(["score", "value"], rows, numeric=[1])]
        if ev.get("horizon_note"):
            parts.append(note(ev["horizon_note"]))
        keys = ("iou", "dice", "precision", "recall", "hd95", "boundary_f1")
        per_class = [(row.get("class"), row.get("name"), row.get("support"), *(row.get(k) for k in keys))
                     for row in ev.get("per_class") or []]
        parts += [h3("Per class"), table(["class", "name", "support (px)", *keys], per_class,
                                         numeric=[0, 2, 3, 4, 5, 6, 7, 8])]
        reductions = ev.get("reductions") or {}
        if reductions:
            names = ("iou", "dice", "precision", "recall")
            parts += [h3("Reductions"),
                      table(["reduction", *names], [(name, *(r.get(k) for k in names))
                                                    for name, r in reductions.items()], numeric=[1, 2, 3, 4]),
                      Raw("<ul>" + "".join(f"<li>{code(name)}: {esc(r.get('description', ''))}</li>"
                                           for name, r in reductions.items()) + "</ul>")]
    parts += _refinement(ctx.run.refinement)
    parts += _fine_tuning(read_json(ctx.run.folder.fine_tuning))
    parts += [h3("Confusion matrix"), ctx.figure("confusion", "confusion matrix", ctx.confusion_source),
              h3("Per-image Dice"), ctx.figure("dice_hist", "per-image test Dice"),
              h3("Best test images"), ctx.figure("best", "best test images"),
              h3("Worst test images"), ctx.figure("worst", "worst test images")]
    return section("results", "Results", parts)


def _refinement(refinement: dict | None) -> list[Raw]:
    """What test-time flips and post-processing did on the validation images (``refinement.json``)."""
    if not refinement:
        return []
    rows = [("as predicted", refinement.get("score_before"), "-")]
    if refinement.get("tta_score") is not None:
        rows.append((f"flips: {refinement.get('tta_views')}", refinement["tta_score"],
                     "kept" if refinement.get("tta") else "not kept"))
    rows += [(t.get("step"), t.get("score"), "kept" if t.get("kept") else "not kept")
             for t in refinement.get("tried") or []]
    rows.append(("with what was kept", refinement.get("score_after"), ", ".join(refinement.get("steps") or [])
                 or "no step"))
    cost = refinement.get("seconds_per_megapixel") or {}
    return [h3("Flips and post-processing"),
            para(f"Tried on {refinement.get('images')} validation images after training; each kept only where it "
                 "raised the validation score (the test split plays no part). Seconds per megapixel: "
                 + ", ".join(f"{k} {v}" for k, v in cost.items()) + "."),
            table(["candidate", "validation score", "decision"], rows, numeric=[1])]


def _fine_tuning(record) -> list[Raw]:
    """A run started with ``--init-from``: its network next to its source's on its validation images."""
    if not isinstance(record, dict) or not record.get("init_from"):
        return []
    name = Path(str(record["init_from"])).name
    theirs = record.get("on_source_validation") if isinstance(record.get("on_source_validation"), dict) else {}
    rows = [("this run (fine-tuned)", record.get("fine_tuned_dice"), theirs.get("fine_tuned_dice")),
            (f"{name} (the run it started from)", record.get("source_dice"), theirs.get("source_dice"))]
    return [h3("Fine-tuned from " + str(record["init_from"])),
            para(f"Both networks scored on whole images: this run's {record.get('n_images')} validation images, and "
                 + (f"{name}'s {theirs.get('n_images')} validation images." if theirs else
                    f"{name}'s validation images (not found where {name} read them).")),
            table(["network", "Dice, this run's validation", f"Dice, {name}'s validation"], rows, numeric=[1, 2])]


def findings(ctx: Context) -> Raw:
    items = ctx.run.findings
    if items is None:
        parts = [note("no findings.json: run 'segtrain doctor RUN' to diagnose the run")]
    elif not items:
        parts = [para("No problems found.")]
    else:
        ordered = sorted(enumerate(items), key=lambda p: (SEVERITY_ORDER.get(str(p[1].get("severity")), 3), p[0]))
        parts = []
        for _, f in ordered:
            severity = str(f.get("severity", "info"))
            where = ", ".join(f"{k} {f[k]}" for k in ("epoch", "step") if f.get(k) is not None)
            head = f"<strong>{esc(severity.upper())}</strong> {code(f.get('code', ''))}"
            head += f" ({esc(where)})" if where else ""
            body = [f"<p>{head}</p>", para(f.get("message", ""))]
            if f.get("fix"):
                body.append(f"<p><em>Fix:</em> {esc(f['fix'])}</p>")
            if f.get("evidence"):
                body.append(f"<details><summary>evidence</summary>{pre(f['evidence'])}</details>")
            cls = severity if severity in SEVERITY_ORDER else "info"
            parts.append(Raw(f'<div class="finding {esc(cls)}">' + "".join(body) + "</div>"))
    if ctx.run.events:
        rows = [(e.get("kind"), e.get("epoch"), e.get("step"),
                 fmt({k: v for k, v in e.items() if k not in ("kind", "epoch", "step")})) for e in ctx.run.events]
        parts += [h3("Events"), table(["kind", "epoch", "step", "details"], rows, numeric=[1, 2])]
    return section("findings", "Findings", parts)


def provenance(ctx: Context) -> Raw:
    run = ctx.run
    versions = [(name, version or "not installed") for name, version in ctx.versions.items()]
    if ctx.checkpoint_meta.get("version"):
        versions.append(("segtrain (recorded in best.ckpt)", ctx.checkpoint_meta["version"]))
    if ctx.lightning_recorded:
        versions.append(("lightning (recorded in best.ckpt)", ctx.lightning_recorded))
    listing = ctx.listing
    rows: list[tuple[str, Any]] = [
        ("seed", run.section("train").get("seed")),
        ("command", code(run.command) if run.command else "not recorded (no command.txt)"),
        ("dataset folder", code(run.data_root) if run.data_root else "not recorded"),
        ("data listing SHA-256", code(listing.sha256, "hash") if listing else "dataset folder not found"),
    ]
    if listing:
        rows.append(("data listing", f"{listing.files} files, {listing.bytes} bytes"))
    rows.append(("best.ckpt SHA-256", code(ctx.checkpoint_sha256, "hash") if ctx.checkpoint_sha256 else "no best.ckpt"))
    parts = [h3("Versions"), para("Installed where this report was built, and as recorded at training time."),
             table(["package", "version"], versions), h3("Run"), table(["", "value"], rows),
             note("The data listing hash covers each file's relative path and size (sorted), not its contents. "
                  "Every figure is also saved as a PNG under RUN/plots/.")]
    return section("provenance", "Provenance", parts)
