"""The rule adapter's prior has one implementation: `tradebrain meta-train` (meta.rule_prior.fit_synthetic) fits
the prior the adaptation benchmark's `rule_adapter` method uses for the same seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from meta.rule_prior import DEFAULT_METHOD, fit_synthetic, held_out_bands, training_params


def test_fit_synthetic_is_the_benchmarks_online_adapter() -> None:
    from experiments.benchmarks import adaptation as bench

    settings = dataclasses.replace(bench.QUICK, train_tasks=4, train_bars=300)
    rng = np.random.default_rng(3)  # run_seed's order: the regimes, then each path's seed
    training = bench._train_paths(training_params(settings.train_tasks, rng), settings, rng)
    theirs = bench.choosers(training)[bench.ONLINE]
    ours = fit_synthetic(n_tasks=4, n_bars=300, seed=3)
    assert ours.to_json() == theirs.to_json()
    assert DEFAULT_METHOD in bench.VARIANTS and bench.VARIANTS[DEFAULT_METHOD] == {
        "dense": ours.dense,
        "temper": 16.0,
        "lcb": ours.posterior.lcb,
    }
    assert not any(b.contains(p) for p in training.params for b in held_out_bands())
    assert fit_synthetic(n_tasks=4, n_bars=300, seed=4).to_json() != ours.to_json()


def test_fit_synthetic_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="n_tasks=1 must be an integer >= 2"):
        fit_synthetic(n_tasks=1)
    with pytest.raises(ValueError, match="n_bars=100 must be an integer >= 300"):
        fit_synthetic(n_tasks=4, n_bars=100)
