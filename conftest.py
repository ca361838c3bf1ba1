"""Checks for every test item of the repository, the solved notebooks (nbval) included: pytest loads
this file for solutions/ as well as tests/ (tests/conftest.py holds the test suite's own fixtures)."""
import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """nbval (``--nbval-lax``) fails a solved notebook's cell on an error only; a cell of ours must
    also write nothing to stderr (a warning there is a test cell scored 0 under nbgrader, and noise
    for a student). nbval keeps what the cell sent in ``test_outputs``."""
    result = yield                     # (a failing cell raises here, and its error stands)
    outputs = getattr(item, "test_outputs", None)
    if outputs and type(item).__module__.startswith("nbval"):
        stderr = [o.get("text", "") for o in outputs
                  if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        if stderr:
            raise AssertionError(f"{item.name} wrote to stderr:\n" + "".join(stderr)[-2000:])
    return result
