"""The games benchmark: the schedule's invariants, perfect play, and that memory matters (a
player with a table of everything shown vs the same player without memory)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.games import GAME_NAMES, EnvParams, GamesConfig
from envs_jax.games import types as gt
from envs_jax.games.players import FOREVER, players, table_policy
from envs_jax.games.render import timeline
from envs_jax.scripted import evaluate
from tests.envs import configs, conformance

ENV_ID = "games"  # the env of the shared fixtures (tests/envs/conftest.py)
SMALL = configs.GAMES
NUM_EPISODES = 8  # episodes played by each scripted player


@pytest.fixture(scope="module")
def reset_many(small):
    """Jitted, vmapped ``reset_env`` of the small env (params are an argument: one compile)."""
    env, _ = small
    return jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))


def _timelines(env, states, count):
    states = jax.device_get(states)
    unbatched = [jax.tree.map(lambda leaf, i=i: leaf[i], states) for i in range(count)]
    return [(timeline(env.config, s), s) for s in unbatched]


@pytest.fixture(scope="module")
def scripts(small, reset_many):
    """Eight small schedules as host-side timelines (plus their states)."""
    env, params = small
    keys = jax.random.split(jax.random.PRNGKey(42), NUM_EPISODES)
    _, states = reset_many(keys, params)
    return _timelines(env, states, NUM_EPISODES)


@pytest.fixture(scope="module")
def twin_step(twin):
    """Jitted ``step_env`` of the privileged twin (no auto-reset; params are an argument)."""
    env, _ = twin
    return jax.jit(env.step_env)


# ------------------------------------------------------------------------------------------
# Perfect play: the oracle reads the privileged answer


def test_oracle_scores_one_over_a_full_episode_to_truncation(twin):
    env, params = twin
    records = conformance.check_full_episode(
        env, params, policy=lambda key, obs: obs["privileged"][0]
    )
    assert not records["terminated"].any() and records["truncated"][-1]
    np.testing.assert_allclose(records["reward"].sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(records["success"][-1], 1.0, atol=1e-6)
    decided = records["lag"] >= 0
    assert decided.sum() >= 20 and records["recall"][decided].all()
    assert np.all(np.diff(records["success"]) >= 0)


@pytest.mark.parametrize("time_limit", [150, 300])
def test_oracle_scores_one_under_any_time_limit(twin, twin_step, time_limit):
    """A limit below ``episode_length`` cuts the schedule (only the decisions before it count);
    one above it adds interludes."""
    env, params = twin
    params = params.replace(max_steps_in_episode=time_limit)
    obs, state = env.reset(jax.random.PRNGKey(8), params)
    total, last_decision = 0.0, -1
    for t in range(time_limit):
        if int(obs["phase"]) == gt.DECISION:
            last_decision = t
        obs, state, reward, _, _ = twin_step(
            jax.random.PRNGKey(t), state, obs["privileged"][0], params
        )
        total += float(reward)
        assert bool(env.is_truncated(state, params)) == (t == time_limit - 1)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    assert last_decision < min(time_limit, SMALL["episode_length"])


def test_answer_is_always_allowed_and_masked_actions_are_wrong(twin, twin_step):
    env, params = twin
    obs, state = env.reset(jax.random.PRNGKey(3), params)
    masked_tries = 0
    kinds_seen = set()
    for t in range(SMALL["episode_length"]):
        answer = int(obs["privileged"][0])
        mask = np.asarray(obs["action_mask"])
        assert mask[answer], f"the answer {answer} is masked at t={t}"
        if int(obs["phase"]) == gt.INFO:
            assert mask.sum() == 1 and answer == env.config.continue_action
        elif masked_tries < 3:
            # A masked action at a decision is a wrong answer and earns nothing.
            bad = int(np.flatnonzero(~mask)[0])
            _, _, reward, _, info = twin_step(jax.random.PRNGKey(t), state, bad, params)
            assert float(reward) == 0.0 and not bool(info["recall"]) and int(info["lag"]) > 0
            masked_tries += 1
        was_decision = int(obs["phase"]) == gt.DECISION
        game = int(obs["game"])
        obs, state, reward, _, info = twin_step(jax.random.PRNGKey(t), state, answer, params)
        assert (float(reward) > 0) == was_decision == bool(info["recall"])
        assert int(obs["feedback"]) == (gt.RIGHT if was_decision else gt.NO_FEEDBACK)
        # A decision names its game among the env's decision kinds; other steps give -1.
        kind = int(info["decision_kind"])
        assert kind == (game - 1 if was_decision else -1)
        if was_decision:
            assert env.decision_kinds[kind] == GAME_NAMES[game]
            kinds_seen.add(kind)
    assert masked_tries == 3
    assert len(kinds_seen) >= 3


# ------------------------------------------------------------------------------------------
# Memory matters


@pytest.fixture(scope="module")
def play(small, reset_many):
    """``play(window) -> {"return": [N], "lag": [N, T], "recall": [N, T]}``: NUM_EPISODES full
    episodes of the table-keeping player that forgets entries older than ``window`` steps and
    guesses uniformly among the allowed actions (one compile for all windows)."""
    env, params = small
    init, act = table_policy(env, guess_uniformly=True)
    length = int(params.max_steps_in_episode)

    def episode(key, obs, state, window):
        def body(carry, key_t):
            obs, state, table = carry
            key_act, key_step = jax.random.split(key_t)
            action, table = act(key_act, table, obs, state.time, window, params)
            obs, state, reward, _, info = env.step_env(key_step, state, action, params)
            return (obs, state, table), (reward, info["lag"], info["recall"])

        _, out = jax.lax.scan(body, (obs, state, init()), jax.random.split(key, length))
        return out

    run = jax.jit(jax.vmap(episode, in_axes=(0, 0, 0, None)))
    key_reset, key_run = jax.random.split(jax.random.PRNGKey(17))
    obs, states = reset_many(jax.random.split(key_reset, NUM_EPISODES), params)
    keys = jax.random.split(key_run, NUM_EPISODES)

    def play_with(window: int) -> dict[str, np.ndarray]:
        reward, lag, recall = jax.device_get(run(keys, obs, states, jnp.int32(window)))
        return {"return": reward.sum(axis=1), "lag": lag, "recall": recall}

    return play_with


@pytest.fixture(scope="module")
def played(play):
    window = 2 * SMALL["lag_min"]  # lags are log-uniform in [lag_min, lag_max]: ~1/3 within
    return {
        "memory": play(FOREVER),
        "no memory": play(0),
        "window": play(window),
        "window_size": window,
    }


def test_player_with_memory_scores_one_and_without_memory_guesses(played):
    remembering = played["memory"]["return"]
    forgetful = played["no memory"]["return"]
    np.testing.assert_allclose(remembering, 1.0, atol=1e-5)
    # Chance level: 1/8 for the choice games, 1/4 for counting, 1/2 for the two binary games.
    assert 0.15 < forgetful.mean() < 0.4, forgetful
    assert np.all(forgetful < 0.6)


def test_short_memory_fails_the_long_lags(played):
    window = played["window_size"]
    lag, recall = played["window"]["lag"], played["window"]["recall"]
    short, long = (lag >= 0) & (lag <= window), lag > window
    assert short.sum() > 0 and long.sum() > short.sum()
    assert recall[short].all(), "an item still in the window must be recalled"
    assert recall[long].mean() < 0.4
    assert played["window"]["return"].mean() < played["memory"]["return"].mean() - 0.3


def test_scripted_remembering_player_beats_the_best_reactive_one(small, played):
    """The library's players: the remembering one answers everything; the reactive one plays
    the odds of what is on show (higher/lower by the half the new value lies in, concentration
    avoiding the partner's slot), so it beats the uniform guesser but stays far below."""
    env, params = small
    results = {
        name: evaluate(env, params, player, jax.random.PRNGKey(3), num_envs=NUM_EPISODES)
        for name, player in players(env).items()
    }
    remembering, reactive = results["remembering"], results["reactive"]
    assert remembering["return"] > 0.999 and remembering["recall"] > 0.999, results
    uniform = played["no memory"]["return"].mean()
    # Expected with N = 8 choices and max_count 3: about 0.30 against about 0.26 for uniform.
    assert uniform + 0.02 < reactive["return"] < 0.45, (results, uniform)
    assert reactive["decisions"] == remembering["decisions"] > 10, results


# ------------------------------------------------------------------------------------------
# The schedule


def test_every_question_refers_to_its_lane_s_last_reveal(small, scripts):
    config = small[0].config
    for script, state in scripts:
        event, fields, memory, lag = (
            script["event"],
            script["fields"],
            script["memory"],
            script["lag"],
        )
        game, phase = event // gt.NUM_PHASES, event % gt.NUM_PHASES
        decisions = np.flatnonzero(phase == gt.DECISION)
        assert len(decisions) == int(state.num_decisions) > 0
        assert np.all(lag[decisions] >= 1) and np.all(lag[phase == gt.INFO] == -1)
        for t in decisions:
            g, s = game[t], fields[t, 0]
            shown = t - lag[t]
            assert game[shown] == g and phase[shown] == gt.INFO and fields[shown, 0] == s
            same_lane = np.flatnonzero((game[:t] == g) & (fields[:t, 0] == s))
            info_lane = same_lane[phase[same_lane] == gt.INFO]
            previous_question = same_lane[phase[same_lane] == gt.DECISION]
            since = previous_question[-1] if len(previous_question) else -1
            item = info_lane[info_lane > since]  # reveals of this item, after the last question
            assert len(item) >= 1 and shown in item
            if g == gt.COUNTING:
                assert memory[t] == len(item) and shown == item[0]
                assert 1 <= memory[t] <= config.max_count
            elif g == gt.BATTLESHIP:
                hits = item[fields[item, 2] == gt.HIT]
                assert list(hits) == [shown] and fields[shown, 1] == memory[t]
                assert len(item) == config.battleship_shots
                assert len(set(fields[item, 1])) == len(item), "shots hit distinct columns"
            else:
                assert list(item) == [shown] and fields[shown, 1] == memory[t]
            if g == gt.CONCENTRATION:
                assert fields[t, 1] != memory[t], "the partner lies in another slot"
            if g == gt.HIGHER_LOWER:
                assert fields[t, 1] != memory[t], "higher/lower never ties"


def test_default_lags_reach_hundreds_to_thousands_of_steps():
    env, params = envs_jax.make("games")
    _, state = jax.jit(env.reset_env)(jax.random.PRNGKey(0), params)
    state = jax.device_get(state)
    step, lag = np.asarray(state.timing, int).T
    lag = lag[lag >= 0]
    assert len(lag) == int(state.num_decisions) >= 100
    assert np.mean(lag >= 100) > 0.85 and np.median(lag) > 250 and lag.max() > 1000
    # Every game, battleship included, asks at least about lag_min after the needed card.
    assert lag.min() >= 90, lag.min()
    scheduled = step < int(state.horizon)
    assert scheduled.sum() < env.config.max_events, "the default capacity must not overflow"
    assert np.all(np.diff(step[scheduled]) >= 1)


def test_game_rates_switch_games_off(small, reset_many):
    env, params = small
    only_recall = np.zeros(gt.NUM_PLAYED_GAMES, np.float32)
    only_recall[gt.PLAYED_GAMES.index(gt.RECALL)] = 1.0
    keys = jax.random.split(jax.random.PRNGKey(1), NUM_EPISODES)
    _, states = reset_many(keys, params.replace(game_rates=jnp.asarray(only_recall)))
    for script, state in _timelines(env, states, NUM_EPISODES):
        assert set((script["event"] // gt.NUM_PHASES).tolist()) == {gt.INTERLUDE, gt.RECALL}
        assert int(state.num_decisions) > 0


def test_make_routes_overrides_and_validates():
    env, params = envs_jax.make("games", num_lanes=4, lag_max=900, game_rates=(1, 0, 1, 0, 1, 0))
    assert env.config.num_lanes == 4 and int(params.lag_max) == 900
    assert params.max_steps_in_episode == env.config.episode_length == 2048
    np.testing.assert_array_equal(params.game_rates, [1, 0, 1, 0, 1, 0])
    assert env.num_actions == env.config.num_choices + 5
    with pytest.raises(ValueError, match="max_count"):
        GamesConfig(max_count=16)
    with pytest.raises(ValueError, match="max_events"):
        GamesConfig(episode_length=64, max_events=65)
    with pytest.raises(ValueError, match="num_choices"):
        GamesConfig(num_choices=1)
    with pytest.raises(ValueError, match="lag_max"):
        EnvParams(lag_min=50, lag_max=10)
    with pytest.raises(ValueError, match="game_rates"):
        EnvParams(game_rates=(1.0, 2.0, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="no option 'lag'"):
        envs_jax.make("games", lag=3)
    assert dataclasses.asdict(GamesConfig())["episode_length"] == 2048


# ------------------------------------------------------------------------------------------
# Renderers


def test_renderers(small, scripts):
    env, params = small
    _, state = scripts[0]
    script, _ = scripts[0]
    first_decision = int(np.flatnonzero(script["event"] % gt.NUM_PHASES == gt.DECISION)[0])
    played = int((np.asarray(state.timing)[:, gt.TIMING_STEP] < first_decision).sum())
    state = state.replace(time=np.int32(first_decision), cursor=np.int32(played))
    text = env.render_text(state, params)
    assert f"t={first_decision}/256" in text and "score 0/" in text
    now = text.splitlines()[1]
    game = GAME_NAMES[int(script["event"][first_decision]) // gt.NUM_PHASES].replace("_", "/")
    assert now.startswith("now:") and f"[{game}] DECIDE" in now and "steps ago" in now
    assert len(text.splitlines()) == 2 + 4
    image = env.render_rgb(state, params)
    rows = -(-SMALL["episode_length"] // 64) + 2
    assert image.shape == (rows * 4, 64 * 4, 3) and image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 4
