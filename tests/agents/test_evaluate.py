"""Evaluation protocol: frozen trials, the three agent kinds, known-answer agents, results files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mtrnn.agents import evaluate
from mtrnn.agents.evaluation import (
    AgentKind,
    EvaluationResults,
    Playback,
    ResultsError,
    Status,
    agent_kind,
    evaluate_task,
    frozen_test_set,
    load_results,
    save_results,
    wilson_interval,
)
from mtrnn.agents.evaluation.cli import main as evaluate_main
from mtrnn.envs import make_task

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_agent.py"


# ---------------------------------------------------------------------- agents with known answers
class OracleSequence:
    """Reads the targets of the frozen test set (the same trials, in the same order)."""

    def __init__(self, env_id: str, n_trials: int) -> None:
        test = frozen_test_set(env_id, n_trials)
        self.batches = test.batches(test.task())

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        _, batch = next(self.batches)
        assert np.array_equal(batch.inputs, inputs)
        return batch.targets


class OracleStep:
    """Plays the labels of the frozen test set step by step."""

    def __init__(self, env_id: str, n_trials: int) -> None:
        test = frozen_test_set(env_id, n_trials)
        self.batches = test.batches(test.task())

    def reset(self, batch_size: int) -> None:
        _, self.batch = next(self.batches)
        self.t = 0

    def act(self, observations: np.ndarray) -> np.ndarray:
        actions = self.batch.labels[self.t]
        self.t += 1
        return actions


class FixateSequence:
    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = n_outputs

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        outputs = np.zeros((*inputs.shape[:2], self.n_outputs), dtype=np.float32)
        outputs[..., 0] = 1.0
        return outputs


class FixateStep:
    def reset(self, batch_size: int) -> None:
        pass

    def act(self, observations: np.ndarray) -> np.ndarray:
        return np.zeros(len(observations), dtype=np.int64)


class RandomStep:
    """Fixates while the fixation cue is on, then picks one action uniformly among all of them per trial."""

    def __init__(self, n_actions: int, seed: int = 0) -> None:
        self.n_actions = n_actions
        self.rng = np.random.default_rng(seed)

    def reset(self, batch_size: int) -> None:
        self.choice = self.rng.integers(0, self.n_actions, batch_size)

    def act(self, observations: np.ndarray) -> np.ndarray:
        return np.where(observations[:, 0] > 0.5, 0, self.choice)


class Remember:
    """Deterministic, sometimes wrong: responds at the last location seen once the cue is off, and breaks
    fixation as soon as it sees location 0 (those trials are lost to the fixation rule)."""

    def __init__(self) -> None:
        self.seen = np.zeros(0, dtype=np.int64)

    def reset(self, batch_size: int) -> None:
        self.seen = np.full(batch_size, -1)

    def act(self, observations: np.ndarray) -> np.ndarray:
        shown = observations[:, 1:].max(axis=1) > 0.5
        self.seen = np.where(shown, observations[:, 1:].argmax(axis=1), self.seen)
        off = observations[:, 0] < 0.5
        return np.where(off | (self.seen == 0), self.seen + 1, 0).astype(np.int64)


class RememberSequence:
    """:class:`Remember` as a sequence agent (one-hot outputs of its actions; delay tasks score argmax)."""

    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = n_outputs

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        agent = Remember()
        agent.reset(inputs.shape[1])
        actions = np.stack([agent.act(x) for x in inputs])
        return np.eye(self.n_outputs, dtype=np.float32)[actions]


class RememberSB3:
    """:class:`Remember` behind stable-baselines3's predict (the recurrent state travels through ``state``)."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        observation = np.atleast_2d(observation)
        agent = Remember()
        agent.reset(len(observation))
        if state is not None:
            agent.seen = np.where(np.asarray(episode_start, dtype=bool), -1, state)
        return agent.act(observation), agent.seen


