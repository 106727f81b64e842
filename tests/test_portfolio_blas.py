"""`_OneBlasThread` limits BLAS to one thread while any batch runs and restores the limit
after the last one, with its controller of the thread pools kept between batches (found again
only after an import)."""

from __future__ import annotations

import sys
import types

from bess_duos.core.portfolio import _OneBlasThread
from threadpoolctl import ThreadpoolController


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in ThreadpoolController().select(
        user_api="blas").info()}


def test_one_blas_thread_inside_batches_and_the_limit_restored_after() -> None:
    controller = ThreadpoolController()
    with controller.limit(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before == {2}
        for _ in range(2):  # the second time with the kept controller
            with _OneBlasThread():
                assert _blas_threads() == {1}
                with _OneBlasThread():  # a second batch at once (Dask threads)
                    assert _blas_threads() == {1}
                assert _blas_threads() == {1}
            assert _blas_threads() == before
        kept = _OneBlasThread._controller
        with _OneBlasThread():
            pass
        assert _OneBlasThread._controller is kept  # nothing imported: not found again
        sys.modules["_bess_duos_test_module"] = types.ModuleType("_bess_duos_test_module")
        try:
            with _OneBlasThread():
                assert _blas_threads() == {1}
            assert _OneBlasThread._controller is not kept  # an import: found again
        finally:
            del sys.modules["_bess_duos_test_module"]
        assert _blas_threads() == before
