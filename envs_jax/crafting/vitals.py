"""Crafter's vitals: food, drink and energy drain; health recovers when every need is met.

The counters run in half steps so that sleeping (which halves hunger and thirst) stays
integer. Sleep ends when energy is full or when health drops.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs_jax.crafting import constants as C
from envs_jax.crafting.types import EnvParams, EnvState

#: The hunger, thirst and recovery counters count half steps (sleep changes their rates).
HALF_STEPS_PER_STEP = 2


class Vitals(NamedTuple):
    """The agent's body after one step."""

    vitals: jax.Array  # [4] int32 health, food, drink, energy in [0, MAX_COUNT]
    counters: jax.Array  # [4] int32 hunger, thirst, fatigue, recover (half steps)
    sleeping: jax.Array  # [] bool still asleep after the step
    woke_rested: jax.Array  # [] bool woke up this step because energy is full


def update_vitals(
    state: EnvState,
    sleeping: jax.Array,
    gain: jax.Array,
    hurt: jax.Array,
    ate_cow: jax.Array,
    drank: jax.Array,
    burnt: jax.Array,
    params: EnvParams,
) -> Vitals:
    """One step of the counters and the vitals they drive, lava's instant death, and sleep.

    Args:
        state: the state before the step.
        sleeping: bool [] asleep during this step.
        gain: int32 [4] vitals gained by eating and drinking this step.
        hurt: int32 [] damage taken from creatures this step.
        ate_cow: bool [] a cow was eaten this step (the hunger counter restarts).
        drank: bool [] "do" on water this step (the thirst counter restarts).
        burnt: bool [] the agent stepped into lava (health drops to 0).
        params: env params.
    """
    vitals = state.vitals
    half = HALF_STEPS_PER_STEP
    rate = jnp.where(sleeping, half // 2, half)  # sleeping halves hunger and thirst
    hunger = jnp.where(ate_cow, 0, state.hunger) + rate
    food_drop = hunger > half * params.hunger_period
    hunger = jnp.where(food_drop, 0, hunger)
    thirst = jnp.where(drank, 0, state.thirst) + rate
    drink_drop = thirst > half * params.thirst_period
    thirst = jnp.where(drink_drop, 0, thirst)
    fatigue = jnp.where(sleeping, jnp.minimum(state.fatigue - 1, 0), state.fatigue + 1)
    rested = fatigue < -params.rest_period
    tired = fatigue > params.fatigue_period
    fatigue = jnp.where(rested | tired, 0, fatigue)
    needs_met = (vitals[C.FOOD] > 0) & (vitals[C.DRINK] > 0)
    needs_met = needs_met & ((vitals[C.ENERGY] > 0) | sleeping)
    # Health recovers twice as fast asleep, and decays half as fast.
    recover = state.recover + jnp.where(
        needs_met, jnp.where(sleeping, 2 * half, half), jnp.where(sleeping, -half // 2, -half)
    )
    heal = recover > half * params.recover_period
    decay = recover < -half * params.degen_period
    recover = jnp.where(heal | decay, 0, recover)
    change = jnp.stack(
        [
            heal.astype(jnp.int32) - decay.astype(jnp.int32) - hurt,
            -food_drop.astype(jnp.int32),
            -drink_drop.astype(jnp.int32),
            rested.astype(jnp.int32) - tired.astype(jnp.int32),
        ]
    )
    vitals = jnp.clip(vitals + gain + change, 0, C.MAX_COUNT)
    energy_full = vitals[C.ENERGY] >= C.MAX_COUNT  # a sleeper wakes up
    vitals = jnp.where(burnt & (jnp.arange(C.NUM_VITALS) == C.HEALTH), 0, vitals)
    # Any loss of health wakes the agent (creatures, hunger, thirst), as in Crafter.
    still_asleep = sleeping & ~energy_full & (vitals[C.HEALTH] >= state.vitals[C.HEALTH])
    return Vitals(
        vitals=vitals,
        counters=jnp.stack([hunger, thirst, fatigue, recover]).astype(jnp.int32),
        sleeping=still_asleep,
        woke_rested=sleeping & energy_full,
    )
