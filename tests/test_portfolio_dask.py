"""The Dask engine gives the local engine's results, site by site, on a loopback cluster."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from bess_duos.core.portfolio_demo import make_demo_portfolio
from bess_duos.core.portfolio_engines import run_portfolio
from bess_duos.webhook.cli import main as cli_main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """200 two-week sites, 5% broken, profiles in Parquet parts of 50 sites."""
    out = tmp_path_factory.mktemp("dask_demo")
    return make_demo_portfolio(out, 200, seed=11, days=14, broken_share=0.05, sites_per_file=50)


@pytest.fixture(scope="module")
def cluster():
    """Two single-thread workers in this process, scheduler on tcp loopback."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local


def test_dask_equals_local_site_by_site(demo, cluster) -> None:
    local = run_portfolio(demo.sites_csv, engine="local", workers=2, batch_size=40)
    with distributed.Client(cluster.scheduler_address) as client:
        remote = run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=40)
        regrouped = run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=25)
    assert remote.engine == "dask" and remote.batches == local.batches == 5
    assert len(local.results) == 190 and len(local.errors) == 10
    pd.testing.assert_frame_equal(local.results, remote.results, check_exact=True)
    pd.testing.assert_frame_equal(local.errors, remote.errors, check_exact=True)
    assert sorted(remote.errors["site_id"]) == sorted(demo.broken["site_id"])
    # Other batch sizes stack other feature matrices: BLAS may round the last bit differently.
    assert regrouped.batches == 8
    pd.testing.assert_frame_equal(local.results, regrouped.results, check_exact=False,
                                  rtol=1e-12, atol=0.0)
    pd.testing.assert_frame_equal(local.errors, regrouped.errors, check_exact=True)


def test_cli_dask_engine_by_scheduler_address(demo, cluster, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    address = cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    out = tmp_path / "out"
    assert cli_main(["portfolio", str(demo.sites_csv), "--out", str(out), "--engine", "dask",
                     "--scheduler", address, "--batch-size", "50", "--batches-per-task", "3",
                     "--no-progress", "--clusters", "3"]) == 0
    assert "200 sites: 190 valued, 10 failed" in capsys.readouterr().out
    local = run_portfolio(demo.sites_csv, workers=1, batch_size=50)  # same batches
    written = pd.read_parquet(out / "results.parquet").drop(columns=["cluster", "cluster_name"])
    pd.testing.assert_frame_equal(written, local.results, check_exact=True)


def test_cli_dask_needs_a_scheduler(demo, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["portfolio", str(demo.sites_csv), "--out", str(tmp_path), "--engine",
                     "dask"]) == 2
    assert "--engine dask needs --scheduler" in capsys.readouterr().err


@pytest.mark.parametrize(("per_task", "tasks"), [(1, [1] * 40), (3, [3] * 12 + [2, 1, 1])])
def test_dask_tasks_of_several_batches_give_the_same_batches(
        demo, cluster, per_task: int, tasks: list[int]) -> None:
    """A Dask task runs `batches_per_task` batches one after another (the last tasks fewer):
    the same batches, the same frames, progress and the count a batch at a time."""
    local = run_portfolio(demo.sites_csv, engine="local", workers=1, batch_size=5)
    submitted: list[int] = []
    with distributed.Client(cluster.scheduler_address) as client:
        submit = client.submit

        def counted(function, folder, task, **kwargs):
            submitted.append(len(task))
            return submit(function, folder, task, **kwargs)

        client.submit = counted
        ticks: list[int] = []
        remote = run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=5,
                               batches_per_task=per_task, progress=ticks.append)
    # 40 batches on 2 workers: tasks of 3, then at most half of what is left
    assert submitted == tasks and remote.batches == 40 and ticks == [5] * 40
    pd.testing.assert_frame_equal(local.results, remote.results, check_exact=True)
    pd.testing.assert_frame_equal(local.errors, remote.errors, check_exact=True)


@pytest.mark.parametrize(("count", "sizes"), [
    (0, []), (1, [1]), (10, [4, 3, 1, 1, 1]), (20, [4, 4, 4, 4, 2, 1, 1]),
    (30, [4] * 6 + [3, 1, 1, 1]),
])
def test_tasks_are_full_until_the_last_ones_take_a_share_of_what_is_left(
        count: int, sizes: list[int]) -> None:
    """4 batches a task on 2 worker threads: once the batches run out, a task takes at most
    half of those left, down to one."""
    from bess_duos.core.portfolio_engines import _tasks

    tasks = list(_tasks((f"batch {i}" for i in range(count)), 4, 2))
    assert [len(task) for task in tasks] == sizes
    assert [pair for task in tasks for pair in task] == [(i, f"batch {i}") for i in range(count)]


def test_batches_per_task_must_be_one_or_more(demo, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["portfolio", str(demo.sites_csv), "--out", str(tmp_path), "--engine",
                     "dask", "--scheduler", "tcp://127.0.0.1:1", "--batches-per-task",
                     "0"]) == 2
    assert "--batches-per-task 0: give a number of batches of 1 or more" in (
        capsys.readouterr().err)
    with pytest.raises(ValueError, match="batches_per_task must be 1 or more, got 0"):
        run_portfolio(demo.sites_csv, engine="dask", scheduler="tcp://127.0.0.1:1",
                      batches_per_task=0)


def test_dask_worker_processes_freeze_after_their_first_batch(demo, cluster) -> None:
    """A nanny's worker process (spawned: it inherited nothing to freeze) freezes what it holds
    once its first batch has run, and only then; workers in the caller's own process leave
    the caller's garbage collector as it was."""
    import gc

    frozen_here = gc.get_freeze_count()
    with distributed.Client(cluster.scheduler_address) as client:
        run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=100)
    assert gc.get_freeze_count() == frozen_here
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as spawned, \
            distributed.Client(spawned) as client:
        before = list(client.run(gc.get_freeze_count).values())
        first = run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=100)
        frozen = list(client.run(gc.get_freeze_count).values())
        second = run_portfolio(demo.sites_csv, engine="dask", scheduler=client, batch_size=100)
        again = list(client.run(gc.get_freeze_count).values())
    assert first.batches == second.batches == 2 and len(first.results) == 190
    # the engine, pandas, pyarrow and the tariffs: tens of thousands of objects, frozen once
    assert before == [0] and frozen[0] > 50_000 and again[0] <= frozen[0], (before, frozen, again)
