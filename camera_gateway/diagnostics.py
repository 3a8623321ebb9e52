"""Video-quality diagnostics on frames read from a camera's stream (SPEC §4, the prober). Pure: numpy frames in,
a verdict out — no capture, no I/O; the prober's worker reads the frames and calls these.

Each frame is judged on a fixed-size grey copy (320×180), so thresholds do not depend on the camera's
resolution. Defaults and where they come from (all configurable per camera through `Thresholds`):
- black: FFmpeg `blackdetect` — a pixel is black under 10 % of the luma range (`pix_th=0.10`), a picture is
  black when 98 % of its pixels are (`pic_th=0.98`);
- frozen: FFmpeg `freezedetect` — frames are the same when their mean absolute difference is under 0.001 of the
  range (`n=0.001`, i.e. −60 dB), compared across the probe's frames and with the previous probe; regions with a
  burned-in clock are masked first, so a running timestamp does not hide a frozen scene;
- blurred: variance of the Laplacian under 100 on the 320×180 grey frame (the common rule of thumb for this
  measure; tune per camera, a foggy field differs from a street);
- too dark / too bright: mean luma under 40 or over 220 of 255 (well inside black and white clipping);
- obstructed or moved: normalised cross-correlation with the camera's reference frame (its last good picture)
  under 0.5, or an almost uniform picture that is not black (a covered lens: luma standard deviation under 6).
One bad probe does not make a camera degraded: `ProbeStreak` asks for `bad_probes` (3) in a row.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

ANALYSIS_SIZE = (320, 180)  # width, height
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame


@dataclass(frozen=True)
class Thresholds:
    black_pixel: float = 0.10
    black_ratio: float = 0.98
    dark_mean: float = 40.0
    bright_mean: float = 220.0
    blur_laplacian: float = 100.0
    freeze_noise: float = 0.001
    scene_correlation: float = 0.5
    uniform_std: float = 6.0
    bad_probes: int = 3
    # Masked before freeze and scene comparisons: by default the top and bottom strips, where cameras burn in
    # their clock and name.
    masks: tuple[Rect, ...] = field(default=((0.0, 0.0, 1.0, 0.12), (0.0, 0.9, 1.0, 1.0)))


def thresholds_from(overrides: dict | None) -> Thresholds:
    """A camera's thresholds: the defaults with its own `probe_thresholds` laid over; unknown keys or values
    of the wrong kind are ignored (and logged by the caller), never fatal for the prober."""
    if not overrides:
        return Thresholds()
    allowed = {name: type(value) for name, value in Thresholds().__dict__.items() if name != "masks"}
    chosen: dict = {}
    for key, value in overrides.items():
        kind = allowed.get(key)
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            chosen[key] = float(value)
        elif kind is int and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            chosen[key] = value
    if isinstance(overrides.get("masks"), list):
        masks = [m for m in overrides["masks"] if isinstance(m, list) and len(m) == 4]
        chosen["masks"] = tuple(tuple(float(v) for v in m) for m in masks)
    return Thresholds(**chosen)


@dataclass(frozen=True)
class Diagnosis:
    signal: bool
    brightness: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    black: bool = False
    dark: bool = False
    bright: bool = False
    blurred: bool = False
    frozen: bool = False
    obstructed: bool = False
    fps: float | None = None

    @property
    def bad(self) -> bool:
        return self.black or self.dark or self.bright or self.blurred or self.frozen or self.obstructed

    def quality(self) -> dict[str, float | bool]:
        """The heartbeat's `quality` object (SPEC §4)."""
        return {
            "blur": round(self.blur, 1),
            "brightness": round(self.brightness, 1),
            "black": self.black,
            "frozen": self.frozen,
            "obstructed": self.obstructed,
            "noise": round(self.noise, 2),
        }


def grey(frame: np.ndarray) -> np.ndarray:
    """The analysis copy: grey, 320×180, uint8."""
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return cv2.resize(frame, ANALYSIS_SIZE, interpolation=cv2.INTER_AREA)


def _masked(image: np.ndarray, masks: Sequence[Rect]) -> np.ndarray:
    keep = np.ones(image.shape, dtype=bool)
    h, w = image.shape
    for x0, y0, x1, y1 in masks:
        keep[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] = False
    return image[keep]


def _difference(a: np.ndarray, b: np.ndarray, masks: Sequence[Rect]) -> float:
    """Mean absolute difference as a fraction of the range, outside the masks (freezedetect's measure)."""
    return float(np.mean(np.abs(_masked(a, masks).astype(np.int16) - _masked(b, masks).astype(np.int16)))) / 255.0


def _correlation(a: np.ndarray, b: np.ndarray, masks: Sequence[Rect]) -> float:
    x = _masked(a, masks).astype(np.float64)
    y = _masked(b, masks).astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    denominator = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum()) / denominator if denominator else 0.0


def diagnose(
    frames: Sequence[np.ndarray],
    *,
    fps: float | None = None,
    previous: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Diagnosis:
    """Judge one probe: `frames` read in about 2 s (BGR or grey, any size); `previous` the last analysis frame
    of the previous probe and `reference` the camera's last good one (both from `grey`)."""
    if not frames:
        return Diagnosis(signal=False)
    t = thresholds
    greys = [grey(f) for f in frames]
    last = greys[-1]
    brightness = float(last.mean())
    black = float(np.mean(last < t.black_pixel * 255)) >= t.black_ratio
    blur = float(cv2.Laplacian(last, cv2.CV_64F).var())
    noise = float(np.std(last.astype(np.int16) - cv2.medianBlur(last, 3).astype(np.int16)))
    comparisons = list(itertools.pairwise(greys))
    if previous is not None:
        comparisons.append((previous, greys[0]))
    frozen = (
        bool(comparisons) and not black and all(_difference(a, b, t.masks) < t.freeze_noise for a, b in comparisons)
    )
    uniform = float(np.std(_masked(last, t.masks))) < t.uniform_std
    moved = reference is not None and _correlation(last, reference, t.masks) < t.scene_correlation
    return Diagnosis(
        signal=True,
        brightness=brightness,
        blur=blur,
        noise=noise,
        black=black,
        dark=not black and brightness < t.dark_mean,
        bright=brightness > t.bright_mean,
        blurred=not black and not uniform and blur < t.blur_laplacian,
        frozen=frozen,
        obstructed=not black and (uniform or moved),
        fps=fps,
    )


@dataclass
class ProbeStreak:
    """Hysteresis: `bad_probes` bad probes in a row before `degraded`, so one bad frame does not flap. A stream
    that cannot be opened, or gives no frame, is `down` at once (that is a verdict, not a picture quality)."""

    bad_in_a_row: int = 0

    def status(self, diagnosis: Diagnosis, thresholds: Thresholds = Thresholds()) -> str:
        if not diagnosis.signal:
            self.bad_in_a_row = 0
            return "down"
        if not diagnosis.bad:
            self.bad_in_a_row = 0
            return "ok"
        self.bad_in_a_row += 1
        return "degraded" if self.bad_in_a_row >= thresholds.bad_probes else "ok"


def next_reference(reference: np.ndarray | None, current: np.ndarray, diagnosis: Diagnosis) -> np.ndarray | None:
    """The reference follows the last good picture (slowly, so a moved camera is noticed rather than learnt):
    a good probe blends 10 % of itself into the reference; a bad one leaves it as it was."""
    if diagnosis.bad or not diagnosis.signal:
        return reference
    if reference is None:
        return current.copy()
    return cv2.addWeighted(reference, 0.9, current, 0.1, 0)
