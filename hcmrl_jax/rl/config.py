"""Training configuration: one frozen, typed dataclass validated on construction.

The comment after each field is its ``--help`` text in the tyro CLI.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

#: Memory kinds: HCMRL, its ablations (configurations of the same ``HierarchicalMemory``) and the
#: baselines, which share the encoder, heads and parameter budget.
MEMORY_KINDS: dict[str, str] = {
    "hcmrl": "hierarchical memory: immediate + VAE short-term + long-term templates",
    "hcmrl_immediate": "ablation: immediate tier only (no short-term, no long-term)",
    "hcmrl_meanpool": "ablation: short-term summaries by mean-pooling instead of the VAE",
    "hcmrl_no_longterm": "ablation: no long-term tier",
    "hcmrl_fixed": "ablation: fixed compression (always merge the oldest pair)",
    "hcmrl_no_keys": "ablation: summaries without their most salient step (no key steps)",
    "mlp": "baseline: memoryless MLP",
    "gru": "baseline: GRU (flax GRUCell)",
    "transformer": "baseline: sliding-window transformer with GTrXL gating",
}
#: Kinds built on HierarchicalMemory.
HCMRL_KINDS = tuple(k for k in MEMORY_KINDS if k.startswith("hcmrl"))
#: Kinds whose memory can score novelty (an episodic novelty bonus needs one).
NOVELTY_KINDS = (*HCMRL_KINDS, "transformer")
#: Kinds with a short-term tier whose summaries' spans the memory credit option needs.
SHORT_TERM_KINDS = tuple(k for k in HCMRL_KINDS if k != "hcmrl_immediate")

MemoryKind = Literal[
    "hcmrl",
    "hcmrl_immediate",
    "hcmrl_meanpool",
    "hcmrl_no_longterm",
    "hcmrl_fixed",
    "hcmrl_no_keys",
    "mlp",
    "gru",
    "transformer",
]

ENT_SCHEDULES = ("constant", "linear", "cosine")
CREDIT_MODES = ("gae", "memory")
SALIENCE_SOURCES = ("observation", "embedding")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO with a memory-augmented policy; every field is a CLI flag."""

    # --- environment ---
    env_id: str = "MemoryChain-bsuite"
    """Env id: crafting | navigation | games | story | any gymnax id."""
    env_overrides: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Env options by name (static config or EnvParams fields), e.g. memory_length 5."""
    privileged: bool = False  # use the privileged twin that shows the hidden information
    reset_pool_size: int = 256  # worlds in the pooled reset of benchmark envs (0: plain reset)
    reset_refresh: int = 32  # pool worlds regenerated every update (fresh worlds; 0: fixed pool)
    desync_steps: int = 0
    """Before training, env i takes a random number of random-action steps, uniform in
    [0, desync_steps), so that envs whose episodes all last the same number of steps do not
    finish (and reward) in the same update. 0: all envs start at the first step."""

    # --- agent ---
    memory: MemoryKind = "hcmrl"  # memory kind: HCMRL, an HCMRL ablation or a baseline
    state_dim: int = 64  # D: encoder width = memory embedding width
    immediate_size: int = 32  # M: slots of the immediate tier
    short_term_size: int = 16  # S: summaries of the short-term tier
    long_term_size: int = 8  # K: templates of the long-term tier
    latent_dim: int = 16  # Z: VAE latent width of a summary
    segment_length: int = 32  # L: steps per short-term segment (1 <= L <= immediate_size)
    num_heads: int = 4  # attention heads (memory reads and the transformer baseline)
    long_term_persists: bool = True  # keep long-term templates across episodes
    salience: Literal["observation", "embedding"] = "observation"
    """What a step's salience (which step a short-term summary keeps as its key) is scored on:
    the flattened observation or the step embedding."""
    salience_prior: bool = True  # short-term reads prefer salient keys (a learned logit prior)
    key_inputs: bool = True
    """Keys keep their step's normalised observation, read with a learned projection (needs
    salience='observation')."""
    transformer_window: int = 32  # W: past steps the transformer baseline attends to
    transformer_layers: int = 1  # layers of the transformer baseline
    match_param_budget: bool = True  # size baseline cores to HCMRL's memory parameter count
    baseline_width: int = 64  # baseline core width when match_param_budget is False
    head_hidden: int = 64  # width of the actor, value and reconstruction hidden layers
    id_embed_dim: int = 8  # embedding width per integer observation id
    conv_features: int = 0  # channels of a 3x3 conv over integer grids (0: flatten only)

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
        # First, so that the range checks below never see inf or nan (`inf > 0` holds).
        self._check_finite()
        positive = (
            "state_dim",
            "immediate_size",
            "short_term_size",
            "long_term_size",
            "latent_dim",
            "segment_length",
            "num_heads",
            "transformer_window",
            "transformer_layers",
            "baseline_width",
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
        if self.memory not in MEMORY_KINDS:
            raise KeyError(
                f"PPOConfig.memory: unknown memory kind {self.memory!r}; "
                f"known: {list(MEMORY_KINDS)}"
            )
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
        if self.state_dim % self.num_heads:
            raise ValueError(
                f"PPOConfig.state_dim ({self.state_dim}) must divide by num_heads "
                f"({self.num_heads})"
            )
        if self.segment_length > self.immediate_size:
            raise ValueError(
                f"PPOConfig.segment_length ({self.segment_length}) must be <= immediate_size "
                f"({self.immediate_size})"
            )
        if self.uses_vae and self.vae_coef > 0 and self.num_steps < self.segment_length:
            raise ValueError(
                f"PPOConfig.num_steps ({self.num_steps}) must be >= segment_length "
                f"({self.segment_length}): the VAE trains on rollout segments of that length"
            )
        if self.salience not in SALIENCE_SOURCES:
            raise ValueError(
                f"PPOConfig.salience: unknown source {self.salience!r}; known: {SALIENCE_SOURCES}"
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
        if self.credit == "memory" and self.memory not in SHORT_TERM_KINDS:
            raise ValueError(
                f"PPOConfig.credit='memory' needs a memory with a short-term tier "
                f"({SHORT_TERM_KINDS}), got memory={self.memory!r}"
            )
        if self.novelty_bonus and self.memory not in NOVELTY_KINDS:
            raise ValueError(
                f"PPOConfig.novelty_bonus needs a memory that scores novelty ({NOVELTY_KINDS}), "
                f"got memory={self.memory!r}"
            )

    def _check_finite(self) -> None:
        """Every float field, and every float env override, must be a finite number."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"PPOConfig.{field.name} must be a finite number, got {value!r}")
        for name, value in self.env_overrides.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"PPOConfig.env_overrides[{name!r}] must be a finite number, got {value!r}"
                )

    def _check_env_id(self) -> None:
        import envs_jax  # the registry; imported here so that the config module stays light

        if self.env_id not in envs_jax.registered_envs:
            raise KeyError(
                f"PPOConfig.env_id: unknown env {self.env_id!r}; known: {envs_jax.registered_envs}"
            )

    @property
    def uses_vae(self) -> bool:
        """Whether the memory compresses with a VAE (and so trains it)."""
        return self.memory in ("hcmrl", "hcmrl_no_longterm", "hcmrl_fixed", "hcmrl_no_keys")

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
