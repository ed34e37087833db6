"""Gradient descent on f(x) = 3x^2 + 5x + 4, by hand (exact fractions) and with torch.optim.SGD.

Run: python docs/examples/gradient_descent.py (prints its results; used by docs/concepts.md).

f'(x) = 6x + 5, so the minimum is at x = -5/6. One step at learning rate lr is
x <- x - lr * (6x + 5). Written around the minimum, x + 5/6 <- (1 - 6 lr) (x + 5/6): every step
multiplies the distance to the minimum by 1 - 6 lr, so the iterates converge exactly when
|1 - 6 lr| < 1, that is 0 < lr < 2/6 = 1/3 (2 over the curvature f'' = 6).
"""

from decimal import Decimal
from fractions import Fraction

import torch

MINIMUM = Fraction(-5, 6)


def grad(x):
    return 6 * x + 5


def descend(x0, lr, steps):
    """The iterates x_0 .. x_steps of gradient descent, in the number type of x0 and lr."""
    xs = [x0]
    for _ in range(steps):
        xs.append(xs[-1] - lr * grad(xs[-1]))
    return xs


def exact(q: Fraction) -> str:
    """A fraction whose denominator is a power of ten, written as its exact decimal."""
    text = format(Decimal(q.numerator) / Decimal(q.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


lr = Fraction(1, 100)
xs = descend(Fraction(1), lr, 400)
print("f(x) = 3x^2 + 5x + 4, f'(x) = 6x + 5, minimum at x = -5/6 = -0.833333...")
print("gradient descent from x0 = 1 at lr = 0.01, exact arithmetic:")
print("  k  x_k         f'(x_k)    x_k+1 = x_k - 0.01 f'(x_k)")
for k in range(5):
    print(f"  {k}  {exact(xs[k]):<10}  {exact(grad(xs[k])):<9}  {exact(xs[k + 1])}")
print("distance to the minimum, x_k + 5/6 = (11/6) * 0.94^k:")
for k in (10, 50, 100, 200, 400):
    closed = Fraction(11, 6) * Fraction(94, 100) ** k
    print(f"  k = {k:<3}  x_k = {float(xs[k]):.9f}  distance {float(xs[k] - MINIMUM):.3e}"
          f"  closed form agrees: {xs[k] - MINIMUM == closed}")
first = next(k for k, x in enumerate(xs) if abs(x - MINIMUM) < Fraction(1, 10**6))
print(f"first k with |x_k + 5/6| < 1e-6: {first}")

x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
optimizer = torch.optim.SGD([x], lr=0.01)
torch_xs = [x.item()]
for _ in range(400):
    optimizer.zero_grad()
    loss = 3 * x**2 + 5 * x + 4
    loss.backward()
    optimizer.step()
    torch_xs.append(x.item())
print("torch.optim.SGD(lr=0.01) on a float64 tensor, loss 3x^2 + 5x + 4, autograd gradient:")
print("  x_1 .. x_4: " + ", ".join(f"{v:.10g}" for v in torch_xs[1:5]))
worst = max(abs(t - float(e)) for t, e in zip(torch_xs, xs))
print(f"  largest difference from the exact iterates over 400 steps below 1e-12: {worst < 1e-12}")

print("the factor 1 - 6 lr decides: converge (|factor| < 1) or not")
print("  lr     factor  x_10           x_50           x_100")
for lr_text in ("0.01", "0.1", "0.3", "1/3", "0.34", "0.5"):
    rate = Fraction(lr_text)
    path = descend(Fraction(1), rate, 100)
    factor = 1 - 6 * rate
    verdict = ("converges" if abs(factor) < 1 else "oscillates for ever" if abs(factor) == 1 else "diverges")
    print(f"  {lr_text:<5}  {float(factor):<6.3g}  {float(path[10]):<13.6g}  {float(path[50]):<13.6g}  "
          f"{float(path[100]):<13.6g}  {verdict}")
