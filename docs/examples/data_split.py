"""Train / validation / test splits: the random 70/15/15 split, split files, and frames of one video.

Run: python docs/examples/data_split.py (prints its results; used by docs/data.md).

segtrain.data.split is what `segtrain train` uses: random_split when there is no split file,
load_split for DATA/split.json or --split FILE (which it checks against the dataset's stems), and
resolve_split to choose between them. segtrain itself does not group images; the last part writes
a split.json that keeps every video's frames on one side, and checks it with load_split.
"""

import json
import os
import random
import tempfile
from collections import defaultdict
from pathlib import Path

from segtrain.config import SegtrainConfig
from segtrain.data.split import load_split, random_split, resolve_split
from segtrain.errors import UserError

data = SegtrainConfig().data
VAL, TEST = data.val_fraction, data.test_fraction


def counts(split: dict) -> str:
    return ", ".join(f"{name} {len(stems)}" for name, stems in split.items())


print(f"random split, val_fraction {VAL}, test_fraction {TEST} (val and test get round(n x fraction), at least 1):")
for n in (5, 10, 20, 101, 200, 1000):
    print(f"  {n:>4} images: {counts(random_split([f'img_{k:04d}' for k in range(n)], VAL, TEST, seed=0))}")
try:
    random_split(["a", "b"], VAL, TEST, seed=0)
except UserError as exc:
    print(f"     2 images: {exc}")

stems = [f"img_{k:02d}" for k in range(20)]
first = random_split(stems, VAL, TEST, seed=0)
print(f"seed 0, 20 images: val {first['val']}, test {first['test']}")
print(f"  the same with the stems in reverse order: {random_split(stems[::-1], VAL, TEST, seed=0) == first}")
print(f"  seed 1 gives val {random_split(stems, VAL, TEST, seed=1)['val']}")

with tempfile.TemporaryDirectory() as tmp:
    here = os.getcwd()
    os.chdir(tmp)  # relative paths, so the messages below do not show a random temporary folder
    try:
        root = Path("DATA")
        root.mkdir()
        print()
        print("where the split comes from (resolve_split):")
        _, source = resolve_split(stems, root, None, VAL, TEST, seed=0)
        print(f"  no split file: {source}")
        written = {"train": stems[:14], "val": stems[14:17], "test": stems[17:]}
        (root / "split.json").write_text(json.dumps(written))
        split, source = resolve_split(stems, root, None, VAL, TEST, seed=0)
        print(f"  DATA/split.json present: {source}; {counts(split)}")
        Path("other.json").write_text(json.dumps({"train": stems[:16], "val": stems[16:]}))
        split, source = resolve_split(stems, root, Path("other.json"), VAL, TEST, seed=0)
        print(f"  --split other.json: {source}; {counts(split)}")

        print()
        print("split files that are refused (the one line the command prints):")
        bad = {
            "an unknown stem": {"train": stems[:14] + ["img_99"], "val": stems[14:17], "test": stems[17:]},
            "a stem in two splits": {"train": stems[:15], "val": stems[14:17], "test": stems[17:]},
            "paths instead of stems": {"train": ["images/img_00.png"], "val": stems[1:3]},
            "no val key": {"train": stems[:14], "test": stems[14:]},
            "an empty train list": {"train": [], "val": stems[:3]},
        }
        for what, content in bad.items():
            Path("bad.json").write_text(json.dumps(content))
            try:
                load_split(Path("bad.json"), stems)
                print(f"  {what}: accepted")
            except UserError as exc:
                print(f"  {what}: error: {exc}")
    finally:
        os.chdir(here)

print()
print("frames of a video: 8 videos of 5 to 15 frames, stems <video>_f<frame>")
rng = random.Random(0)
frames = {f"v{v}": [f"v{v}_f{f:03d}" for f in range(rng.randint(5, 15))] for v in range(8)}
all_frames = sorted(s for video in frames.values() for s in video)
video_of = {s: s.split("_f")[0] for s in all_frames}


def videos(split: dict) -> str:
    per = {name: sorted({video_of[s] for s in members}) for name, members in split.items()}
    shared = sorted(set(per["train"]) & (set(per["val"]) | set(per["test"])) | (set(per["val"]) & set(per["test"])))
    parts = [f"{name} {len(members)} frames of {len(per[name])} video{'s' * (len(per[name]) != 1)}"
             for name, members in split.items()]
    return (", ".join(parts)
            + f"; videos on more than one side: {len(shared)}")


print(f"  {len(all_frames)} frames in all")
print(f"  random split by frame: {videos(random_split(all_frames, VAL, TEST, seed=0))}")

# A grouped split: shuffle the videos with a seed; put each video in test or validation when that
# brings the split closer to its share of the frames, otherwise in train.
order = sorted(frames)
random.Random(0).shuffle(order)
grouped = {"train": [], "val": [], "test": []}
for video in order:
    n = len(frames[video])
    for name, share in (("test", TEST), ("val", VAL)):
        target = share * len(all_frames)
        if abs(len(grouped[name]) + n - target) < abs(len(grouped[name]) - target):
            grouped[name] += frames[video]
            break
    else:
        grouped["train"] += frames[video]
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "split.json"
    path.write_text(json.dumps(grouped))
    checked = load_split(path, all_frames)
print(f"  grouped by video, written as split.json and read back by load_split: {videos(checked)}")
