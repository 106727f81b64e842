"""`bess-duos serve` runs numpy's BLAS with one thread per process unless told otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import bess_duos.webhook.cli.site as cli_webhook
import pytest
from bess_duos.webhook.cli.site import BLAS_THREAD_VARIABLES, one_blas_thread
from threadpoolctl import ThreadpoolController


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadpoolController]:
    """No thread variables set, the module's flag reset, and the pools restored afterwards."""
    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so the teardown restores what was there
        monkeypatch.delenv(name)
    monkeypatch.setattr(cli_webhook, "_BLAS_LIMITED", False)
    controller = ThreadpoolController()
    before = {id(c): c.num_threads for c in controller.lib_controllers}
    yield controller
    for lib in controller.lib_controllers:
        lib.set_num_threads(before[id(lib)])


def test_serve_limits_blas_to_one_thread(clean: ThreadpoolController) -> None:
    one_blas_thread()
    for name in BLAS_THREAD_VARIABLES:  # inherited by spawned compute processes
        assert cli_webhook.os.environ[name] == "1"
    blas = clean.select(user_api="blas").info()
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    one_blas_thread()  # again, as in the forked gunicorn worker: still applied
    assert all(pool["num_threads"] == 1 for pool in clean.select(user_api="blas").info())


def test_a_thread_count_from_the_environment_is_kept(clean: ThreadpoolController,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    before = [pool["num_threads"] for pool in clean.select(user_api="blas").info()]
    one_blas_thread()
    assert cli_webhook.os.environ.get("OPENBLAS_NUM_THREADS") is None
    assert [pool["num_threads"] for pool in clean.select(user_api="blas").info()] == before
