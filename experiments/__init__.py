"""tradebrain experiments: the entry points, as sub-packages by job (each imports only the ones listed before it).

=================  ==========================================================================================
``files``          JSON written atomically, digests, the package version (imports nothing of the project)
``config``         run configs: YAML presets resolved into typed dataclasses (no torch)
``evaluation``     metrics and statistics, the backtest, policies, baselines, a run folder's files
``reporting``      the run report, plots, seed spreads, test metrics in TensorBoard, a run's test evaluation
``training``       PPO training (SB3 callbacks, validation curve) and Tier 4 meta-training
``walkforward``    rolling folds x seeds x tier sets: plan, units, executors, results page
``tuning``         Optuna search on validation folds
``live``           export, the bundle, the torch-free live brain, the seed system's names, store, service, paper
``benchmarks``     measurements that print what they measured with their settings
``examples``       a CleanRL-style reference loop
``cli``            the ``tradebrain`` command: a lazy dispatcher over the packages above
=================  ==========================================================================================
"""
