"""smtnn.replay: real results of every property replay from their JSON; tampered witnesses do not."""
from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import pytest

from smtnn import Box, Network, perturbation, properties
from smtnn.errors import InvalidInputError
from smtnn.loaders import save_npz
from smtnn.replay import main, replay
from smtnn.result import Verdict, to_json

Q = Fraction


def binary_net() -> Network:
    return Network.from_arrays([[[1.0, -0.5], [0.5, 1.0]], [[1.5, -1.0]]], [[0.25, -0.125], [0.0625]],
                               ["relu", "sigmoid"], name="bin")


def tanh_net() -> Network:
    return Network.from_arrays([[[1.0], [-0.75]], [[1.0, 0.5]]], [[0.0, 0.25], [-0.1]], ["tanh", "sigmoid"], name="tanh")


def multi_net(decision: str = "argmax") -> Network:
    return Network.from_arrays([[[1.0, 0.0], [0.0, 1.0]], [[1.0, -1.0], [-0.5, 1.0], [0.25, 0.25]]],
                               [[0.0, 0.0], [0.0, 0.125, 0.0]], ["relu", "softmax"], name="multi", decision=decision)


D2 = Box(("-1", "-1"), ("1", "1"))


def as_json(result) -> dict:
    return json.loads(to_json(result))


def real_results():
    """(name, network, JSON) for results of every property that carry a witness."""
    b, m, t = binary_net(), multi_net(), tanh_net()
    out = []
    box = perturbation.uniform(b, "1/4")
    out.append(("local epsilon", b, properties.local_epsilon(b, box, ["1/2", "1/4"])))
    out.append(("verify local epsilon", b, properties.verify_local_epsilon(b, box, ["1/2", "1/4"], "1/100")))
    out.append(("local label", b, properties.verify_local_label(b, box, ["0", "0"])))
    out.append(("global label", b, properties.verify_global_label(b, perturbation.uniform(b, "1/10"), D2)))
    out.append(("global sigma", b, properties.global_sigma(b, perturbation.uniform(b, "1/20"), D2, tolerance="1/1000")))
    out.append(("verify global sigma", b, properties.verify_global_sigma(b, perturbation.uniform(b, "1/10"), D2, "1/100")))
    out.append(("global epsilon", b, properties.global_epsilon(b, perturbation.subset(b, "1/20", layers=[-1]), D2,
                                                               tolerance="1/1000")))
    out.append(("verify global epsilon", b, properties.verify_global_epsilon(b, perturbation.subset(b, "1/20", layers=[-1]),
                                                                             D2, "1/1000", tolerance="1/1000")))
    mbox = perturbation.uniform(m, "1/8")
    out.append(("multi local epsilon", m, properties.local_epsilon(m, mbox, ["1/2", "1/2"])))
    out.append(("multi local label", m, properties.verify_local_label(m, mbox, ["1/4", "1/4"])))
    out.append(("multi global label", m, properties.verify_global_label(m, mbox, D2)))
    out.append(("multi global sigma", m, properties.global_sigma(m, perturbation.uniform(m, "1/16"), D2, tolerance="1/1000")))
    am = multi_net("argmin")
    out.append(("argmin global label", am, properties.verify_global_label(am, perturbation.uniform(am, "1/8"), D2)))
    q = perturbation.quantization(b, "fixed", 2)
    out.append(("quantized local epsilon", b, properties.local_epsilon(b, q, ["1/2", "1/4"])))
    out.append(("relative global label", b, properties.verify_global_label(b, perturbation.relative(b, "1/2"), D2)))
    tbox = perturbation.uniform(t, "1/4")
    out.append(("tanh local epsilon", t, properties.local_epsilon(t, tbox, ["1/3"])))
    out.append(("tanh local label", t, properties.verify_local_label(t, tbox, ["1/10"])))
    return out


@pytest.fixture(scope="module")
def results():
    return real_results()


def has_witness(data) -> bool:
    if "kind" in data:
        return data.get("witness") is not None
    return any(r.get("witness") for r in data.values())


def test_every_real_witness_replays(results):
    names = []
    for name, net, result in results:
        data = as_json(result)
        assert has_witness(data), f"{name}: the fixture should produce a witness"
        report = replay(data, net)
        assert report.ok, f"{name}: {report.failures}"
        names.append(name)
    assert len(names) == len(results)


def test_witness_json_carries_exact_rationals(results):
    for name, _, result in results:
        data = as_json(result)
        for r in ([data] if "kind" in data else data.values()):
            w = r["witness"]
            if w is None:
                continue
            assert set(w["parameters_exact"]) == set(w["parameters"]), name
            for k, text in w["parameters_exact"].items():
                assert float(Q(text)) == w["parameters"][k]
            assert w["value_meaning"]
            if w["input"] is not None:
                assert [float(Q(v)) for v in w["input_exact"]] == w["input"]


