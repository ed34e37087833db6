"""The list of every finding `segtrain doctor` can report, printed from segtrain's own catalogue.

Run: python docs/examples/findings_catalogue.py (prints its results; used by docs/findings.md).

segtrain.diagnosis.detectors.CODES maps each finding code to what it means; ALL_DETECTORS are the
functions `segtrain doctor` runs, in order. Printing them here keeps the guide's list complete:
a new code shows up in this output, and the test suite fails until the guide quotes it.
"""

from segtrain.diagnosis.detectors import ALL_DETECTORS, CODES
from segtrain.diagnosis.findings import SEVERITIES

width = max(map(len, CODES))
print(f"{len(CODES)} finding codes:")
for code, meaning in CODES.items():
    print(f"  {code:<{width}}  {meaning}")
print(f"severities, most serious first: {', '.join(SEVERITIES)}")
print(f"{len(ALL_DETECTORS)} detectors, in the order they run: " + ", ".join(d.__name__ for d in ALL_DETECTORS))
