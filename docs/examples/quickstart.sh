#!/usr/bin/env bash
# The commands of docs/quickstart.md, in order: synthesise a dataset, check it, plan the run, train,
# evaluate, write the report, predict, diagnose, and train the finished run a little longer.
#
#   bash docs/examples/quickstart.sh     # as in the guide: about 6 minutes on a 2-core CPU
#
# Every setting below can be changed from the environment. tests/docs/test_quickstart.py runs the
# script with tiny values (16 scenes of 64 x 64, one epoch) and checks that every command shown in
# docs/quickstart.md is a line of this file.
set -euo pipefail

N=${N:-200}                     # number of synthetic scenes
SIZE=${SIZE:-256}               # their height and width in pixels
BUDGET=${BUDGET:-2m30s}         # training time (training plus validation; planning comes on top)
MORE=${MORE:-1m}                # extra training time for the resumed run
WORK=${WORK:-runs/quickstart}   # everything is written under this folder
PLAN_OPTIONS=${PLAN_OPTIONS:-}  # more options for the plan, e.g. "--epochs 1 --batch-size 4"

DATA=$WORK/data
RUN=$WORK/run

segtrain synth horizon "$DATA" --n "$N" --size "$SIZE"
segtrain check "$DATA"
# shellcheck disable=SC2086  # PLAN_OPTIONS holds several options
segtrain plan "$DATA" --budget "$BUDGET" -o "$WORK/plan.json" $PLAN_OPTIONS
segtrain train "$DATA" --plan "$WORK/plan.json" --out "$RUN"
segtrain evaluate "$RUN"
segtrain report "$RUN"
segtrain predict "$RUN" "$DATA/images" --out "$WORK/predictions"
segtrain doctor "$RUN"
segtrain train --resume "$RUN" --budget "$MORE"
