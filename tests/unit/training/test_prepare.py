import csv
import json
import shutil
from collections import Counter

import pytest
from PIL import Image

from inference.labels import LABELS
from training.dedup import near_duplicate_pairs, sequence_pairs
from training.prepare import PrepareError, class_weights, data_kind, prepare, split_groups
from training.synthesize import synthesize


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    sum(synthesize(root, images=1400, seed=11, workers=2))
    return root


def _manifest(run_dir):
    with (run_dir / "manifest.csv").open() as f:
        return list(csv.DictReader(f))


def test_no_group_straddles_two_splits_and_clips_stay_together(synthetic_root, tmp_path):
    prepare(synthetic_root, tmp_path, seed=0, phash_distance=6, sequence_distance=20, workers=2)
    rows = _manifest(tmp_path)
    split_of_group = {}
    for row in rows:
        assert split_of_group.setdefault(row["group"], row["split"]) == row["split"]
    # Frames of one synthetic clip share a file-name prefix: all of them must land in one split.
    split_of_clip = {}
    for row in rows:
        clip = (row["label"], row["path"].rsplit("/", 1)[1].split("_")[0])
        assert split_of_clip.setdefault(clip, row["split"]) == row["split"]


def test_split_is_about_80_10_10_per_class(synthetic_root, tmp_path):
    prepare(synthetic_root, tmp_path, seed=0, phash_distance=6, sequence_distance=20, workers=2)
    rows = _manifest(tmp_path)
    for label in LABELS:
        counts = Counter(r["split"] for r in rows if r["label"] == label)
        total = sum(counts.values())
        assert abs(counts["train"] / total - 0.8) < 0.1, (label, counts)
        assert counts["val"] > 0
        assert counts["test"] > 0


def test_same_seed_same_split_other_seed_other_split(synthetic_root, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        prepare(synthetic_root, tmp_path / name, seed=seed, phash_distance=6, sequence_distance=20, workers=2)
    a, b, c = (_manifest(tmp_path / n) for n in "abc")
    assert a == b
    assert [r["split"] for r in a] != [r["split"] for r in c]


def test_report_counts_leakage_a_random_split_would_cause(synthetic_root, tmp_path):
    report = prepare(synthetic_root, tmp_path, seed=0, phash_distance=6, sequence_distance=20, workers=2)
    assert report["random_split_leaked_pairs"] > 0
    assert report["group_split_leaked_pairs"] == 0
    assert json.loads((tmp_path / "prepare_report.json").read_text())["images"] == 1400


def test_exact_duplicates_collapse_and_bad_files_are_skipped_and_counted(synthetic_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    folder = root / "FromSoftwareImages" / "sekiro"
    first = sorted(folder.glob("*.jpg"))[0]
    shutil.copy(first, folder / "copy_of_first.jpg")
    (folder / "truncated.jpg").write_bytes(first.read_bytes()[:2000])
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    report = prepare(root, tmp_path / "run", seed=0, phash_distance=6, sequence_distance=20, workers=1)
    assert report["exact_duplicates_collapsed"] == 1
    assert report["skipped"] == {"corrupt": 1, "not_an_image": 1, "empty": 1}
    assert report["images"] == 1400


def test_synthetic_frames_are_counted_by_their_mark_not_their_folder(synthetic_root, tmp_path):
    report = prepare(
        synthetic_root, tmp_path / "a", seed=0, phash_distance=6, sequence_distance=20, workers=2
    )
    assert (report["data_kind"], report["synthetic_images"]) == ("synthetic", 1400)
    # Re-encoded frames lose the generator's mark: the same folder now holds data of unknown origin.
    root = shutil.copytree(synthetic_root, tmp_path / "data")
    reencoded = sorted((root / "FromSoftwareImages" / "sekiro").glob("*.jpg"))
    for path in reencoded:
        with Image.open(path) as img:
            img.save(path.with_suffix(".png"))
        path.unlink()
    report = prepare(root, tmp_path / "b", seed=0, phash_distance=6, sequence_distance=20, workers=2)
    assert (report["data_kind"], report["synthetic_images"]) == ("mixed", 1400 - len(reencoded))


def test_data_kind_names_all_none_or_some_synthetic():
    assert [data_kind(5, 5), data_kind(0, 5), data_kind(2, 5)] == ["synthetic", "real", "mixed"]


def test_unknown_class_folder_is_an_error_that_names_it(tmp_path):
    (tmp_path / "elden ring").mkdir()
    (tmp_path / "armored core").mkdir()
    with pytest.raises(PrepareError, match="armored core"):
        prepare(tmp_path, tmp_path / "run", seed=0, phash_distance=6, sequence_distance=20, workers=1)


def test_class_weights_are_inverse_frequency_and_zero_for_absent_classes():
    labels = ["bloodborne"] * 30 + ["sekiro"] * 10
    weights = dict(zip(LABELS, class_weights(labels, ["train"] * 40), strict=True))
    assert weights["sekiro"] == pytest.approx(3 * weights["bloodborne"])
    assert weights["sekiro"] == pytest.approx(40 / (2 * 10))
    assert weights["elden_ring"] == 0.0


def test_split_groups_keeps_groups_whole():
    labels = [LABELS[i % 7] for i in range(700)]
    groups = [i // 5 for i in range(700)]
    splits = split_groups(labels, groups, seed=0)
    for group in set(groups):
        assert len({s for s, g in zip(splits, groups, strict=True) if g == group}) == 1


def test_near_duplicate_search_matches_brute_force():
    import random

    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(60)]
    hashes = base + [h ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)) for h in base[:30]]
    brute = {
        (i, j)
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if (hashes[i] ^ hashes[j]).bit_count() <= 6
    }
    assert near_duplicate_pairs(hashes, 6) == brute
    assert len(brute) >= 30


def test_consecutive_frames_link_only_when_numbered_one_apart_and_alike(tmp_path):
    paths = [tmp_path / n for n in ("clip_001.jpg", "clip_002.jpg", "clip_004.jpg", "other_003.jpg")]
    hashes = [0, 0b111, 0, 0]
    assert set(sequence_pairs(paths, hashes, max_distance=20)) == {(0, 1)}
    assert set(sequence_pairs(paths, [0, 2**40 - 1, 0, 0], max_distance=20)) == set()
