"""Which images a canary compares: a keyed hash of the image's SHA-256 under the sample's secret, so the
same image is always in or always out for one secret, the share holds, and no one who lacks the secret
can tell from an image's hash (or change a byte to choose) whether it is compared."""

from __future__ import annotations

import hashlib
import os

import pytest

from inference.canary import shadowed

HASHES = [hashlib.sha256(n.to_bytes(4, "big")).hexdigest() for n in range(4000)]


def sample(secret: bytes, share: float) -> set[str]:
    return {sha for sha in HASHES if shadowed(secret, sha, share)}


def test_with_two_secrets_the_shadowed_images_differ_and_each_holds_the_share():
    first, second = sample(os.urandom(32), 0.1), sample(os.urandom(32), 0.1)
    assert 300 < len(first) < 500
    assert 300 < len(second) < 500
    assert len(first & second) < 80  # independent draws share about a tenth of a tenth (40)


def test_the_hash_alone_does_not_tell_whether_an_image_is_compared():
    """The rule before: the hash's first 32 bits under the share. Under a secret, an image that rule put
    in is no likelier to be in than any other."""
    by_prefix = {sha for sha in HASHES if int(sha[:8], 16) < 0.1 * 2**32}
    keyed = sample(os.urandom(32), 0.1)
    assert len(by_prefix & keyed) < 0.25 * len(by_prefix)


def test_one_secret_always_picks_the_same_images():
    secret = os.urandom(32)
    assert sample(secret, 0.3) == sample(bytes(secret), 0.3)
    assert sample(secret, 0.1) <= sample(secret, 0.3)  # a larger share adds images, never swaps them


@pytest.mark.parametrize(("share", "count"), [(0.0, 0), (1.0, len(HASHES))])
def test_no_share_compares_nothing_and_the_whole_share_everything(share, count):
    assert len(sample(b"", share)) == count
