"""mCE, CE and relative mCE against hand-computed values, the paper's tables and the shared AlexNet error file."""

import csv

import pytest

from vmix.analysis.robustness import (
    ALEXNET_CLEAN_ERROR,
    ALEXNET_ERRORS,
    ALEXNET_SEVERITY_ERRORS,
    EXTRA_CORRUPTIONS,
    STANDARD_CORRUPTIONS,
    corruption_report,
    mce,
    relative_mce,
)


def test_alexnet_is_100():
    assert mce(ALEXNET_ERRORS) == pytest.approx(100.0)
    assert mce(ALEXNET_SEVERITY_ERRORS) == pytest.approx(100.0, abs=1e-4)
    assert relative_mce(ALEXNET_ERRORS, ALEXNET_CLEAN_ERROR) == pytest.approx(100.0)


def test_mce_by_hand():
    # Error 0.4 on noise, 0.2 on everything else: CE = 40/a or 20/a, averaged over 15 by hand.
    errors = {c: (0.4 if c.endswith("_noise") else 0.2) for c in STANDARD_CORRUPTIONS}
    by_hand = (
        40 / 0.886428 + 40 / 0.894468 + 40 / 0.922640
        + 20 / 0.819880 + 20 / 0.826268 + 20 / 0.785948 + 20 / 0.798360
        + 20 / 0.866816 + 20 / 0.826572 + 20 / 0.819324 + 20 / 0.564592
        + 20 / 0.853204 + 20 / 0.646056 + 20 / 0.717840 + 20 / 0.606500
    ) / 15  # fmt: skip
    assert mce(errors) == pytest.approx(by_hand, rel=1e-12)


def test_per_severity_errors_are_averaged():
    per_severity = {c: [0.1, 0.2, 0.3, 0.4, 0.5] for c in STANDARD_CORRUPTIONS}
    assert mce(per_severity) == pytest.approx(mce({c: 0.3 for c in STANDARD_CORRUPTIONS}))


def test_extra_corruptions_are_reported_not_averaged():
    base = {c: 0.5 for c in STANDARD_CORRUPTIONS}
    report = corruption_report({**base, "spatter": 0.9, "saturate": 0.1})
    assert report.mce == pytest.approx(mce(base))
    assert report.ce["spatter"] == pytest.approx(90 / 0.717512)
    assert [r["corruption"] for r in report.rows()][-2:] == ["spatter", "saturate"]
    assert not report.rows()[-1]["in_mce"]


def test_relative_mce_by_hand():
    errors = {c: 0.6 for c in STANDARD_CORRUPTIONS}
    report = corruption_report(errors, clean_error=0.2)
    by_hand = sum(40 / (ALEXNET_ERRORS[c] - 0.4345) for c in STANDARD_CORRUPTIONS) / 15
    assert report.relative_mce == pytest.approx(by_hand)
    assert report.relative_ce["brightness"] == pytest.approx(40 / (0.564592 - 0.4345))


# GConvNet paper Table 7 (top-1 accuracy in %, per corruption) and Table 6 (mCE), rows whose printed "Aver" agrees
# with their own columns (the others carry extraction errors).
_TABLE7_COLUMNS = (
    "motion_blur",
    "defocus_blur",
    "glass_blur",
    "gaussian_blur",
    "gaussian_noise",
    "impulse_noise",
    "shot_noise",
    "speckle_noise",
    "contrast",
    "saturate",
    "jpeg_compression",
    "pixelate",
    "brightness",
    "snow",
    "fog",
    "frost",
    "zoom_blur",
    "elastic_transform",
    "spatter",
)
_TABLE7 = {
    "GConvNet-Tiny": (
        57.8,
        "52.6 45.5 31.5 48.0 56.3 56.5 54.7 60.2 63.6 72.6 63.7 58.3 74.5 50.9 58.1 57.6 45.6 50.2 64.8",
    ),
    "GConvNet-Small": (
        53.7,
        "56.7 48.6 34.3 50.6 61.5 61.0 59.6 63.7 67.3 74.3 65.8 58.1 75.8 53.3 63.6 60.8 49.0 54.1 67.0",
    ),
    "VMamba-Pico": (
        64.0,
        "46.8 42.4 27.0 45.1 50.6 48.4 48.6 54.0 58.8 69.3 60.6 51.9 71.3 45.3 55.5 51.9 38.6 47.2 60.3",
    ),
    "VMamba-Small": (
        50.6,
        "58.4 52.5 37.1 54.8 62.8 62.1 61.3 66.1 68.3 75.4 67.8 61.8 76.9 57.7 67.4 61.7 51.8 57.4 69.4",
    ),
    "VMambaH-Tiny": (
        54.9,
        "53.6 48.8 33.3 51.4 58.8 58.9 57.1 62.3 65.1 74.1 66.0 58.4 75.6 55.1 64.4 59.9 46.7 53.0 67.1",
    ),
}


@pytest.mark.parametrize("model", sorted(_TABLE7))
def test_mce_reproduces_paper_table6(model):
    printed_mce, accuracies = _TABLE7[model]
    errors = {c: 1 - float(a) / 100 for c, a in zip(_TABLE7_COLUMNS, accuracies.split(), strict=True)}
    assert mce(errors) == pytest.approx(printed_mce, abs=0.1)  # accuracies are printed to 0.1


def test_missing_standard_corruption_is_named():
    errors = {c: 0.5 for c in STANDARD_CORRUPTIONS if c != "fog"}
    with pytest.raises(ValueError, match="missing \\['fog'\\]"):
        mce(errors)


def test_unknown_name_is_named():
    errors = {c: 0.5 for c in STANDARD_CORRUPTIONS} | {"gaussian_nosie": 0.5}
    with pytest.raises(ValueError, match="gaussian_nosie"):
        mce(errors)


@pytest.mark.parametrize("bad", [1.5, -0.1, [0.1, 0.2], [0.1] * 6])
def test_bad_error_values(bad):
    errors = {c: 0.5 for c in STANDARD_CORRUPTIONS} | {"fog": bad}
    with pytest.raises(ValueError, match="fog"):
        mce(errors)


def test_constants_equal_shared_csv(shared_data):
    rows = list(csv.DictReader((shared_data / "imagenet" / "alexnet_errors.csv").read_text().splitlines()))
    assert [r["corruption"] for r in rows if r["in_mce15"] == "1"] == list(STANDARD_CORRUPTIONS)
    assert [r["corruption"] for r in rows if r["in_mce15"] == "0"] == list(EXTRA_CORRUPTIONS)
    for r in rows:
        assert ALEXNET_ERRORS[r["corruption"]] == float(r["alexnet_err"])
        if r["in_mce15"] == "1":
            assert ALEXNET_SEVERITY_ERRORS[r["corruption"]] == tuple(float(r[f"sev{s}"]) for s in range(1, 6))
