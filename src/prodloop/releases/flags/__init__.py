"""Feature flags: the model, the pure evaluator, the store, a local client, OpenFeature."""

from prodloop.releases.flags.evaluate import (
    CompiledFlag,
    Evaluation,
    bucket,
    compile_flag,
    evaluate,
)
from prodloop.releases.flags.model import Flag, Rule, Split, flag_from_dict

__all__ = [
    "CompiledFlag",
    "Evaluation",
    "Flag",
    "Rule",
    "Split",
    "bucket",
    "compile_flag",
    "evaluate",
    "flag_from_dict",
]
