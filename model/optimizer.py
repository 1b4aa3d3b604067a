"""Optimizers and learning-rate schedules: PaLM's recipe by default, AdamW + cosine as alternative.

PaLM (Chowdhery et al. 2022, Sec. 5):
  * Adafactor without factorisation (so: Adam with "parameter scaling", the update scaled by the
    root-mean-square of the parameter block), beta1 = 0.9, beta2 = 1 - step^-0.8;
  * global-norm gradient clipping at 1.0;
  * learning rate 1e-2 for the first 10k steps, then 1/sqrt(step);
  * "dynamic" weight decay lr(step)^2: every step p <- p - lr^2 * p on top of the update.

Everything is gin-configurable (module `optimizer`); a schedule is a function step -> learning
rate where `step` counts optimizer updates from 0. t5x's `create_learning_rate_scheduler` factor
strings ('constant * rsqrt_decay', ...) are parsed by `t5x_factor_schedule`, so t5x run files keep
their learning-rate bindings; 'constant * rsqrt_decay' with base 1.0 and 10k warmup steps is
exactly PaLM's schedule.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import gin

Schedule = Callable[[jax.Array], jax.Array]


@gin.configurable(module="optimizer")
def rsqrt_schedule(peak_learning_rate: float = 1e-2, decay_start_step: int = 10_000,
                   warmup_steps: int = 0) -> Schedule:
    """PaLM's schedule: constant `peak_learning_rate` until `decay_start_step`, then decayed as
    1/sqrt(step) (continuously: peak * sqrt(decay_start / step)). With the defaults this is 1e-2 for
    10k steps then exactly 1/sqrt(step). An optional linear warm-up from 0 precedes it."""
    if peak_learning_rate <= 0 or decay_start_step <= 0 or warmup_steps < 0:
        raise ValueError(f"rsqrt_schedule: need peak_learning_rate > 0, decay_start_step > 0, "
                         f"warmup_steps >= 0; got {peak_learning_rate}, {decay_start_step}, "
                         f"{warmup_steps}")

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        lr = peak_learning_rate * jnp.sqrt(decay_start_step / jnp.maximum(step, decay_start_step))
        if warmup_steps:
            lr = lr * jnp.minimum(1.0, (step + 1.0) / warmup_steps)
        return lr

    return schedule


@gin.configurable(module="optimizer")
def cosine_schedule(peak_learning_rate: float = 3e-4, warmup_steps: int = 1000,
                    total_steps: int = gin.REQUIRED, end_learning_rate_ratio: float = 0.1
                    ) -> Schedule:
    """Linear warm-up to the peak, then cosine decay to peak * end_learning_rate_ratio at
    `total_steps` (the usual AdamW recipe)."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=peak_learning_rate, warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1),
        end_value=peak_learning_rate * end_learning_rate_ratio)


_T5X_FACTORS = ("constant", "linear_warmup", "rsqrt_decay", "rsqrt_normalized_decay",
                "decay_every", "cosine_decay", "linear_decay")


