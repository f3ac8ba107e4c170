"""The training command lines: a PPO config plus run options, parsed with tyro from a preset.

Every setting of the PPO config and of its memory (:class:`hcmrl_jax.memory.MemoryConfig`) is a
flag under its one name. ``--preset NAME`` starts from a named config of
:mod:`experiments.configs` (later flags override its fields; ``--env-overrides`` keys are set on
top of its overrides); ``--memory KIND`` switches the memory to a named kind (the core and
HCMRL's switches, keeping the sizes); ``--env`` and ``--total-steps`` are short for ``--env-id``
and ``--total-timesteps``, and old names of settings (``--state-dim``) are still accepted.
``experiments.train`` and ``experiments.multiseed`` parse this way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any

import tyro

from experiments.configs import PRESETS, get_preset
from experiments.errors import exit_on
from experiments.runs.folder import RunOptions
from hcmrl_jax.rl.config import RENAMED_SETTINGS, PPOConfig

#: Short flag forms accepted on the command line -> the generated flag (and old names of
#: settings, :data:`hcmrl_jax.rl.config.RENAMED_SETTINGS`, -> their flag now).
FLAG_ALIASES: dict[str, str] = {
    "--env": "--env-id",
    "--total-steps": "--total-timesteps",
    **{
        f"--{old.replace('_', '-')}": f"--{new.replace('_', '-')}"
        for old, new in RENAMED_SETTINGS.items()
    },
}


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    """Train a memory-augmented PPO agent; writes logs, checkpoints and a learning curve."""

    config: Annotated[PPOConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=PPOConfig
    )
    run: Annotated[RunOptions, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=RunOptions
    )


def expand_aliases(argv: Sequence[str]) -> list[str]:
    """Rewrites the short flag forms (``--env``, ``--total-steps``) to the generated flags."""
    out = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        out.append(FLAG_ALIASES.get(flag, flag) + sep + value)
    return out


def split_preset(argv: Sequence[str]) -> tuple[PPOConfig, list[str]]:
    """Takes ``--preset NAME`` (or ``--preset=NAME``) out of ``argv``.

    Returns:
        The preset's config (``PPOConfig()`` without one) and the remaining arguments.

    Raises:
        KeyError: unknown preset name.
        ValueError: ``--preset`` without a name.
    """
    rest, name = [], None
    arguments = iter(argv)
    for arg in arguments:
        if arg == "--preset":
            name = next(arguments, None)
            if name is None or name.startswith("--"):
                raise ValueError(f"--preset needs a name; presets: {sorted(PRESETS)}")
        elif arg.startswith("--preset="):
            name = arg.partition("=")[2]
        else:
            rest.append(arg)
    return (PPOConfig() if name is None else get_preset(name)), rest


def split_memory_kind(config: PPOConfig, argv: Sequence[str]) -> tuple[PPOConfig, list[str]]:
    """Takes ``--memory KIND`` (or ``--memory=KIND``) out of ``argv``.

    Returns:
        ``config`` with its memory switched to the kind (the core and HCMRL's switches from
        :data:`hcmrl_jax.memory.MEMORY_KINDS`, the sizes kept) and the remaining arguments.

    Raises:
        KeyError: unknown kind.
        ValueError: ``--memory`` without a kind.
    """
    rest, kind = [], None
    arguments = iter(argv)
    for arg in arguments:
        if arg == "--memory":
            kind = next(arguments, None)
            if kind is None or kind.startswith("--"):
                raise ValueError("--memory needs a memory kind, e.g. --memory gru")
        elif arg.startswith("--memory="):
            kind = arg.partition("=")[2]
        else:
            rest.append(arg)
    if kind is None:
        return config, rest
    return dataclasses.replace(config, memory=config.memory.with_kind(kind)), rest


def given_flags(argv: Sequence[str]) -> frozenset[str]:
    """Field names of the flags written on a command line (``--chunk-updates 5`` and
    ``--chunk-updates=5`` give ``chunk_updates``; ``--no-progress`` gives ``progress``), after
    :func:`expand_aliases`. ``--preset`` counts as every field its config sets."""
    names = set()
    for arg in expand_aliases(argv):
        if not arg.startswith("--"):
            continue
        name = arg[2:].partition("=")[0].replace("-", "_")
        names.add(name)
        if name.startswith("no_"):
            names.add(name[3:])
    return frozenset(names)


def cli_with_preset(cls: type, argv: Sequence[str], prog: str, description: str | None) -> Any:
    """Parses ``argv`` into ``cls`` (a dataclass with ``config`` and ``run`` parts) with tyro,
    starting from ``--preset NAME`` when given.

    ``--env-overrides KEY VALUE ...`` has one spelling with and without a preset: the keys given
    are set on top of the preset's overrides. (Handing tyro a default whose dict is not empty
    would turn it into one flag per key, shown only under ``--preset NAME --help``.)

    Raises:
        KeyError: unknown preset (or env / memory) name.
        ValueError: a bad value.
    """
    preset, argv = split_preset(expand_aliases(argv))
    preset, argv = split_memory_kind(preset, argv)
    base = dataclasses.replace(preset, env_overrides={})
    args = tyro.cli(cls, args=argv, prog=prog, description=description, default=cls(config=base))
    overrides = {**preset.env_overrides, **args.config.env_overrides}
    return dataclasses.replace(
        args, config=dataclasses.replace(args.config, env_overrides=overrides)
    )


def parse_or_exit(cls: type, argv: Sequence[str], prog: str, description: str | None) -> Any:
    """:func:`cli_with_preset`, where a bad value exits (code 2) with one line naming it."""
    # tyro reports its own ValueErrors; KeyError (unknown env / memory names) lands here too.
    with exit_on(KeyError, ValueError):
        return cli_with_preset(cls, argv, prog, description)
