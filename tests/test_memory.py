"""keep_freed_memory: glibc's trim threshold from MALLOC_KEEP_MB."""
import platform

import pytest

from spyder.core.memory import keep_freed_memory
from spyder.core.settings import Settings


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_takes_the_trim_threshold():
    assert keep_freed_memory(Settings(overrides={"MALLOC_KEEP_MB": 16})) is True


def test_zero_leaves_the_allocator_alone():
    assert keep_freed_memory(Settings(overrides={"MALLOC_KEEP_MB": 0})) is False
