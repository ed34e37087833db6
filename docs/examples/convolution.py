"""Valid cross-correlation of a 5x5 image with a 3x3 kernel, computed three ways.

Run: python docs/examples/convolution.py (prints its results; used by docs/concepts.md).

A convolution layer slides its kernel over the image and, at each position, sums the
element-wise products of the kernel and the image patch under it:

    out[i, j] = sum over u, v of image[i + u, j + v] * kernel[u, v]

"Valid" means the kernel stays inside the image, so a 5x5 image and a 3x3 kernel give a
3x3 output. This is a cross-correlation; the convolution of signal processing flips the
kernel first (kernel[2 - u, 2 - v]). PyTorch's conv2d computes the cross-correlation.
"""

import numpy as np
import torch
import torch.nn.functional as F

PAIRS = {
    "classic exercise": (
        [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
        [[0, 1, 2], [2, 2, 0], [0, 1, 2]],
    ),
    "course-notes exercise": (
        [[2, 4, 9, 1, 4], [2, 1, 4, 4, 6], [1, 1, 2, 9, 2], [7, 3, 5, 1, 3], [2, 3, 4, 8, 5]],
        [[1, 2, 3], [-4, 7, 4], [2, -5, 1]],
    ),
}
NOTES_ANSWER = [[51, 31, 15], [66, 49, 53], [20, 101, -2]]
"""The 3x3 result the course notes give for the second pair."""


def correlate_loops(image: np.ndarray, kernel: np.ndarray, stride: int = 1) -> np.ndarray:
    """Valid cross-correlation with plain loops: the definition, nothing else."""
    kh, kw = kernel.shape
    rows = range(0, image.shape[0] - kh + 1, stride)
    cols = range(0, image.shape[1] - kw + 1, stride)
    out = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            total = 0
            for u in range(kh):
                for v in range(kw):
                    total += image[i + u, j + v] * kernel[u, v]
            out[a, b] = total
    return out


def correlate_torch(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The same with torch's conv2d: input (N, C, H, W), weight (out_C, in_C, kH, kW)."""
    x = torch.tensor(image, dtype=torch.float64).reshape(1, 1, *image.shape)
    w = torch.tensor(kernel, dtype=torch.float64).reshape(1, 1, *kernel.shape)
    return F.conv2d(x, w).reshape(image.shape[0] - kernel.shape[0] + 1, -1).round().long().numpy()


def convolve_definition(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolution by its own definition, (I * K)[i, j] = sum over m, n of I[m, n] K[i - m, j - n],
    computed in full and cut to the positions where the kernel lies inside the image."""
    kh, kw = kernel.shape
    h, w = image.shape
    full = np.zeros((h + kh - 1, w + kw - 1), dtype=np.int64)
    for i in range(full.shape[0]):
        for j in range(full.shape[1]):
            for m in range(h):
                for n in range(w):
                    if 0 <= i - m < kh and 0 <= j - n < kw:
                        full[i, j] += image[m, n] * kernel[i - m, j - n]
    return full[kh - 1 : h, kw - 1 : w]


def show(matrix: np.ndarray, indent: str = "    ") -> str:
    return "\n".join(indent + " ".join(str(int(v)) for v in row) for row in matrix)


for name, (image_rows, kernel_rows) in PAIRS.items():
    image, kernel = np.array(image_rows), np.array(kernel_rows)
    loops = correlate_loops(image, kernel)
    conv2d = correlate_torch(image, kernel)
    convolution = convolve_definition(image, kernel)
    conv2d_flipped = correlate_torch(image, np.ascontiguousarray(kernel[::-1, ::-1]))
    print(f"{name}")
    print("  image:")
    print(show(image))
    print("  kernel:")
    print(show(kernel))
    print("  valid cross-correlation, numpy loops:")
    print(show(loops))
    print(f"  torch.nn.functional.conv2d gives the same: {np.array_equal(loops, conv2d)}")
    print("  convolution by its definition (the kernel is flipped):")
    print(show(convolution))
    print(f"  conv2d equals it: {np.array_equal(conv2d, convolution)}")
    print(f"  conv2d with the kernel flipped 180 degrees equals it: {np.array_equal(conv2d_flipped, convolution)}")
    print(f"  first row: {' '.join(str(int(v)) for v in loops[0])}")
    print()

image, kernel = (np.array(m) for m in PAIRS["course-notes exercise"])
correct = correlate_loops(image, kernel)
candidates = {
    "output transposed (filled column by column)": correct.T,
    "kernel flipped (true convolution)": correlate_loops(image, kernel[::-1, ::-1]),
    "kernel transposed": correlate_loops(image, kernel.T),
    "image transposed": correlate_loops(image.T, kernel),
    "stride 2": correlate_loops(image, kernel, stride=2),
}
print("the course notes' answer for the second pair:")
print(show(np.array(NOTES_ANSWER)))
print("which mistake reproduces it:")
for label, result in candidates.items():
    print(f"  {label}: {np.array_equal(result, NOTES_ANSWER)}")
