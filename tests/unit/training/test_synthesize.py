import hashlib
from collections import Counter

from PIL import Image

from inference.labels import LABELS
from training.game_looks import KAGGLE_FOLDERS, REAL_COUNTS
from training.synthesize import SYNTHETIC_MARK, clip_plan, render_clip, synthesize


def test_clip_plan_follows_the_real_class_proportions_and_total():
    plan = clip_plan(2800, seed=0)
    per_class = Counter()
    for label, _, frames in plan:
        per_class[label] += frames
    assert sum(per_class.values()) == 2800
    total = sum(REAL_COUNTS.values())
    for label in LABELS:
        assert abs(per_class[label] - 2800 * REAL_COUNTS[label] / total) <= 1


def test_clips_hold_several_consecutive_frames():
    lengths = [frames for _, _, frames in clip_plan(700, seed=3)]
    assert max(lengths) > 1
    assert all(1 <= n <= 12 for n in lengths)


def test_render_is_deterministic_for_a_seed_and_differs_across_seeds():
    assert render_clip("sekiro", 4, 3, seed=1) == render_clip("sekiro", 4, 3, seed=1)
    assert render_clip("sekiro", 4, 3, seed=1) != render_clip("sekiro", 4, 3, seed=2)


def test_synthesize_writes_the_kaggle_layout_with_640x360_jpegs(tmp_path):
    written = sum(synthesize(tmp_path, images=70, seed=0, workers=1))
    assert written == 70
    root = tmp_path / "FromSoftwareImages"
    assert sorted(p.name for p in root.iterdir()) == sorted(KAGGLE_FOLDERS.values())
    files = sorted(root.rglob("*.jpg"))
    assert len(files) == 70
    with Image.open(files[0]) as img:
        assert (img.format, img.size) == ("JPEG", (640, 360))
        assert img.info["comment"] == SYNTHETIC_MARK  # what `prepare` counts as synthetic


def test_synthesize_output_is_independent_of_worker_count(tmp_path):
    def digest(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*.jpg")
        }

    sum(synthesize(tmp_path / "one", images=40, seed=5, workers=1))
    sum(synthesize(tmp_path / "two", images=40, seed=5, workers=2))
    assert digest(tmp_path / "one") == digest(tmp_path / "two")
