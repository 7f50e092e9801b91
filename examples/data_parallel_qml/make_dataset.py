"""Write the example's dataset: two noisy Gaussian blobs in [0, pi]^2, labels -1 / +1.

Usage: ``python make_dataset.py [PATH] [--samples N] [--seed S]`` (default
``dataset.csv``, 240 samples). Columns: ``x0,x1,label``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def make_dataset(path: Path, samples: int = 240, seed: int = 7) -> Path:
    """Write ``samples`` rows to ``path`` (CSV with a header); return the path."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([-1.0, 1.0], size=samples)
    centres = np.where(labels[:, None] > 0, [2.2, 2.2], [0.9, 0.9])
    points = np.clip(centres + rng.normal(scale=0.45, size=(samples, 2)), 0.0, np.pi)
    rows = np.column_stack([points, labels])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, rows, delimiter=",", header="x0,x1,label", comments="", fmt="%.6f")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=Path("dataset.csv"))
    parser.add_argument("--samples", type=int, default=240)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(make_dataset(args.path, args.samples, args.seed))
