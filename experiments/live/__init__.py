"""Live use: export a run as a bundle, the torch-free :class:`LiveBrain`, the seed system's names, the store, the
REST service and paper replay.

* :mod:`experiments.live.export`: a run -> ``bundle/`` (``policy.onnx``, ``bundle.json``); imports torch.
* :mod:`experiments.live.bundle`: reading and checking a bundle (numpy only).
* :mod:`experiments.live.brain`: :class:`LiveBrain` and :class:`Decision` (numpy and onnxruntime only: no torch);
  :mod:`experiments.live.memory`: what it learns, keeps and reports (its base class).
* :mod:`experiments.live.state`, :mod:`experiments.live.onnx`: its per-ticker state and its ONNX policies.
* :mod:`experiments.live.seed`: ``SelfLearningBrain``, ``LearningConfig``, ``get_learning_brain`` (the seed's API).
* :mod:`experiments.live.store`: the SQLite (WAL) journal; :mod:`experiments.live.service`: FastAPI and dashboard.
* :mod:`experiments.live.paper`: bars fed one by one, fills by the env's rules.
"""

from envs.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "LiveBrain": "experiments.live.brain",
        "Decision": "experiments.live.brain",
        "read_bundle": "experiments.live.bundle",
        "BundleError": "experiments.live.bundle",
        "export_bundle": "experiments.live.export",
        "SelfLearningBrain": "experiments.live.seed",
        "LearningConfig": "experiments.live.seed",
        "get_learning_brain": "experiments.live.seed",
        "Store": "experiments.live.store",
        "paper_run": "experiments.live.paper",
    },
)