def _tampered(data: dict):
    """Ways to break a witness: each must make the replay fail."""
    flat = data if "kind" in data else next(r for r in data.values() if r.get("witness"))
    w = flat["witness"]
    out = []
    if w["parameters_exact"]:
        name = next(iter(w["parameters_exact"]))
        t = copy.deepcopy(data)
        tw = t["witness"] if "kind" in t else next(r for r in t.values() if r.get("witness"))["witness"]
        tw["parameters_exact"][name] = str(Q(w["parameters_exact"][name]) + 10)          # far outside the box
        out.append(("parameter outside the box", t))
    t = copy.deepcopy(data)
    tw = t["witness"] if "kind" in t else next(r for r in t.values() if r.get("witness"))["witness"]
    tw["value_exact"] = [str(Q(v) + 1000) for v in w["value_exact"]]
    out.append(("claimed value", t))
    return out


def test_tampered_witnesses_do_not_replay(results):
    for name, net, result in results:
        for how, data in _tampered(as_json(result)):
            report = replay(data, net)
            assert not report.ok and report.failures, f"{name}: tampered {how} still replays"


def test_a_witness_moved_back_to_the_nominal_parameters_does_not_flip():
    """The flip of a local-label witness needs its parameters: with none changed the label stays."""
    b = binary_net()
    data = as_json(properties.verify_local_label(b, perturbation.uniform(b, "1/4"), ["0", "0"]))
    assert data["verdict"] == "violated"
    data["witness"]["parameters_exact"] = {}
    assert not replay(data, b).ok


def test_floats_alone_are_refused():
    b = binary_net()
    data = as_json(properties.verify_local_label(b, perturbation.uniform(b, "1/4"), ["0", "0"]))
    del data["witness"]["parameters_exact"]
    report = replay(data, b)
    assert not report.ok and "exact" in report.failures[0]


def test_replay_uses_the_results_decision_rule():
    """An argmin result replays on the model as loaded (argmax by default): the JSON names the rule."""
    am = multi_net("argmin")
    data = as_json(properties.verify_global_label(am, perturbation.uniform(am, "1/8"), D2))
    assert data["verdict"] == "violated" and data["query"]["decision"] == "argmin"
    assert replay(data, multi_net("argmax")).ok
    data["query"]["decision"] = "argmax"   # the rule is part of the claim: another rule need not flip
    report = replay(data, am)
    assert report.failures or report.ok   # decided either way, without an error
    data["query"]["decision"] = "median"
    with pytest.raises(InvalidInputError):
        replay(data, am)


def test_cli_exit_codes(tmp_path: Path, capsys):
    b = binary_net()
    model = tmp_path / "bin.npz"
    save_npz(b, model)
    good = tmp_path / "good.json"
    good.write_text(to_json(properties.verify_local_label(b, perturbation.uniform(b, "1/4"), ["0", "0"])))
    assert main([str(good), str(model)]) == 0
    bad = json.loads(good.read_text())
    bad["witness"]["parameters_exact"] = {k: "100" for k in bad["witness"]["parameters_exact"]}
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bad))
    assert main([str(tampered), str(model)]) == 1
    holds = tmp_path / "holds.json"
    result = properties.verify_local_label(b, perturbation.uniform(b, "1/1000"), ["0", "0"])
    assert result.verdict is Verdict.HOLDS
    holds.write_text(to_json(result))
    capsys.readouterr()
    assert main([str(holds), str(model)]) == 2
    assert main([str(tmp_path / "missing.json"), str(model)]) == 2
    (tmp_path / "junk.json").write_text("{not json")
    assert main([str(tmp_path / "junk.json"), str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("smtnn replay: error:") for line in err)


def test_cli_text_shows_the_exact_witness_and_json_replays(tmp_path: Path, capsys):
    """The text output prints every changed parameter as a rational that equals the JSON's exact one, and the
    CLI's JSON replays through ``smtnn replay``."""
    import re

    from smtnn.cli import main as cli_main

    b = binary_net()
    model = tmp_path / "bin.npz"
    save_npz(b, model)
    argv = ["verify", "local-label", str(model), "--delta", "0.25", "--x0", "0,0"]
    assert cli_main(argv) == 1
    text = capsys.readouterr().out
    assert cli_main(argv + ["--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    shown = dict(re.findall(r"(layer\d+\.(?:W\[\d+,\d+\]|b\[\d+\]))=\S+ \(= (-?\d+(?:/\d+)?)\)", text))
    assert shown and shown == data["witness"]["parameters_exact"]
    result = tmp_path / "result.json"
    result.write_text(json.dumps(data))
    assert main([str(result), str(model)]) == 0
