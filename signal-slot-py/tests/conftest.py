import multiprocessing

import pytest

START_METHODS = ["fork", "spawn"]


@pytest.fixture(params=START_METHODS)
def context(request):
    """A multiprocessing context of each start method: the package starts its processes by that method."""
    return multiprocessing.get_context(request.param)
