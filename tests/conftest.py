"""``pytest --strict-device``: run the library's tests with ebmlib's array namespace
replaced by the strict CuPy stand-in of ``strict_device`` (no GPU needed)."""
import pytest

import strict_device


def pytest_addoption(parser):
    parser.addoption("--strict-device", action="store_true",
                     help="run ebmlib on the strict CuPy stand-in (tests/strict_device.py)")


def pytest_configure(config):
    if config.getoption("--strict-device"):
        from ebmlib import backend
        backend.xp._switch(strict_device.namespace)


@pytest.fixture
def device_transfers():
    """Counts the device-to-host transfers of the code under test (under
    --strict-device; always 0 on NumPy)."""
    start = strict_device.transfers.count
    return lambda: strict_device.transfers.count - start
