"""Grouping of images that must not straddle splits: exact copies, near-duplicates and clip frames.

Near-duplicates are found with multi-index hashing: a 64-bit perceptual hash split into ``d + 1`` chunks
guarantees (pigeonhole) that two hashes within Hamming distance ``d`` agree exactly on at least one chunk,
so only hashes sharing a chunk value are compared, vectorised with numpy, never all pairs.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_FRAME_NUMBER = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


class UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[int]:
        return [self.find(i) for i in range(len(self.parent))]


def near_duplicate_pairs(hashes: Sequence[int], max_distance: int) -> set[tuple[int, int]]:
    """Index pairs (i < j) whose 64-bit hashes differ in at most ``max_distance`` bits."""
    values = np.array(hashes, dtype=np.uint64)
    chunks = max_distance + 1
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    pairs: set[tuple[int, int]] = set()
    for lo, hi in itertools.pairwise(bounds):
        keys = (values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts, ends, strict=True):
            if end - start < 2:
                continue
            members = order[start:end]
            block = values[members]
            distance = np.bitwise_count(block[:, None] ^ block[None, :])
            ii, jj = np.nonzero(np.triu(distance <= max_distance, k=1))
            for a, b in zip(members[ii], members[jj], strict=True):
                pairs.add((int(min(a, b)), int(max(a, b))))
    return pairs


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def sequence_pairs(
    paths: Sequence[Path], hashes: Sequence[int], max_distance: int
) -> Iterable[tuple[int, int]]:
    """Consecutive frames: same folder and name prefix, numbers one apart, and still alike.

    The likeness check keeps a scene cut (or a folder numbered from one long video) from chaining a
    whole class into one group.
    """
    keyed: dict[tuple[Path, str], list[tuple[int, int]]] = defaultdict(list)
    for index, path in enumerate(paths):
        match = _FRAME_NUMBER.match(path.stem)
        if match:
            keyed[(path.parent, match["prefix"])].append((int(match["number"]), index))
    for frames in keyed.values():
        frames.sort()
        for (n1, i1), (n2, i2) in itertools.pairwise(frames):
            if n2 - n1 == 1 and hamming(hashes[i1], hashes[i2]) <= max_distance:
                yield (min(i1, i2), max(i1, i2))
