"""Suite-wide settings: shape checking on, hypothesis profiles, one shared Inductor cache."""

import os

# One Inductor cache for the whole run (and across runs), so each compiled graph is built once.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".cache", "inductor"))

import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from vmix._shapecheck import set_shapecheck  # noqa: E402

set_shapecheck(True)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

_common = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
# The default suite draws the same examples every run, so a commit's CI result does not depend on luck; "dev" and
# "nightly" draw fresh ones to look for new counterexamples.
settings.register_profile("ci", max_examples=20, derandomize=True, **_common)
settings.register_profile("dev", max_examples=10, **_common)
settings.register_profile("nightly", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