# ---------------------------------------------------------------------- the frozen test set
@pytest.mark.parametrize("env_id", ["mtrnn/DelayMatchToSample-v0", "mtrnn/Yang19-v0"])
def test_test_set_trials_are_the_gym_trials(env_id: str) -> None:
    import gymnasium as gym

    test = frozen_test_set(env_id, 3)
    env = gym.make(test.env_id)
    for index, seed in enumerate(test.seeds):
        observation, _ = env.reset(seed=seed, options={"conditions": test.conditions(index)})
        trial = test.trial(test.task(), index)
        observations = [observation]
        for _ in range(trial.n_steps - 1):  # keep fixating: the trial runs to its end
            observation, _, terminated, _, _ = env.step(0)
            assert not terminated
            observations.append(observation)
        np.testing.assert_array_equal(np.stack(observations), trial.inputs[:, 0])
        if test.n_rules:
            assert trial.conditions["rule"][0] == index % 20


def test_test_set_is_frozen() -> None:
    first = frozen_test_set("mtrnn/DelayAnti-v0")
    assert (first.first_seed, first.n_trials, first.published) == (2_000_000, 1024, True)
    mixture = frozen_test_set("mtrnn/Yang19-v0")
    assert mixture.n_trials == 1040 and mixture.n_rules == 20
    a = next(first.batches(first.task(), 64))[1]
    b = next(frozen_test_set("mtrnn/DelayAnti-v0", 64).batches(make_task("mtrnn/DelayAnti-v0"), 64))[1]
    np.testing.assert_array_equal(a.inputs, b.inputs)


@pytest.mark.parametrize("n_trials", [0, 5000, 2.5])
def test_test_set_rejects_bad_trial_counts(n_trials: object) -> None:
    with pytest.raises(ValueError, match="n_trials"):
        frozen_test_set("mtrnn/DelayGo-v0", n_trials)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- known answers
@pytest.mark.parametrize(
    "env_id",
    [
        "mtrnn/DelayGo-v0",
        "mtrnn/DelayAntiMatchToSample-v0",
        "mtrnn/Yang19-DMSNoGo-v0",
        "mtrnn/Yang19-v0",
        "mtrnn/NParity-v0",  # the task's own batch type (several heads) survives stacking
    ],
)
@pytest.mark.parametrize("oracle", [OracleSequence, OracleStep])
def test_oracle_scores_everything(env_id: str, oracle: type) -> None:
    n = 40 if env_id == "mtrnn/Yang19-v0" else 64
    result = evaluate_task(oracle(env_id, n), env_id, n_trials=n)
    assert result.status is Status.OK, result.error
    assert result.performance == 1.0


@pytest.mark.parametrize("env_id", ["mtrnn/DelayGo-v0", "mtrnn/DelayMatchToSample-v0", "mtrnn/Yang19-DMSGo-v0"])
@pytest.mark.parametrize("kind", ["sequence", "step"])
def test_always_fixate_scores_exactly_the_no_go_share(env_id: str, kind: str) -> None:
    test = frozen_test_set(env_id, 128)
    task = test.task()
    no_go = sum(int(task.correct_actions(batch)[:, 0].sum()) for _, batch in test.batches(task))
    agent = FixateSequence(task.n_outputs) if kind == "sequence" else FixateStep()
    result = evaluate_task(agent, env_id, n_trials=128)
    assert result.n_correct == no_go
    if env_id == "mtrnn/DelayGo-v0":
        assert no_go == 0
    else:
        assert 0 < no_go < 128


@pytest.mark.parametrize("env_id", ["mtrnn/DelayMatchToSample-v0"])
def test_random_agent_scores_chance(env_id: str) -> None:
    n_actions = make_task(env_id).n_actions
    result = evaluate_task(RandomStep(n_actions), env_id)
    chance = 1 / n_actions  # one uniform choice among all actions (withholding included) per trial
    assert result.n_trials == 1024
    assert abs(result.performance - chance) < 4 * np.sqrt(chance * (1 - chance) / 1024)


@pytest.mark.parametrize("env_id", ["mtrnn/DelayMatchToSample-v0"])
def test_batch_step_and_gym_play_agree(env_id: str) -> None:
    n_outputs = make_task(env_id).n_outputs
    results = [
        evaluate_task(RememberSequence(n_outputs), env_id, n_trials=64),
        evaluate_task(Remember(), env_id, n_trials=64, playback=Playback.BATCH),
        evaluate_task(Remember(), env_id, n_trials=64, playback=Playback.GYM),
        evaluate_task(RememberSB3(), env_id, n_trials=64, playback=Playback.GYM),
        evaluate_task(RememberSB3(), env_id, n_trials=64, playback=Playback.BATCH),
    ]
    counts = {r.n_correct for r in results}
    assert len(counts) == 1, [(r.kind, r.n_correct, r.error) for r in results]
    assert 0 < results[0].n_correct < 64  # neither trivial answer: the rules really were applied


