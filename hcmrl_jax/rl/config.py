"""Training configuration: one frozen, typed dataclass validated on construction.

The comment after each field is its ``--help`` text in the tyro CLI. The memory's settings live
in :class:`~hcmrl_jax.memory.config.MemoryConfig`, nested as ``PPOConfig.memory``; on the command
line every setting of either has one flag under its one name (``--immediate-size``, ``--lr``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

from hcmrl_jax.memory.config import SETTING_NAMES, MemoryConfig, kinds_with
from hcmrl_jax.models.cores import core_capabilities
from hcmrl_jax.models.policy import check_action_factors

#: Memory kinds with a short-term tier, whose summaries' spans the memory credit option needs.
SHORT_TERM_KINDS: tuple[str, ...] = kinds_with(lambda m: core_capabilities(m).short_term)
#: Memory kinds whose memory can score novelty (an episodic novelty bonus needs one).
NOVELTY_KINDS: tuple[str, ...] = kinds_with(lambda m: core_capabilities(m).novelty)
#: Old names of settings, as saved configs, result files and command lines may still spell them
#: -> the one name of the setting now.
RENAMED_SETTINGS: dict[str, str] = {"state_dim": "embed_dim"}

ENT_SCHEDULES = ("constant", "linear", "cosine")
CREDIT_MODES = ("gae", "memory")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO with a memory-augmented policy; every field is a CLI flag."""

    # --- environment ---
    env_id: str = "MemoryChain-bsuite"
    """Env id: crafting | navigation | games | story | any gymnax id."""
    env_overrides: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Env options by name (static config or EnvParams fields), e.g. memory_length 5; a
    sequence option (game_rates) is kept as a tuple."""
    privileged: bool = False  # use the privileged twin that shows the hidden information
    reset_pool_size: int = 256  # worlds in the pooled reset of benchmark envs (0: plain reset)
    reset_refresh: int = 32  # pool worlds regenerated every update (fresh worlds; 0: fixed pool)
    desync_steps: int = 0
    """Before training, env i takes a random number of random-action steps, uniform in
    [0, desync_steps), so that envs whose episodes all last the same number of steps do not
    finish (and reward) in the same update. 0: all envs start at the first step."""

    # --- agent ---
    memory: MemoryConfig = dataclasses.field(default_factory=MemoryConfig)
    """The memory: its core (HCMRL, an ablation or a baseline) and every setting of it."""
    head_hidden: int = 64  # width of the actor, value and reconstruction hidden layers
    id_embed_dim: int = 8  # embedding width per integer observation id
    conv_features: int = 0  # channels of a 3x3 conv over integer grids (0: flatten only)
    action_factors: tuple[int, ...] = ()
    """() for one logit per action; else the sizes of the action's components (their product
    is the env's action count, row-major: story's verb, subject, argument, place, see
    ``StoryConfig.action_factors``), and the policy adds up one logit per component."""

    # --- PPO ---
    num_envs: int = 64  # parallel environments
    num_steps: int = 128  # rollout length T per update (the truncated-BPTT window)
    total_timesteps: int = 1_000_000  # environment steps in the whole run
    update_epochs: int = 4  # PPO epochs over each rollout
    num_minibatches: int = 4  # minibatches per epoch; they split environments, never time
    lr: float = 2.5e-4  # Adam learning rate
    anneal_lr: bool = True  # decay the learning rate linearly to 0 over the run
    adam_eps: float = 1e-5  # Adam epsilon
    gamma: float = 0.99  # discount factor
    gae_lambda: float = 0.95  # GAE lambda
    clip_eps: float = 0.2  # PPO ratio clip
    clip_value: bool = True  # clip the value update around the rollout's value as well
    normalize_advantages: bool = True  # standardise advantages per minibatch
    bootstrap_truncated: bool = True
    """At a time-limit truncation, bootstrap with V(s_t) instead of 0."""
    ent_coef: float = 0.01  # entropy bonus coefficient (at the start of the schedule)
    ent_coef_final: float = 0.01  # entropy coefficient at the end of the run (linear/cosine)
    ent_schedule: Literal["constant", "linear", "cosine"] = "constant"  # entropy schedule
    vf_coef: float = 0.5  # value loss coefficient
    max_grad_norm: float = 0.5  # global gradient-norm clip
    vae_coef: float = 0.1  # weight of the memory VAE loss (on rollout segments of embeddings)
    aux_coef: float = 0.1  # weight of the encoder's self-supervised observation reconstruction
    novelty_bonus: bool = False  # add an episodic novelty bonus from the memory to the reward
    novelty_coef: float = 0.01  # novelty bonus scale
    credit: Literal["gae", "memory"] = "gae"  # gae | memory (redistribute reward along attention)
    credit_fraction: float = 0.1  # fraction of a reward the memory credit option may move back
    shard_envs: bool = True  # shard the env batch over all visible devices when there are several
    parallel_replay: bool = True
    """Replay rollouts for the update in parallel over time (HCMRL from the tiers recorded while
    acting; MLP, transformer) instead of re-running the memory step by step (GRU: always)."""
    remat: bool = False  # step-by-step replays: recompute activations in backward (less memory)

    def __post_init__(self) -> None:
        # Sequence options (``game_rates``) as tuples: a config read back from JSON, where they
        # are lists, equals the one that was saved.
        object.__setattr__(
            self,
            "env_overrides",
            {
                name: tuple(value) if isinstance(value, list | tuple) else value
                for name, value in self.env_overrides.items()
            },
        )
        object.__setattr__(self, "action_factors", tuple(self.action_factors))
        check_action_factors(self.action_factors, name="PPOConfig.action_factors")
        # First, so that the range checks below never see inf or nan (`inf > 0` holds).
        self._check_finite()
        if not isinstance(self.memory, MemoryConfig):
            raise ValueError(
                f"PPOConfig.memory must be a MemoryConfig, got {self.memory!r} (a kind by name: "
                f"MemoryConfig.of_kind({self.memory!r}) or config.memory.with_kind(...))"
            )
        positive = (
            "head_hidden",
            "id_embed_dim",
            "num_envs",
            "num_steps",
            "total_timesteps",
            "update_epochs",
            "num_minibatches",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"PPOConfig.{name} must be a positive integer, got {value!r}")
        for name in ("reset_pool_size", "reset_refresh", "conv_features", "desync_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "clip_eps", "max_grad_norm", "adam_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("ent_coef", "ent_coef_final", "vf_coef", "vae_coef", "aux_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda", "credit_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"PPOConfig.{name} must lie in [0, 1], got {getattr(self, name)!r}"
                )
        if self.novelty_coef < 0:
            raise ValueError(f"PPOConfig.novelty_coef must be >= 0, got {self.novelty_coef!r}")
        self._check_env_id()
        if self.num_envs % self.num_minibatches:
            raise ValueError(
                f"PPOConfig.num_minibatches ({self.num_minibatches}) must divide num_envs "
                f"({self.num_envs}): minibatches split environments"
            )
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ValueError(
                f"PPOConfig.total_timesteps ({self.total_timesteps}) is less than one update's "
                f"num_envs * num_steps = {self.num_envs * self.num_steps}"
            )
        # Checks that need the memory and the run together; the memory's own settings were
        # checked by MemoryConfig, and what its core offers is read from the core's capabilities.
        capabilities = core_capabilities(self.memory)
        if capabilities.vae and self.vae_coef > 0 and self.num_steps < self.memory.segment_length:
            raise ValueError(
                f"PPOConfig.num_steps ({self.num_steps}) must be >= segment_length "
                f"({self.memory.segment_length}): the VAE trains on rollout segments of that length"
            )
        if self.ent_schedule not in ENT_SCHEDULES:
            raise ValueError(
                f"PPOConfig.ent_schedule: unknown schedule {self.ent_schedule!r}; "
                f"known: {ENT_SCHEDULES}"
            )
        if self.credit not in CREDIT_MODES:
            raise ValueError(
                f"PPOConfig.credit: unknown mode {self.credit!r}; known: {CREDIT_MODES}"
            )
        if self.credit == "memory" and not capabilities.short_term:
            raise ValueError(
                f"PPOConfig.credit='memory' needs a memory with a short-term tier "
                f"({SHORT_TERM_KINDS}), got memory {self.memory.kind!r}"
            )
        if self.novelty_bonus and not capabilities.novelty:
            raise ValueError(
                f"PPOConfig.novelty_bonus needs a memory that scores novelty ({NOVELTY_KINDS}), "
                f"got memory {self.memory.kind!r}"
            )

    def _check_finite(self) -> None:
        """Every float field, and every float env override, must be a finite number."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"PPOConfig.{field.name} must be a finite number, got {value!r}")
        for name, value in self.env_overrides.items():
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise ValueError(
                    f"PPOConfig.env_overrides[{name!r}] must be a finite number, got {value!r}"
                )

    def _check_env_id(self) -> None:
        import envs_jax  # the registry; imported here so that the config module stays light

        if self.env_id not in envs_jax.registered_envs:
            raise KeyError(
                f"PPOConfig.env_id: unknown env {self.env_id!r}; known: {envs_jax.registered_envs}"
            )

    # ------------------------------------------------------------------ settings by name

    def settings(self) -> dict[str, Any]:
        """Every setting by its one name -> value: the run's fields and the memory's, flat
        (as the command line spells them)."""
        run = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "memory"
        }
        return {**run, **dataclasses.asdict(self.memory)}

    def with_settings(self, **settings: Any) -> PPOConfig:
        """This config with settings replaced by name, wherever they live (the memory's in
        ``memory``); old names (:data:`RENAMED_SETTINGS`) are accepted.

        Raises:
            ValueError: a name that is no setting, or a bad value.
        """
        settings = {RENAMED_SETTINGS.get(name, name): value for name, value in settings.items()}
        unknown = sorted(set(settings) - set(setting_defaults()))
        if unknown:
            raise ValueError(f"PPOConfig has no settings {unknown}")
        memory = {k: v for k, v in settings.items() if k in SETTING_NAMES}
        run = {k: v for k, v in settings.items() if k not in SETTING_NAMES}
        if memory:
            run["memory"] = dataclasses.replace(self.memory, **memory)
        return dataclasses.replace(self, **run)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PPOConfig:
        """Rebuilds a config from ``dataclasses.asdict`` output (validating it again).

        Configs saved before the memory's settings moved into ``MemoryConfig`` (flat, with the
        memory kind by name in ``memory`` and ``state_dim`` for ``embed_dim``) load too.

        Raises:
            ValueError: names that are no fields (the message lists them), or a bad value.
            KeyError: an unknown memory kind.
        """
        values = dict(values)
        memory = values.pop("memory", {})
        flat = {
            RENAMED_SETTINGS.get(name, name): values.pop(name)
            for name in list(values)
            if RENAMED_SETTINGS.get(name, name) in SETTING_NAMES
        }
        if isinstance(memory, str) or flat:
            memory_config = MemoryConfig.of_kind(memory or "hcmrl", **flat)
        else:
            memory_config = MemoryConfig.from_dict(memory)
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"PPOConfig has no fields {unknown} (saved by another version?)")
        return cls(**values, memory=memory_config)

    # ------------------------------------------------------------------------- derived

    @property
    def steps_per_update(self) -> int:
        """Environment steps collected per update: num_envs * num_steps."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the run: total_timesteps // (num_envs * num_steps)."""
        return self.total_timesteps // self.steps_per_update

    @property
    def minibatch_envs(self) -> int:
        """Environments per minibatch."""
        return self.num_envs // self.num_minibatches


def setting_defaults() -> dict[str, Any]:
    """Every setting of a training run by its one name -> its default (see
    :meth:`PPOConfig.settings`)."""
    return PPOConfig().settings()
