"""/proc accounting: process trees, CPU time, resident memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

from standby_bench.procfs import RssSampler, cpu_seconds, process_tree, raise_nofile, rss_kib

# A child that burns some CPU, holds ~40 MiB, starts a grandchild, then waits on stdin.
CHILD = """
import subprocess, sys
sum(range(3_000_000))
block = bytearray(40 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
grandchild = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
print(grandchild.pid, flush=True)
sys.stdin.read()
grandchild.stdin.close()
grandchild.wait()
"""


def test_tree_cpu_and_memory_of_a_child() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        tree = process_tree(child.pid)
        assert sorted(tree) == sorted([child.pid, grandchild])
        assert child.pid in process_tree(os.getpid())
        assert cpu_seconds([child.pid]) > 0
        assert rss_kib(tree) > rss_kib([grandchild]) + 30 * 1024
        with RssSampler(lambda: tree) as sampler:
            pass
        assert sampler.peak_kib >= rss_kib([child.pid])
        assert cpu_seconds([]) == 0 and rss_kib([]) == 0
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    assert rss_kib([child.pid]) == 0 and cpu_seconds([child.pid]) == 0  # gone: counts nothing


def test_raise_nofile_never_lowers_the_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_nofile(soft) == soft
    assert raise_nofile(soft + 1) >= soft