def test_torch_module_is_a_sequence_agent() -> None:
    from mtrnn.agents import NetworkConfig, build_network

    network = build_network(NetworkConfig(hidden_size=8), 9, 9)
    result = evaluate(lambda **dims: network, "mtrnn/DelayGo-v0", n_trials=16)
    assert result.tasks[0].kind == "sequence" and result.tasks[0].ok


def test_kinds_are_told_apart_by_their_methods() -> None:
    assert agent_kind(FixateSequence(3)) is AgentKind.SEQUENCE
    assert agent_kind(FixateStep()) is AgentKind.STEP
    assert agent_kind(RememberSB3()) is AgentKind.SB3
    with pytest.raises(TypeError, match="sequence agent"):
        agent_kind(object())


# ---------------------------------------------------------------------- agents that misbehave (in process)
class Raises:
    def predict(self, inputs):
        raise RuntimeError("boom")


class WrongShape:
    def predict(self, inputs):
        return np.zeros(inputs.shape[:2])


class NaNs:
    def predict(self, inputs):
        return np.full((*inputs.shape[:2], 9), np.nan)


class BadActions:
    def reset(self, batch_size):
        pass

    def act(self, observations):
        return np.full(len(observations), 99)


@pytest.mark.parametrize(
    ("agent", "reason"),
    [(Raises(), "RuntimeError: boom"), (WrongShape(), "shape"), (NaNs(), "non-finite"), (BadActions(), "outside")],
)
def test_misbehaving_agent_is_a_recorded_failure(agent: object, reason: str) -> None:
    results = evaluate(agent, ["mtrnn/DelayGo-v0"], n_trials=8)
    task = results.tasks[0]
    assert task.status is Status.FAILED and reason in (task.error or "")
    assert task.performance is None


# ---------------------------------------------------------------------- results files
@pytest.fixture(scope="module")
def results() -> EvaluationResults:
    def factory(*, env_id: str, n_inputs: int, n_outputs: int, n_actions: int) -> object:
        return WrongShape() if env_id == "mtrnn/DelayAnti-v0" else FixateSequence(n_outputs)

    return evaluate(factory, ["mtrnn/DelayMatchToSample-v0", "mtrnn/DelayAnti-v0", "mtrnn/Yang19-v0"], n_trials=40)


def test_results_round_trip(results: EvaluationResults, tmp_path: Path) -> None:
    path = save_results(results, tmp_path / "results.json")
    loaded = load_results(path)
    assert loaded.to_dict()["digest"] == results.to_dict()["digest"]
    assert loaded == results
    data = json.loads(path.read_text())
    task = data["tasks"][0]
    assert task["env_id"] == "mtrnn/DelayMatchToSample-v0" and task["version"] == 0
    assert task["performance"] == task["n_correct"] / 40
    assert task["interval"] == list(wilson_interval(task["n_correct"], 40))
    assert data["tasks"][1]["status"] == "failed" and "shape" in data["tasks"][1]["error"]
    assert len(data["tasks"][2]["components"]) == 20
    for key in ("mtrnn_version", "created", "machine", "test_protocol"):
        assert data[key]


def _edit(document: dict, path: str, value: object) -> dict:
    edited = copy.deepcopy(document)
    *parents, last = path.split("/")
    node = edited
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return edited


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("machine", KeyError, "machine"),
        ("tasks/0/seeds", KeyError, "results.tasks[0]"),
        ("tasks/0/n_trials", "40", "results.tasks[0].n_trials"),
        ("tasks/0/performance", 0.99, "results.tasks[0].performance"),
        ("tasks/0/interval", [0.1, 0.2], "results.tasks[0].interval"),
        ("tasks/1/status", "ok", "results.tasks[1]"),
        ("agent/name", "someone else", "results.agent"),
        ("created", "2020-01-01T00:00:00Z", "results.created"),
        ("schema", "mtrnn-results/0", "results.schema"),
    ],
)
def test_malformed_or_tampered_files_are_rejected_naming_the_field(
    results: EvaluationResults, tmp_path: Path, path: str, value: object, named: str
) -> None:
    document = _edit(results.to_dict(), path, value)
    file = tmp_path / "results.json"
    file.write_text(json.dumps(document))
    with pytest.raises(ResultsError, match=named.replace("[", r"\[").replace("]", r"\]")) as error:
        load_results(file)
    assert str(file) in str(error.value)


