#!/usr/bin/env bash
# The commands of docs/quickstart.md, in order: synthesise a dataset, check it, train (which plans
# first, and ends by scoring the test split and writing the report), predict, diagnose.
#
#   bash docs/examples/quickstart.sh     # as in the guide: about 4 minutes on a 2-core CPU
#
# Every setting below can be changed from the environment. tests/docs/test_quickstart.py runs the
# script with tiny values (16 scenes of 64 x 64, one epoch) and checks that every command shown in
# docs/quickstart.md's bash blocks is a line of this file.
set -euo pipefail

N=${N:-200}                     # number of synthetic scenes
SIZE=${SIZE:-256}               # their height and width in pixels
BUDGET=${BUDGET:-2m30s}         # training time (training plus validation; planning comes on top)
WORK=${WORK:-runs/quickstart}   # everything is written under this folder
OPTIONS=${OPTIONS:-}            # more options for train, e.g. "--epochs 1 --batch-size 4"

DATA=$WORK/data
RUN=$WORK/run

segtrain synth horizon "$DATA" --n "$N" --size "$SIZE"
segtrain check "$DATA"
# shellcheck disable=SC2086  # OPTIONS holds several options
segtrain train "$DATA" --out "$RUN" --budget "$BUDGET" $OPTIONS
segtrain predict "$RUN" "$DATA/images" --out "$WORK/predictions"
segtrain doctor "$RUN"
