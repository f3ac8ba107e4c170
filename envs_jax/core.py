"""The shared base of the long-horizon benchmarks.

Every benchmark subclasses :class:`MemoryEnv`, which is a gymnax 1.0 ``Environment``: ``step``
returns ``(obs, state, reward, terminated, truncated, info)``, auto-resets, and puts the last
observation of a finished episode in ``info["final_observation"]``. ``step`` gives exactly what
gymnax's own ``Environment.step`` gives (same keys, same outputs), but generates worlds only for
the environments whose episode ended, also under ``jax.vmap`` (see :func:`reset_where_done`), so
world generation is off the hot path of a plain gymnax user's vmapped loop.

Conventions shared by all benchmarks (wrappers and the trainer rely on them):

* Observations are dicts of small arrays. Integer leaves are ``int32`` with a
  ``Box(0, V - 1, shape, int32)`` space, so a consumer can size an embedding table from
  ``space.high``; float leaves are ``float32``. Where actions can be invalid the dict holds
  ``"action_mask"``: bool ``[A]``, True where the action is allowed.
* ``step_env``'s ``info`` holds three fixed-shape scalars every step (see :func:`memory_info`):
  ``"lag"`` (int32; steps between when the information a decision needed was last visible and
  the decision, -1 when no memory-dependent decision happened this step), ``"recall"`` (bool;
  whether that decision was right) and ``"success"`` (float32 in [0, 1]; the episode's success
  measure so far).
* Out-of-range actions are clipped into ``[0, num_actions - 1]`` (:func:`clip_action`).
* Randomness during an episode comes from the step key, never from a key kept in the state, so
  a pooled reset (:class:`envs_jax.wrappers.PooledResetWrapper`) that hands several
  environments the same world does not hand them the same future.
* ``privileged=True`` builds the twin that adds the hidden information to the observation.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces

from envs_jax.validation import Rule, check_rule

#: Left edges of the lag bins (steps) used for lag-binned success: [0,100), [100,1k), [1k,5k), >=5k.
LAG_BIN_EDGES: tuple[int, ...] = (0, 100, 1_000, 5_000)
NO_LAG: int = -1


def memory_info(lag: jax.Array, recall: jax.Array, success: jax.Array) -> dict[str, jax.Array]:
    """Builds the per-step memory statistics every benchmark reports in ``info``.

    Args:
        lag: int [] steps since the needed information was last visible, or -1 (no decision).
        recall: bool [] whether the decision was right; forced False when ``lag < 0``.
        success: float [] the episode's success measure so far, in [0, 1].

    Returns:
        ``{"lag": int32 [], "recall": bool [], "success": float32 []}``.
    """
    lag = jnp.asarray(lag, jnp.int32)
    return {
        "lag": lag,
        "recall": jnp.logical_and(jnp.asarray(recall, jnp.bool_), lag >= 0),
        "success": jnp.asarray(success, jnp.float32),
    }


def lag_bin(lag: jax.Array) -> jax.Array:
    """Index of the lag bin of ``lag`` (int32 []), or -1 when ``lag < 0``."""
    edges = jnp.asarray(LAG_BIN_EDGES, jnp.int32)
    return jnp.sum(jnp.asarray(lag, jnp.int32) >= edges).astype(jnp.int32) - 1


def clip_action(action: jax.Array, num_actions: int) -> jax.Array:
    """Clips an action into the valid range ``[0, num_actions - 1]`` (int32 []).

    Raises:
        ValueError: ``action`` is not one scalar (see :func:`check_action_shape`).
    """
    check_action_shape(action, num_actions)
    return jnp.clip(jnp.asarray(action, jnp.int32).reshape(()), 0, num_actions - 1)


class ObservationDict(spaces.Dict):
    """gymnax's ``Dict`` space for dict observations, with a ``contains`` that works on them.

    gymnax's ``Dict.contains`` reads ``getattr(x, key)``, which fails on the plain dicts every
    benchmark returns, and checks neither keys nor shapes. This one takes a mapping, and is
    True when its keys are the space's and every leaf has its ``Box``'s shape and lies in it.
    """

    def contains(self, x: Any) -> jax.Array:
        if set(x) != set(self.spaces):
            return jnp.bool_(False)
        inside = jnp.bool_(True)
        for name, space in self.spaces.items():
            leaf = jnp.asarray(x[name])
            if hasattr(space, "shape") and tuple(leaf.shape) != tuple(space.shape):
                return jnp.bool_(False)
            inside = inside & jnp.asarray(space.contains(leaf), jnp.bool_)
        return inside


def check_action_shape(action: Any, num_actions: int) -> None:
    """Raises ``ValueError`` unless ``action`` is one scalar (shape ``()``, or ``(1,)``).

    A batch of actions must go through ``jax.vmap`` over the env's ``step``; a batch handed to
    one env would otherwise be read as a single action or broadcast into the state.
    """
    shape = np.shape(action)
    if shape not in ((), (1,)):
        raise ValueError(
            f"the action must be one integer in [0, {num_actions - 1}] (shape ()), got shape "
            f"{shape}; for a batch of environments, jax.vmap the env's step"
        )


#: Under ``vmap``, :func:`reset_where_done` generates 1, F, F^2, ... or all M worlds, the smallest
#: of these sizes that covers the environments that finished this step (F is this factor).
RESET_SIZE_FACTOR: int = 8


def reset_sizes(num_envs: int, factor: int = RESET_SIZE_FACTOR) -> tuple[int, ...]:
    """The batch sizes of world generation :func:`reset_where_done` compiles for ``num_envs``
    environments: ``1, factor, factor**2, ...`` below ``num_envs``, then ``num_envs``."""
    sizes, size = [], 1
    while size < num_envs:
        sizes.append(size)
        size *= factor
    return (*sizes, num_envs)


def _reset_batch(
    env: Any, keys: jax.Array, done: jax.Array, params: Any, obs: Any, state: Any
) -> tuple[Any, Any]:
    """M environments at once (every argument has a leading axis M): each with ``done`` gets
    ``env.reset_env(keys[i], params[i])``, the others keep ``(obs[i], state[i])``.

    Only as many worlds are generated as the smallest of :func:`reset_sizes` that covers the
    number of finished environments (none when none finished): a ``lax.switch`` over batch
    sizes, whose index is one scalar for the whole batch, so only one branch runs. The j-th
    finished environment (in index order) gets the j-th generated world, made from its own key
    and params, so the result is the same whichever size runs.
    """
    num = done.shape[0]
    sizes = reset_sizes(num)
    count = jnp.sum(done, dtype=jnp.int32)

    def keep() -> tuple[Any, Any]:
        return obs, state

    def generate(size: int) -> tuple[Any, Any]:
        if size == num:
            fresh = jax.vmap(env.reset_env)(keys, params)
            return jax.tree.map(
                lambda new, old: jnp.where(
                    done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old
                ),
                fresh,
                (obs, state),
            )
        # The first `size` finished environments; `num` (out of range) pads the list.
        index = jnp.nonzero(done, size=size, fill_value=num)[0]
        source = jnp.minimum(index, num - 1)
        fresh = jax.vmap(env.reset_env)(
            keys[source], jax.tree.map(lambda leaf: leaf[source], params)
        )
        return jax.tree.map(
            lambda new, old: old.at[index].set(new, mode="drop"), fresh, (obs, state)
        )

    branches = [keep] + [partial(generate, size) for size in sizes]
    branch = jnp.where(count > 0, 1 + jnp.sum(count > jnp.asarray(sizes, jnp.int32)), 0)
    return jax.lax.switch(branch, branches)


def _reset_where_done_for(env: Any, treedef: Any, out_treedef: Any):
    """:func:`_reset_batch` for ``env`` as a ``custom_vmap`` function of the flat leaves of
    ``(keys, done, params, obs, state)`` (structure ``treedef``; returning the leaves of
    ``(obs, state)``, ``out_treedef``): a vmapped call runs it once on the whole batch
    (flattened: nested vmaps become one batch of all their environments), so the branch index
    stays one scalar and only the worlds needed are generated. Leaves, not structs, cross the
    ``custom_vmap`` boundary, because it rebuilds the structure with bool leaves, which an
    ``EnvParams`` that validates its fields would refuse."""

    @jax.custom_batching.custom_vmap
    def reset_batch(*leaves):
        out = _reset_batch(env, *jax.tree.unflatten(treedef, leaves))
        return jax.tree.leaves(out)

    @reset_batch.def_vmap
    def reset_batch_vmapped(axis_size, in_batched, *leaves):
        num = jax.tree.unflatten(treedef, leaves)[1].shape[-1]  # `done`: [(axis_size,) M]

        def flatten(leaf, batched):
            if not batched:
                leaf = jnp.broadcast_to(leaf, (axis_size, *jnp.shape(leaf)))
            return leaf.reshape((axis_size * num, *leaf.shape[2:]))

        out = reset_batch(*map(flatten, leaves, in_batched))
        out = [leaf.reshape((axis_size, num, *leaf.shape[1:])) for leaf in out]
        return out, [True] * len(out)

    return reset_batch


def reset_where_done(
    env: Any, key: jax.Array, done: jax.Array, params: Any, obs: Any, state: Any
) -> tuple[Any, Any]:
    """gymnax's auto-reset for one environment: ``env.reset_env(key, params)`` if ``done``, else
    ``(obs, state)``, generating the world only when it is needed, also under ``jax.vmap``.

    Unbatched this is a ``lax.cond``. A plain ``cond`` under ``vmap`` becomes a select that
    generates a world for every environment every step (what gymnax's ``step`` does); here a
    ``custom_vmap`` rule takes the whole batch (all nested vmaps flattened into one), counts the
    finished environments and generates worlds for them only: 1, 8, 64, ... or all of them, the
    smallest size that covers the count (:func:`reset_sizes`), none when none finished. Every
    finished environment gets the world of its own key and params, so the result is exactly the
    unbatched one, whatever the batch and however many episodes end at once.
    """
    args = (key, jnp.asarray(done, jnp.bool_), params, obs, state)
    leaves, treedef = jax.tree.flatten(args)
    out_treedef = jax.tree.structure((obs, state))
    out = _reset_where_done_for(env, treedef, out_treedef)(
        *(jnp.asarray(leaf)[None] for leaf in leaves)
    )
    return jax.tree.unflatten(out_treedef, [leaf[0] for leaf in out])


class MemoryEnv(environment.Environment):
    """Base class of the benchmarks: a gymnax ``Environment`` with a static config.

    Subclasses set ``config_cls`` (a frozen dataclass of shape-defining sizes, static under
    ``jit``), ``params_cls`` (their ``EnvParams`` struct) and ``env_id``, and implement
    ``step_env``, ``reset_env``, ``observation_space``, ``action_space``, ``num_actions``,
    ``render_text`` and ``render_rgb``. Everything a user may sweep lives in the env's
    ``EnvParams`` instead.

    Args:
        config: an instance of ``config_cls``; its defaults when None.
        privileged: build the twin whose observation adds the hidden information.
    """

    config_cls: ClassVar[type] = None  # type: ignore[assignment]
    params_cls: ClassVar[type] = None  # type: ignore[assignment]
    env_id: ClassVar[str] = ""
    #: A :class:`Rule` for every field of ``params_cls`` (a test checks that none is missing).
    param_rules: ClassVar[dict[str, Rule]] = {}
    #: Names of the kinds of memory decision the env tells apart (games: its six games;
    #: crafting: make and deliver); where there are any, every step's ``info`` holds
    #: ``decision_kind`` (int32 []), the index of the decision's kind in this tuple, or -1 on a
    #: step without a memory decision (``lag < 0``).
    decision_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, privileged: bool = False):
        if self.config_cls is None or self.params_cls is None:
            raise TypeError(f"{type(self).__name__} must set `config_cls` and `params_cls`")
        if config is None:
            config = self.config_cls()
        if not isinstance(config, self.config_cls):
            raise TypeError(
                f"{type(self).__name__} expects a {self.config_cls.__name__}, got {type(config)}"
            )
        self.config = config
        self.privileged = bool(privileged)

    def __eq__(self, other: object) -> bool:
        # Equal configs build equal envs, so gymnax's jitted ``step`` / ``reset`` (``self`` is a
        # static argument) reuse their compiled code across instances.
        if type(other) is not type(self):
            return NotImplemented
        return (self.config, self.privileged) == (other.config, other.privileged)

    def __hash__(self) -> int:
        return hash((type(self), self.config, self.privileged))

    def validate_params(self, params: Any) -> Any:
        """Checks every field of ``params`` against :attr:`param_rules` and :meth:`check_params`.

        ``envs_jax.make`` calls it; call it on params built by hand. Traced values are skipped.

        Returns:
            ``params`` unchanged.

        Raises:
            TypeError: ``params`` is not this env's ``params_cls``.
            ValueError: a value out of range, naming the field.
        """
        if not isinstance(params, self.params_cls):
            raise TypeError(
                f"{type(self).__name__} expects {self.params_cls.__name__}, got {type(params)}"
            )
        owner = self.params_cls.__name__
        for field in dataclasses.fields(params):
            if field.name not in self.param_rules:
                raise ValueError(f"{owner}.{field.name} has no validation rule")
            check_rule(owner, field.name, getattr(params, field.name), self.param_rules[field.name])
        self.check_params(params)
        return params

    def check_params(self, params: Any) -> None:
        """Checks between fields (e.g. a minimum below its maximum); none by default."""

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any = None
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """gymnax's auto-resetting step, with the same keys and the same outputs, except that a
        world is generated only for an environment whose episode ended, also under ``vmap``
        (:func:`reset_where_done`): gymnax's own ``step`` generates one for every environment
        every step and discards it unless the episode ended."""
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, terminated, info = self.step_env(key_step, state, action, params)
        truncated = self.is_truncated(state_st, params)
        done = jnp.logical_or(terminated, truncated)
        obs, state = reset_where_done(self, key_reset, done, params, obs_st, state_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    @property
    def name(self) -> str:
        return self.env_id + ("-privileged" if self.privileged else "")

    def render_text(self, state: Any, params: Any) -> str:
        """Renders one (unbatched) state as text a person can read."""
        raise NotImplementedError

    def render_rgb(self, state: Any, params: Any) -> np.ndarray:
        """Renders one (unbatched) state as an RGB image, uint8 [H, W, 3]."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config)
        )
        return f"{type(self).__name__}({fields}, privileged={self.privileged})"