def t5x_factor_schedule(factors: str = "constant * linear_warmup * rsqrt_decay",
                        base_learning_rate: float = 0.5, warmup_steps: int = 1000,
                        decay_factor: float = 0.5, steps_per_decay: int = 20000,
                        steps_per_cycle: int = 100000, step_offset: int = 0,
                        min_learning_rate: float = 1e-8) -> Schedule:
    """t5x's product-of-factors schedule (the semantics of its `create_learning_rate_scheduler`).

    Factors: constant (base_learning_rate), linear_warmup (min(1, step / warmup_steps)),
    rsqrt_decay (1/sqrt(max(step, warmup_steps))), rsqrt_normalized_decay (rsqrt_decay times
    sqrt(warmup_steps)), decay_every (decay_factor^(step // steps_per_decay)), cosine_decay
    (cosine over steps_per_cycle, restarting), linear_decay (1 - step / steps_per_cycle, floored at
    0).
    """
    names = [name.strip() for name in factors.split("*")]
    unknown = [name for name in names if name not in _T5X_FACTORS]
    if unknown:
        raise ValueError(f"unknown learning-rate factor(s) {unknown} in {factors!r}; known: "
                         f"{', '.join(_T5X_FACTORS)}")

    def schedule(step):
        step = jnp.maximum(0.0, jnp.asarray(step, jnp.float32) - step_offset)
        value = jnp.float32(1.0)
        for name in names:
            if name == "constant":
                value = value * base_learning_rate
            elif name == "linear_warmup":
                value = value * jnp.minimum(1.0, step / max(warmup_steps, 1))
            elif name == "rsqrt_decay":
                value = value / jnp.sqrt(jnp.maximum(step, warmup_steps))
            elif name == "rsqrt_normalized_decay":
                value = value * jnp.sqrt(warmup_steps) / jnp.sqrt(jnp.maximum(step, warmup_steps))
            elif name == "decay_every":
                value = value * decay_factor ** (step // steps_per_decay)
            elif name == "cosine_decay":
                progress = jnp.mod(step, steps_per_cycle) / steps_per_cycle
                value = value * jnp.maximum(0.0, 0.5 * (1.0 + jnp.cos(jnp.pi * progress)))
            elif name == "linear_decay":
                value = value * jnp.maximum(0.0, 1.0 - step / steps_per_cycle)
        return jnp.maximum(value, min_learning_rate)

    return schedule


def _weight_decay(weight_decay, learning_rate: Schedule):
    if weight_decay == "lr_squared":  # PaLM's dynamic weight decay
        return lambda step: jnp.square(learning_rate(step))
    if callable(weight_decay) or weight_decay is None:
        return weight_decay
    return float(weight_decay)


@gin.configurable(module="optimizer")
def adafactor(learning_rate: Schedule, *, beta1: float | None = 0.9, decay_rate: float = 0.8,
              clip_gradient_norm: float | None = 1.0, weight_decay="lr_squared",
              factored: bool = False, multiply_by_parameter_scale: bool = True,
              clipping_threshold: float | None = 1.0, epsilon: float = 1e-30
              ) -> optax.GradientTransformation:
    """PaLM's optimizer (all defaults): global-norm clipping, then unfactored Adafactor with
    beta2 = 1 - (step+1)^-decay_rate, update-RMS clipping, parameter scaling, first moment beta1,
    and weight decay `lr_squared` (lr(step)^2; or a float, a schedule, or None)."""
    adafactor_tx = optax.adafactor(
        learning_rate=learning_rate, decay_rate=decay_rate, factored=factored,
        multiply_by_parameter_scale=multiply_by_parameter_scale,
        clipping_threshold=clipping_threshold, momentum=beta1, eps=epsilon,
        weight_decay_rate=_weight_decay(weight_decay, learning_rate))
    if clip_gradient_norm is None:
        return adafactor_tx
    return optax.chain(optax.clip_by_global_norm(clip_gradient_norm), adafactor_tx)


@gin.configurable(module="optimizer")
def adamw(learning_rate: Schedule, *, beta1: float = 0.9, beta2: float = 0.95,
          epsilon: float = 1e-8, weight_decay: float = 0.1,
          clip_gradient_norm: float | None = 1.0) -> optax.GradientTransformation:
    """AdamW (decoupled weight decay, multiplied by the learning rate as in optax) after global-norm
    clipping; pair it with `cosine_schedule` (gin/runs/adamw_cosine.gin)."""
    tx = optax.adamw(learning_rate, b1=beta1, b2=beta2, eps=epsilon, weight_decay=weight_decay)
    if clip_gradient_norm is None:
        return tx
    return optax.chain(optax.clip_by_global_norm(clip_gradient_norm), tx)


__all__ = ["rsqrt_schedule", "cosine_schedule", "t5x_factor_schedule", "adafactor", "adamw"]
