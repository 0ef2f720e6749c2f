"""Training: PPO (or another SB3 learner) on the env stack with SB3 callbacks, and Tier 4 meta-training."""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "train": "experiments.training.train",
        "TrainResult": "experiments.training.train",
        "MetaTrainConfig": "experiments.training.meta",
        "load_meta": "experiments.training.meta",
        "run_meta_train": "experiments.training.meta",
    },
)
