"""ImageNet-C corruption errors: CE, mCE and relative mCE, normalised by AlexNet (Hendrycks & Dietterich, 2019).

The GConvNet paper (§5.4, Tables 6-7) reports mCE the way the robustness literature does: the corruption error of a
corruption is the model's top-1 error summed over the five severities divided by AlexNet's, and mCE is the mean of
these ratios over the 15 standard corruptions, in percent. The four "extra" corruptions (speckle noise, Gaussian blur,
spatter, saturate) get a CE too, reported beside the mean and never averaged into it.

AlexNet's errors are published numbers; they live here as constants so the package needs no data files at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The 15 corruptions averaged into mCE, in the order of Hendrycks & Dietterich's Fig. 1: noise, blur, weather, digital.
STANDARD_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
# The hold-out corruptions released with ImageNet-C; reported separately.
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS: tuple[str, ...] = STANDARD_CORRUPTIONS + EXTRA_CORRUPTIONS

# AlexNet's top-1 error on each corruption, averaged over severities 1-5 (the mCE denominators of
# github:google-research/augmix and mmpretrain; the four extra ones from the community's hold-out tables).
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
    "speckle_noise": 0.845388,
    "gaussian_blur": 0.787108,
    "spatter": 0.717512,
    "saturate": 0.658248,
}
# AlexNet's per-severity errors (severities 1-5) for the standard corruptions; their means are ALEXNET_ERRORS.
ALEXNET_SEVERITY_ERRORS: dict[str, tuple[float, float, float, float, float]] = {
    "gaussian_noise": (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    "shot_noise": (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    "impulse_noise": (0.78374, 0.89808, 0.94870, 0.98720, 0.99548),
    "defocus_blur": (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    "glass_blur": (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    "motion_blur": (0.58430, 0.70048, 0.82108, 0.89750, 0.92638),
    "zoom_blur": (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    "snow": (0.71726, 0.88392, 0.86468, 0.91870, 0.94952),
    "frost": (0.61390, 0.79734, 0.88790, 0.89942, 0.93430),
    "fog": (0.67474, 0.76050, 0.84378, 0.87260, 0.94500),
    "brightness": (0.45140, 0.48502, 0.54048, 0.62166, 0.72440),
    "contrast": (0.64548, 0.76150, 0.88874, 0.97760, 0.99270),
    "elastic_transform": (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    "pixelate": (0.52218, 0.54620, 0.73728, 0.87092, 0.91262),
    "jpeg_compression": (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
}
# AlexNet's clean top-1 error on ImageNet-1k val (torchvision's AlexNet, the model behind the errors above;
# Hendrycks & Dietterich print it rounded, 43.5%): the baseline of relative mCE.
ALEXNET_CLEAN_ERROR = 0.4345

ErrorValue = float | Sequence[float]


@dataclass(frozen=True)
class CorruptionReport:
    """Per-corruption errors and the summary numbers of one model on ImageNet-C.

    Attributes:
        errors: top-1 error in [0, 1] per corruption, averaged over severities.
        ce: corruption error in percent per corruption (AlexNet = 100), the extra corruptions included.
        mce: mean of ``ce`` over the 15 standard corruptions, in percent.
        relative_ce: relative corruption error in percent per corruption, when a clean error was given.
        relative_mce: mean of ``relative_ce`` over the 15 standard corruptions, when a clean error was given.
        clean_error: the model's clean top-1 error, if given.
    """

    errors: dict[str, float]
    ce: dict[str, float]
    mce: float
    relative_ce: dict[str, float] | None = None
    relative_mce: float | None = None
    clean_error: float | None = None

    def rows(self) -> list[dict[str, object]]:
        """One row per corruption (standard ones first) for a table: name, group, error, CE and relative CE.

        Example:
            >>> errs = {c: 0.5 for c in STANDARD_CORRUPTIONS}
            >>> corruption_report(errs).rows()[0]["corruption"]
            'gaussian_noise'
        """
        out = []
        for name in ALL_CORRUPTIONS:
            if name not in self.errors:
                continue
            row: dict[str, object] = {
                "corruption": name,
                "in_mce": name in STANDARD_CORRUPTIONS,
                "error": self.errors[name],
                "ce": self.ce[name],
            }
            if self.relative_ce is not None:
                row["relative_ce"] = self.relative_ce[name]
            out.append(row)
        return out

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-ready data.

        Example:
            >>> errs = {c: 0.5 for c in STANDARD_CORRUPTIONS}
            >>> sorted(corruption_report(errs).to_dict())
            ['ce', 'clean_error', 'errors', 'mce', 'relative_ce', 'relative_mce']
        """
        return {
            "errors": self.errors,
            "ce": self.ce,
            "mce": self.mce,
            "relative_ce": self.relative_ce,
            "relative_mce": self.relative_mce,
            "clean_error": self.clean_error,
        }