def test_consistent_hand_edit_is_caught_by_the_digest(results: EvaluationResults, tmp_path: Path) -> None:
    document = results.to_dict()
    task = document["tasks"][0]
    task["n_correct"] = 40
    task["performance"] = 1.0
    task["interval"] = list(wilson_interval(40, 40))
    file = tmp_path / "results.json"
    file.write_text(json.dumps(document))
    with pytest.raises(ResultsError, match=r"results\.tasks\[0\] does not match its digest"):
        load_results(file)


def test_not_json_is_rejected(tmp_path: Path) -> None:
    file = tmp_path / "results.json"
    file.write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        load_results(file)


# ---------------------------------------------------------------------- the command line
def test_cli_evaluates_the_example_agent_and_checks_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "my_agent.json"
    argv = ["--agent", f"{EXAMPLE}:make_agent", "--task", "mtrnn/DelayGo-v0", "--task", "mtrnn/DelayMatchToSample-v0"]
    code = evaluate_main([*argv, "--out", str(out), "--trials", "64", "--no-isolation", "--quiet"])
    assert code == 0
    loaded = load_results(out)
    assert loaded.agent.name == "rule-agent" and loaded.agent.version == "1.0"
    assert loaded.agent.sha256 is not None and loaded.agent.source.endswith("my_agent.py:make_agent")
    assert [t.performance for t in loaded.tasks] == [1.0, 1.0]
    assert evaluate_main(["--check", str(out)]) == 0
    out.write_text(out.read_text().replace('"rule-agent"', '"better-agent"'))
    assert evaluate_main(["--check", str(out)]) == 1
    assert "results.agent" in capsys.readouterr().err


def test_run_directory_is_an_agent(tmp_path: Path) -> None:
    from mtrnn.agents import NetworkConfig, RunDir, TrainConfig, build_network

    config = TrainConfig(
        env_ids=("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"),
        network=NetworkConfig(hidden_size=16),
        out_dir=str(tmp_path / "run"),
    )
    torch.manual_seed(0)
    network = build_network(config.network, 9 + 2, 9).eval()  # 2 one-hot rule inputs
    run = RunDir(tmp_path / "run")
    run.write_config(config)
    run.write_model(network)
    ids = ["mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0", "mtrnn/DelayMatchToSample-v0"]
    results = evaluate(str(tmp_path / "run"), ids, n_trials=16)
    assert results.agent.kind == "run_dir" and results.agent.name == "run" and results.agent.sha256
    assert [t.ok for t in results.tasks] == [True, True, False]  # trained with rule inputs on the first two only
    assert "cannot play mtrnn/DelayMatchToSample-v0" in (results.tasks[2].error or "")
    test = frozen_test_set("mtrnn/DelayAnti-v0", 16)
    _, batch = next(test.batches(test.task()))
    rule = np.zeros((*batch.inputs.shape[:2], 2), dtype=np.float32)
    rule[..., 1] = 1
    with torch.no_grad():
        outputs, _ = network(torch.from_numpy(np.concatenate([batch.inputs, rule], axis=-1)))
    expected = int(test.task().score(outputs.numpy(), batch).sum())
    assert results.tasks[1].n_correct == expected


def test_a_real_stable_baselines3_model_is_played() -> None:
    import gymnasium as gym
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make("mtrnn/DelayGo-v0"), seed=0, device="cpu", n_steps=16, batch_size=16)
    gym_play = evaluate_task(model, "mtrnn/DelayGo-v0", n_trials=4)
    batch_play = evaluate_task(model, "mtrnn/DelayGo-v0", n_trials=4, playback=Playback.BATCH)
    assert gym_play.kind == "sb3" and gym_play.ok and batch_play.ok, (gym_play.error, batch_play.error)
    assert gym_play.n_correct == batch_play.n_correct
