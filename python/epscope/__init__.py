"""epscope: what rank imbalance costs in expert-parallel MoE dispatch/combine.

The compiled core does all the work (epscope._epscope, bindings over epscope_core); this package
only re-exports it and adds readers for other tools' files (epscope.sglang). deepep_driver.py and
deepep_session.py are the scripts `epscope bench --backend deepep` runs (docs/cli.md), not
imported here. docs/python.md.
"""

from epscope._epscope import (  # noqa: F401  (re-exports)
    Comparison,
    EstimateResult,
    InputError,
    ModelParams,
    Scenario,
    compare_balanced,
    estimate,
    preset_names,
    report_html,
    sweep,
)

__version__ = "0.1.0"
