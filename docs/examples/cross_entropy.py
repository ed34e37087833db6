"""Binary cross-entropy at its edge cases, and why segtrain's losses take logits.

Run: python docs/examples/cross_entropy.py (prints its results; used by docs/concepts.md).

For one pixel with target y in {0, 1} and predicted probability p of the foreground,

    BCE(p, y) = -[y ln p + (1 - y) ln(1 - p)].

From a logit z (the network's raw output) the probability is p = sigmoid(z) = 1 / (1 + e^-z),
and the same loss can be written without forming p:

    BCE(z, y) = max(z, 0) - z y + ln(1 + e^-|z|),

which is what torch.nn.functional.binary_cross_entropy_with_logits (and segtrain) evaluate.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from segtrain.losses import bce_with_logits


def bce_formula(p: float, y: float) -> float:
    """The formula term by term in float64, with no clamping and no convention for 0 * ln 0."""
    p, y = np.float64(p), np.float64(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def bce_convention(p: float, y: float) -> float:
    """The same with the usual convention 0 * ln 0 = 0: only the term of the true class counts."""
    q = p if y == 1 else 1 - p
    return math.inf if q == 0 else 0.0 - math.log(q)


def torch_bce(p: float, y: float) -> float:
    return F.binary_cross_entropy(torch.tensor([float(p)]), torch.tensor([float(y)])).item()


print("probabilities: BCE(p, y) = -[y ln p + (1 - y) ln(1 - p)]")
print("  y  p    formula (float64)  with 0 ln 0 = 0  torch binary_cross_entropy")
for y, p in ((1, 1.0), (1, 0.5), (1, 0.0), (0, 0.0), (0, 1.0)):
    print(f"  {y}  {p:<3}  {bce_formula(p, y):<17.6g}  {bce_convention(p, y):<15.6g}  {torch_bce(p, y):.6g}")
print(f"  ln 2 = {math.log(2):.6g}")
print()

first_one = next(z for z in range(1, 100) if torch.sigmoid(torch.tensor(float(z))).item() == 1.0)
print(f"float32: sigmoid(z) rounds to exactly 1.0 from z = {first_one} on")
print()
print("logits, target y = 0: the exact loss is z + ln(1 + e^-z), the gradient dBCE/dz = sigmoid(z) - y")
print("  z     exact (float64)  BCE(sigmoid(z)) float32  its gradient  BCE with logits float32  its gradient")
for z in (1.0, 10.0, 17.0, 100.0, 1000.0):
    logit = torch.tensor([z], requires_grad=True)
    loss = F.binary_cross_entropy(torch.sigmoid(logit), torch.tensor([0.0]))
    loss.backward()
    via_p, via_p_grad = loss.item(), logit.grad.item()
    logit = torch.tensor([z], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logit, torch.tensor([0.0]))
    loss.backward()
    exact = z + math.log1p(math.exp(-z))
    print(f"  {z:<5g} {exact:<16.8g} {via_p:<24.8g} {via_p_grad:<13.6g} {loss.item():<24.8g} {logit.grad.item():.6g}")
print()
print("segtrain.losses.bce_with_logits on one pixel (logits (1, 1, 1, 1), label (1, 1, 1)), target 0:")
for z in (100.0, 1000.0):
    loss = bce_with_logits(torch.full((1, 1, 1, 1), z), torch.zeros(1, 1, 1, dtype=torch.long))
    print(f"  z = {z:g}: {loss.item():g}")
