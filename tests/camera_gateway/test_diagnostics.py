"""The prober's picture diagnostics on synthetic frames whose defect is known by construction."""

import cv2
import numpy as np
import pytest

from camera_gateway.diagnostics import Diagnosis, ProbeStreak, Thresholds, diagnose, grey, next_reference

RNG = np.random.default_rng(42)


def scene(seed: int = 1, shift: int = 0) -> np.ndarray:
    """A textured street-like picture (640×360 BGR): blocks, edges and fine detail."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(36, 64), dtype=np.uint8)
    picture = cv2.resize(base, (640, 360), interpolation=cv2.INTER_NEAREST)
    picture = cv2.add(picture, rng.integers(0, 30, size=picture.shape, dtype=np.uint8))
    picture = np.roll(picture, shift, axis=1)
    return cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)


def with_clock(frame: np.ndarray, second: int) -> np.ndarray:
    """A burned-in timestamp in the top strip, as cameras draw it."""
    out = frame.copy()
    cv2.putText(
        out, f"26-11-2026 08:{second:02d}:{second:02d}", (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 3
    )
    return out


def moving(n: int = 5) -> list[np.ndarray]:
    """The same street with a car crossing it and a little sensor noise, clock running."""
    frames = []
    for i in range(n):
        frame = scene().copy()
        cv2.rectangle(frame, (60 + 40 * i, 200), (160 + 40 * i, 260), (30, 30, 200), -1)
        noise = np.random.default_rng(i).integers(0, 4, frame.shape, dtype=np.uint8)
        frames.append(with_clock(cv2.add(frame, noise), i))
    return frames


def test_a_sharp_moving_scene_is_fine() -> None:
    d = diagnose(moving(), fps=25.0)
    assert d.signal and not d.bad, d
    assert d.quality()["blur"] > 100 and d.fps == 25.0


def test_no_frame_is_no_signal() -> None:
    assert diagnose([]) == Diagnosis(signal=False)
    assert ProbeStreak().status(diagnose([])) == "down"


def test_a_black_picture_is_black() -> None:
    dark = [np.full((360, 640, 3), 12, np.uint8) for _ in range(3)]
    d = diagnose(dark)
    assert d.black and d.bad and not d.frozen and not d.blurred and not d.obstructed


def test_an_over_exposed_picture_is_too_bright() -> None:
    washed = [cv2.add(f, np.full(f.shape, 150, np.uint8)) for f in moving()]
    assert diagnose(washed).bright


def test_a_dim_picture_is_too_dark_but_not_black() -> None:
    dim = [(f // 6) for f in moving()]
    d = diagnose(dim)
    assert d.dark and not d.black


def test_a_blurred_picture_is_blurred() -> None:
    soft = [cv2.GaussianBlur(f, (0, 0), 6) for f in moving()]
    d = diagnose(soft)
    assert d.blurred and d.blur < 100 and not d.frozen


def test_a_frozen_scene_is_frozen_even_with_a_running_clock() -> None:
    still = scene()
    frames = [with_clock(still, s) for s in range(5)]
    assert diagnose(frames).frozen
    # With a stricter noise tolerance the changing digits alone would read as motion; masked, they do not.
    strict = Thresholds(freeze_noise=0.0005)
    assert diagnose(frames, thresholds=strict).frozen
    assert not diagnose(frames, thresholds=Thresholds(freeze_noise=0.0005, masks=())).frozen


def test_frozen_across_probes_counts_too() -> None:
    still = scene()
    previous = grey(with_clock(still, 0))
    assert diagnose([with_clock(still, 9)], previous=previous).frozen
    assert not diagnose([with_clock(scene(shift=40), 9)], previous=previous).frozen


def test_a_covered_lens_is_obstructed() -> None:
    covered = [
        np.full((360, 640, 3), 90, np.uint8) + RNG.integers(0, 3, (360, 640, 3), dtype=np.uint8) for _ in range(3)
    ]
    d = diagnose(covered, reference=grey(scene()))
    assert d.obstructed and not d.black


def test_a_moved_camera_no_longer_matches_its_reference() -> None:
    reference = grey(scene(seed=1))
    assert not diagnose(moving(), reference=reference).obstructed
    assert diagnose([scene(seed=7), scene(seed=7, shift=2)], reference=reference).obstructed


def test_several_bad_probes_in_a_row_before_degraded() -> None:
    streak = ProbeStreak()
    bad = diagnose([np.zeros((360, 640, 3), np.uint8)] * 2)
    good = diagnose(moving())
    assert [streak.status(bad), streak.status(bad), streak.status(good)] == ["ok", "ok", "ok"]
    assert [streak.status(bad), streak.status(bad), streak.status(bad)] == ["ok", "ok", "degraded"]
    assert streak.status(good) == "ok"


@pytest.mark.parametrize("size", [(1080, 1920, 3), (288, 352, 3)])
def test_thresholds_do_not_depend_on_the_resolution(size) -> None:
    frame = cv2.resize(scene(), (size[1], size[0]))
    assert not diagnose([frame, cv2.resize(scene(shift=3), (size[1], size[0]))]).bad


def test_the_reference_learns_good_pictures_only() -> None:
    good_scene, good = grey(scene()), diagnose(moving())
    reference = next_reference(None, good_scene, good)
    assert reference is not None and np.array_equal(reference, good_scene)
    black = diagnose([np.zeros((360, 640, 3), np.uint8)])
    assert next_reference(reference, grey(np.zeros((360, 640, 3), np.uint8)), black) is reference


def test_a_cameras_own_thresholds_override_the_defaults_and_bad_values_are_ignored() -> None:
    from camera_gateway.diagnostics import thresholds_from

    assert thresholds_from(None) == Thresholds()
    t = thresholds_from({"blur_laplacian": 40, "bad_probes": 1, "dark_mean": "x", "bogus": 3, "bad_probes ": 2})
    assert (t.blur_laplacian, t.bad_probes, t.dark_mean) == (40.0, 1, Thresholds().dark_mean)
    assert thresholds_from({"bad_probes": 0}).bad_probes == Thresholds().bad_probes
    assert thresholds_from({"masks": [[0, 0, 0.5, 0.1]]}).masks == ((0.0, 0.0, 0.5, 0.1),)
