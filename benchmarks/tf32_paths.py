"""Path heights with and without TF32: the measured comparison docs/decisions.md#numerics asks
for before `tf32=true` may be used for path finding.

    python benchmarks/tf32_paths.py OUT_DIR

Reads the path records under OUT_DIR/paths/ (made by path jobs run once with `tf32=false`, the
default, and once with `tf32=true` on CUDA, same pairs and settings otherwise:
benchmarks/gpu_check.sh does this) and prints, per arch, set and landscape, the pairs found
both ways and the largest relative differences of the height and of the profile (max over the
M points) between the two. Prints a table; nothing is asserted. Where no pair was found both
ways (e.g. on a CPU, which has no TF32) it says so.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from lossland.core import identity


def heights(out_dir: Path) -> dict[tuple, dict[bool, dict]]:
    """(arch, set, landscape, finder, i, j, the other settings' signature) -> {tf32: record}
    for every path record (the signature keeps e.g. a fast-mode path from an exact one)."""
    found: dict[tuple, dict[bool, dict]] = defaultdict(dict)
    for path in sorted(out_dir.glob("paths/**/pair=*.json")):
        record = json.loads(path.read_text())
        tf32 = bool((record.get("numerics") or {}).get("tf32", False))
        key = tuple(record[k] for k in ("arch", "set", "landscape", "finder", "i", "j"))
        found[(*key, identity.signature(record["config"] | {"tf32": False}))][tf32] = record
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for key, by in heights(args.out_dir).items():
        if True in by and False in by:
            ieee, tf32 = by[False], by[True]
            height = abs(tf32["height"] - ieee["height"]) / abs(ieee["height"])
            a, b = np.asarray(ieee["profile"]), np.asarray(tf32["profile"])
            groups[key[:4]].append((height, float(np.max(np.abs(b - a) / np.abs(a)))))
    if not groups:
        print(f"no pair under {args.out_dir}/paths was found both with and without TF32")
        return
    print(f"{'arch':6} {'set':12} {'landscape':9} {'finder':8} {'pairs':>5} ", end="")
    print(f"{'max dH/H':>10} {'max dprofile':>13}")
    for (arch, set_name, landscape, finder), rows in sorted(groups.items()):
        dh, dp = (max(col) for col in zip(*rows, strict=True))
        print(f"{arch:6} {set_name:12} {landscape:9} {finder:8} {len(rows):5d} ", end="")
        print(f"{dh:10.2e} {dp:13.2e}")


if __name__ == "__main__":
    main()
