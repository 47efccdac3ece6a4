"""Evaluation: metrics on the held-out split, the gate (thresholds + champion), reports.

`evaluate_run(settings, run_id=None)` is the stage; `judge` (ml.evaluate.gate) is the pure gate.
"""

from ml.evaluate.gate import EvaluationVerdict, GateCheck, judge
from ml.evaluate.run import EvaluationResult, evaluate_run

__all__ = ["EvaluationResult", "EvaluationVerdict", "GateCheck", "evaluate_run", "judge"]
