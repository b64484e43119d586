import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def data_dir():
    """The real data directory; tests that need it are skipped with the reason printed (CI sets it)."""
    path = os.environ.get("CODESIGN_DATA")
    if not path or not os.path.isdir(os.path.join(path, "data")):
        pytest.skip("CODESIGN_DATA is not set to a folder holding data/ and models/: real-data test skipped")
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Trained zoo models go to a cache; keep the user's unless CI/the caller chose one."""
    if "CODESIGN_CACHE" not in os.environ:
        os.environ["CODESIGN_CACHE"] = str(tmp_path_factory.mktemp("codesign-cache"))
    yield


# Hypothesis draws the same examples on every run (CI is reproducible; a failure seen once is seen again).
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("codesign", derandomize=True, print_blob=True)
    _hyp_settings.load_profile("codesign")
except ImportError:  # hypothesis is a test extra; without it, the property tests fail at import with its name
    pass
