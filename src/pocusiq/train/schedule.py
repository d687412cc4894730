"""The learning-rate schedule of every optimisation in pocusiq (training and distillation).

pix2pix's ``linear`` policy: the rate is constant for the first ``decay_start`` of the steps,
then decays linearly towards 0, reached just after the last step. A pure function of the step,
so nothing to restore on resume.
"""

from __future__ import annotations

__all__ = ["learning_rate_factor"]


def learning_rate_factor(step: int, max_steps: int, decay_start: float) -> float:
    """Multiplier of the base learning rate for the update made at 0-based ``step``.

    1 for ``step < decay_start * max_steps`` (rounded), then linear down to ``1 / (n_decay + 1)``
    at the last step, where ``n_decay = max_steps - start``.

    Raises:
        ValueError: ``max_steps < 1``, ``decay_start`` outside ``[0, 1]`` or ``step`` outside
            ``[0, max_steps)``.
    """
    if max_steps < 1 or not 0.0 <= decay_start <= 1.0 or not 0 <= step < max_steps:
        raise ValueError(
            f"learning_rate_factor needs 0 <= step < max_steps and decay_start in [0, 1], "
            f"got step={step}, max_steps={max_steps}, decay_start={decay_start}"
        )
    start = int(round(decay_start * max_steps))
    if step < start:
        return 1.0
    n_decay = max_steps - start
    return 1.0 - (step - start + 1) / (n_decay + 1)
