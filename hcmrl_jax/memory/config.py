"""The memory's settings: one frozen, typed dataclass, validated once on construction.

:class:`MemoryConfig` is the one home of every memory setting, under one name from the command
line down: the training config nests it (``PPOConfig.memory``), :class:`HierarchicalMemory
<hcmrl_jax.memory.hierarchical.HierarchicalMemory>` takes it, and the trainer builds the
baseline cores from it. Code below reads the settings; it does not re-spell, re-default or
re-check them. The comment after each field is its ``--help`` text in the tyro CLI.

A memory *kind* (``"hcmrl"``, an ablation such as ``"hcmrl_meanpool"``, or a baseline such as
``"gru"``) is a name for a choice of :data:`KIND_FIELDS` (the core and the ablation switches);
:data:`MEMORY_KINDS` is the one table of them. ``MemoryConfig.of_kind(name, **settings)`` and
the named constructors (``MemoryConfig.meanpool()``, ``MemoryConfig.gru()``, ...) build from a
kind, ``config.with_kind(name)`` switches kind keeping the sizes, and ``config.kind`` names the
kind a config is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, get_args

#: The memory cores: HCMRL's hierarchical memory and the baselines (which share the encoder,
#: the heads and, by default, HCMRL's parameter budget).
Core = Literal["hcmrl", "mlp", "gru", "transformer"]
#: How a segment is summarised in the short-term tier.
Summary = Literal["vae", "mean"]
#: What a step's salience is scored on.
Salience = Literal["observation", "embedding"]
#: The names accepted wherever a memory kind is chosen by name (``--memory``, ``--memories``).
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

CORES: tuple[str, ...] = get_args(Core)
SUMMARY_KINDS: tuple[str, ...] = get_args(Summary)
SALIENCE_SOURCES: tuple[str, ...] = get_args(Salience)


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
    """The memory of an agent: which core, its sizes, HCMRL's switches and numerics, and the
    baselines' settings. Every field is a CLI flag of the trainer.

    Bad values raise ``ValueError`` naming the field (unknown names: ``KeyError``) here, once;
    the modules built from a config do not check its settings again.
    """

    # --- which memory ---
    core: Core = "hcmrl"
    """Memory core: hcmrl (hierarchical memory) or a baseline (mlp, gru, transformer).
    ``--memory KIND`` sets it with HCMRL's switches from a named kind."""

    # --- sizes (shared by every core) ---
    embed_dim: int = 64  # D: step embedding width (= encoder width, queries, read-out)
    immediate_size: int = 32  # M: slots of the immediate tier
    short_term_size: int = 16  # S: summaries of the short-term tier
    long_term_size: int = 8  # K: templates of the long-term tier
    latent_dim: int = 16  # Z: VAE latent width of a summary (mean-pool summaries are D wide)
    segment_length: int = 32  # L: steps per short-term segment (1 <= L <= immediate_size)
    num_heads: int = 4  # attention heads (memory reads and the transformer baseline; divide D)
    working_size: int = 0
    """H: width of HCMRL's recurrent working state, a GRU cell over every step's embedding
    whose projection is added to the read-out (0: none; the tiers alone are read)."""

    # --- HCMRL's switches (the ablations are configurations of them) ---
    summary: Summary = "vae"  # vae: VAE-compressed summaries | mean: mean-pooled (ablation)
    use_short_term: bool = True  # keep the short-term tier (False with use_long_term False)
    use_long_term: bool = True  # keep the long-term tier (needs the short-term tier)
    adaptive_compression: bool = True  # merge the most redundant neighbours (False: the oldest)
    long_term_persists: bool = True  # keep long-term templates across episodes
    key_steps: bool = True  # each summary keeps its segment's most salient step (False: ablation)

    # --- salience and key steps ---
    salience: Salience = "observation"
    """What a step's salience (which step a short-term summary keeps as its key) is scored on:
    the flattened observation (its width is set from the env when the agent is built) or the
    step embedding."""
    salience_prior: bool = True  # short-term reads prefer salient keys (a learned logit prior)
    key_inputs: bool = True
    """Keys keep their step's normalised observation, read with a learned projection (needs
    salience='observation')."""
    salience_rate: float = 1e-3  # rate of the running mean and variance of the salience input
    # (after its first 1 / salience_rate steps, over which they are the plain mean and variance)

    # --- HCMRL's numerics ---
    beta: float = 1.0  # KL weight (per reconstructed number) of the VAE loss
    vae_hidden_dim: int = 64  # width of the VAE's step features and hidden layers
    time_features: int = 8  # width of each log-scale time code (ages, spans, counts; >= 2)
    time_horizon: float = 10_000.0  # largest time (in steps) the time codes tell apart
    redundancy_floor: float = 0.01  # added to merge distances, so ties merge oldest-first
    template_threshold: float = 4.0  # distance beyond which a summary starts a new template
    template_count_limit: float = 10_000.0  # cap on a template's weight against a new summary
    min_variance: float = 1e-4  # floor on summary / template variances
    log_var_min: float = -8.0  # lower clip of the VAE encoder's log-variance
    log_var_max: float = 4.0  # upper clip of the VAE encoder's log-variance

    # --- baselines ---
    transformer_window: int = 32  # W: past steps the transformer baseline attends to
    transformer_layers: int = 1  # layers of the transformer baseline
    match_param_budget: bool = True  # size baseline cores to HCMRL's memory parameter count
    baseline_width: int = 64  # baseline core width when match_param_budget is False

    def __post_init__(self) -> None:
        # First, so that the range checks below never see inf or nan (`inf > 0` holds).
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"MemoryConfig.{field.name} must be a finite number, got {value!r}"
                )
        self._check_choices()
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"MemoryConfig.{name} must be a positive integer, got {value!r}")
        size = self.working_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(
                f"MemoryConfig.working_size must be an integer >= 0 (0: no working state), got "
                f"{size!r}"
            )
        if self.segment_length > self.immediate_size:
            raise ValueError(
                f"MemoryConfig.segment_length ({self.segment_length}) must be <= immediate_size "
                f"({self.immediate_size}): a segment is compressed from the immediate tier"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"MemoryConfig.embed_dim ({self.embed_dim}) must divide by num_heads "
                f"({self.num_heads})"
            )
        if self.time_features < 2:
            raise ValueError(f"MemoryConfig.time_features must be >= 2, got {self.time_features}")
        if self.use_long_term and not self.use_short_term:
            raise ValueError(
                "MemoryConfig.use_long_term=True needs use_short_term=True: templates are "
                "consolidated from short-term summaries"
            )
        for name in ("beta", "redundancy_floor"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"MemoryConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("template_threshold", "template_count_limit", "min_variance", "time_horizon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MemoryConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 < self.salience_rate <= 1.0:
            raise ValueError(
                f"MemoryConfig.salience_rate must lie in (0, 1], got {self.salience_rate!r}"
            )
        if self.log_var_min >= self.log_var_max:
            raise ValueError(
                f"MemoryConfig.log_var_min ({self.log_var_min}) must be < log_var_max "
                f"({self.log_var_max})"
            )

    def _check_choices(self) -> None:
        for name, choices in (
            ("core", CORES),
            ("summary", SUMMARY_KINDS),
            ("salience", SALIENCE_SOURCES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"MemoryConfig.{name}: unknown value {getattr(self, name)!r}; known: {choices}"
                )

    # ------------------------------------------------------------------------------ kinds

    @classmethod
    def of_kind(cls, kind: str, **settings: Any) -> MemoryConfig:
        """The config of a named kind (:data:`MEMORY_KINDS`), with other settings by name.

        Raises:
            KeyError: unknown kind (the message lists the kinds).
            ValueError: a bad setting.
        """
        return cls(**{**kind_settings(kind), **settings})

    def with_kind(self, kind: str) -> MemoryConfig:
        """This config as memory ``kind``: the core and the switches of :data:`KIND_FIELDS`
        from the kind, every other setting (sizes, numerics) kept.

        Raises:
            KeyError: unknown kind.
        """
        return dataclasses.replace(self, **kind_settings(kind))

    @property
    def kind(self) -> str:
        """The named kind this config is: the baseline's name, the HCMRL kind whose switches it
        has, or ``"hcmrl_custom"`` for a combination no kind names."""
        if self.core != "hcmrl":
            return self.core
        mine = {name: getattr(self, name) for name in KIND_FIELDS}
        for name in MEMORY_KINDS:
            if kind_settings(name) == mine:
                return name
        return "hcmrl_custom"

    # Named constructors: the HCMRL ablations and the baselines.

    @classmethod
    def hcmrl(cls, **settings: Any) -> MemoryConfig:
        """HCMRL with every tier (the default)."""
        return cls.of_kind("hcmrl", **settings)

    @classmethod
    def immediate_only(cls, **settings: Any) -> MemoryConfig:
        """Ablation ``hcmrl_immediate``: the immediate tier only."""
        return cls.of_kind("hcmrl_immediate", **settings)

    @classmethod
    def meanpool(cls, **settings: Any) -> MemoryConfig:
        """Ablation ``hcmrl_meanpool``: mean-pooled summaries instead of the VAE (no VAE)."""
        return cls.of_kind("hcmrl_meanpool", **settings)

    @classmethod
    def no_longterm(cls, **settings: Any) -> MemoryConfig:
        """Ablation ``hcmrl_no_longterm``: no long-term tier."""
        return cls.of_kind("hcmrl_no_longterm", **settings)

    @classmethod
    def fixed_compression(cls, **settings: Any) -> MemoryConfig:
        """Ablation ``hcmrl_fixed``: always merge the oldest pair of summaries."""
        return cls.of_kind("hcmrl_fixed", **settings)

    @classmethod
    def no_keys(cls, **settings: Any) -> MemoryConfig:
        """Ablation ``hcmrl_no_keys``: summaries without their most salient step."""
        return cls.of_kind("hcmrl_no_keys", **settings)

    @classmethod
    def mlp(cls, **settings: Any) -> MemoryConfig:
        """Baseline ``mlp``: memoryless."""
        return cls.of_kind("mlp", **settings)

    @classmethod
    def gru(cls, **settings: Any) -> MemoryConfig:
        """Baseline ``gru``: a GRU over the step embeddings."""
        return cls.of_kind("gru", **settings)

    @classmethod
    def transformer(cls, **settings: Any) -> MemoryConfig:
        """Baseline ``transformer``: a sliding-window transformer with GTrXL gating."""
        return cls.of_kind("transformer", **settings)

    # ------------------------------------------------------------------- what the settings mean

    @property
    def uses_vae(self) -> bool:
        """Whether the memory compresses with a VAE (and so has VAE parameters and a VAE loss
        to train): HCMRL with a short-term tier of VAE summaries."""
        return self.core == "hcmrl" and self.use_short_term and self.summary == "vae"

    @property
    def has_short_term(self) -> bool:
        """Whether the memory has a short-term tier of summaries with spans."""
        return self.core == "hcmrl" and self.use_short_term

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MemoryConfig:
        """Rebuilds a config from ``dataclasses.asdict`` output (validating it again).

        Raises:
            ValueError: names that are not settings (the message lists them).
        """
        unknown = sorted(set(values) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"MemoryConfig has no settings {unknown} (saved by another version?)")
        return cls(**values)


#: Fields that must be positive integers.
_POSITIVE_INTS: tuple[str, ...] = (
    "embed_dim",
    "immediate_size",
    "short_term_size",
    "long_term_size",
    "latent_dim",
    "segment_length",
    "num_heads",
    "vae_hidden_dim",
    "time_features",
    "transformer_window",
    "transformer_layers",
    "baseline_width",
)

#: Every setting's name, in field order.
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(MemoryConfig))

#: The fields a memory kind decides: the core and HCMRL's ablation switches.
KIND_FIELDS: tuple[str, ...] = (
    "core",
    "summary",
    "use_short_term",
    "use_long_term",
    "adaptive_compression",
    "key_steps",
)


class KindSpec(NamedTuple):
    """A named memory kind."""

    description: str  # one line for help texts
    settings: Mapping[str, Any]  # the KIND_FIELDS it sets apart from MemoryConfig's defaults


#: The one table of memory kinds: HCMRL, its ablations (configurations of the same
#: ``HierarchicalMemory``) and the baselines.
MEMORY_KINDS: dict[str, KindSpec] = {
    "hcmrl": KindSpec("hierarchical memory: immediate + VAE short-term + long-term templates", {}),
    "hcmrl_immediate": KindSpec(
        "ablation: immediate tier only (no short-term, no long-term)",
        {"use_short_term": False, "use_long_term": False},
    ),
    "hcmrl_meanpool": KindSpec(
        "ablation: short-term summaries by mean-pooling instead of the VAE", {"summary": "mean"}
    ),
    "hcmrl_no_longterm": KindSpec("ablation: no long-term tier", {"use_long_term": False}),
    "hcmrl_fixed": KindSpec(
        "ablation: fixed compression (always merge the oldest pair)",
        {"adaptive_compression": False},
    ),
    "hcmrl_no_keys": KindSpec(
        "ablation: summaries without their most salient step (no key steps)", {"key_steps": False}
    ),
    "mlp": KindSpec("baseline: memoryless MLP", {"core": "mlp"}),
    "gru": KindSpec("baseline: GRU (flax GRUCell)", {"core": "gru"}),
    "transformer": KindSpec(
        "baseline: sliding-window transformer with GTrXL gating", {"core": "transformer"}
    ),
}

_DEFAULTS = MemoryConfig()


def kind_settings(kind: str) -> dict[str, Any]:
    """Every :data:`KIND_FIELDS` value of memory ``kind`` (the defaults where it sets none).

    Raises:
        KeyError: unknown kind (the message lists the kinds).
    """
    if kind not in MEMORY_KINDS:
        raise KeyError(f"unknown memory kind {kind!r}; known: {list(MEMORY_KINDS)}")
    defaults = {name: getattr(_DEFAULTS, name) for name in KIND_FIELDS}
    return {**defaults, **MEMORY_KINDS[kind].settings}


def kinds_with(predicate: Any) -> tuple[str, ...]:
    """The kinds whose default config satisfies ``predicate(config)``, in table order (e.g.
    ``kinds_with(lambda c: c.has_short_term)``)."""
    return tuple(kind for kind in MEMORY_KINDS if predicate(MemoryConfig.of_kind(kind)))