def _check_error(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"error of {name!r} must be a fraction in [0, 1], got {value}")
    return value


def severity_mean(name: str, value: ErrorValue) -> float:
    """Top-1 error of corruption ``name`` averaged over severities: ``value`` is that mean or the 5 per-severity errors.

    Example:
        >>> severity_mean("fog", [0.25, 0.5, 0.75, 0.5, 0.5])
        0.5
    """
    if isinstance(value, (int, float)):
        return _check_error(name, value)
    values = [_check_error(name, v) for v in value]
    if len(values) != 5:
        raise ValueError(f"{name!r}: expected one error or the 5 per-severity errors (severity 1-5), got {len(values)}")
    return sum(values) / 5


def _mean_errors(errors: Mapping[str, ErrorValue]) -> dict[str, float]:
    unknown = [name for name in errors if name not in ALEXNET_ERRORS]
    if unknown:
        raise ValueError(f"unknown corruption name(s) {unknown}; expected names among {list(ALL_CORRUPTIONS)}")
    missing = [name for name in STANDARD_CORRUPTIONS if name not in errors]
    if missing:
        raise ValueError(f"mCE needs all 15 standard corruptions; missing {missing}")
    return {name: severity_mean(name, errors[name]) for name in ALL_CORRUPTIONS if name in errors}


def corruption_report(errors: Mapping[str, ErrorValue], clean_error: float | None = None) -> CorruptionReport:
    """CE of every corruption, mCE, and (with ``clean_error``) relative CE and relative mCE.

    CE_c = mean_s E(c, s) / AlexNet_c × 100. Relative CE_c = (mean_s E(c, s) − E_clean) / (AlexNet_c − AlexNet_clean)
    × 100: how much a model degrades under corruption beyond its clean error, relative to AlexNet's degradation.

    Args:
        errors: corruption name → top-1 error in [0, 1] averaged over severities, or the 5 per-severity errors. All 15
            standard corruptions must be present; the 4 extra ones may be.
        clean_error: the model's top-1 error on the uncorrupted validation set, in [0, 1].

    Returns:
        The per-corruption table and the means.

    Raises:
        ValueError: a standard corruption is missing, a name is unknown, or an error is outside [0, 1].

    Example:
        >>> r = corruption_report({c: 0.5 for c in STANDARD_CORRUPTIONS}, clean_error=0.2)
        >>> round(r.ce["fog"], 2), round(r.relative_ce["fog"], 2)
        (61.03, 77.96)
    """
    means = _mean_errors(errors)
    ce = {name: 100.0 * err / ALEXNET_ERRORS[name] for name, err in means.items()}
    report = dict(errors=means, ce=ce, mce=sum(ce[c] for c in STANDARD_CORRUPTIONS) / len(STANDARD_CORRUPTIONS))
    if clean_error is None:
        return CorruptionReport(**report)
    clean = _check_error("clean", clean_error)
    rel = {name: 100.0 * (err - clean) / (ALEXNET_ERRORS[name] - ALEXNET_CLEAN_ERROR) for name, err in means.items()}
    return CorruptionReport(
        **report,
        relative_ce=rel,
        relative_mce=sum(rel[c] for c in STANDARD_CORRUPTIONS) / len(STANDARD_CORRUPTIONS),
        clean_error=clean,
    )


def mce(errors: Mapping[str, ErrorValue]) -> float:
    """ImageNet-C mean corruption error in percent, AlexNet-normalised over the 15 standard corruptions.

    Args:
        errors: corruption name → top-1 error in [0, 1] averaged over severities, or the 5 per-severity errors. The 4
            extra corruptions may be present; they are not averaged in (see :func:`corruption_report`).

    Returns:
        mCE in percent (AlexNet = 100; lower is better).

    Raises:
        ValueError: a standard corruption is missing or a name is unknown (the message names it).

    Example:
        >>> round(mce(ALEXNET_ERRORS), 6)
        100.0
    """
    return corruption_report(errors).mce


def relative_mce(errors: Mapping[str, ErrorValue], clean_error: float) -> float:
    """Relative mCE in percent: degradation from clean error under corruption, normalised by AlexNet's degradation.

    Args:
        errors: as for :func:`mce`.
        clean_error: the model's clean top-1 error in [0, 1].

    Returns:
        Relative mCE in percent (AlexNet = 100).

    Example:
        >>> round(relative_mce(ALEXNET_ERRORS, ALEXNET_CLEAN_ERROR), 6)
        100.0
    """
    return float(corruption_report(errors, clean_error).relative_mce)  # type: ignore[arg-type]
