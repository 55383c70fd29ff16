"""The grader's inference engines agree: ONNX Runtime (the default) and eager PyTorch give the
same scores, counterfeit logits and patch embeddings, so the faster engine changes no answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.grader.backbones import BACKBONES
from models.grader.engine import OUTPUTS, make_engine
from models.grader.heads import GraderNet
from models.grader.predictor import GraderPredictor
from tests.code.conftest import TOY_SIZE
from training.grader.config import GraderConfig
from training.grader.train import train_grader_model


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_engines_give_the_same_outputs(backbone):
    torch.manual_seed(0)
    net = GraderNet(backbone).eval()
    x = torch.randn(5, 3, TOY_SIZE, TOY_SIZE)
    eager = make_engine(net, TOY_SIZE, "torch")(x)
    onnx = make_engine(net, TOY_SIZE, "onnxruntime")(x)
    for key in OUTPUTS:
        assert onnx[key].shape == eager[key].shape
        assert torch.allclose(onnx[key], eager[key].float(), atol=1e-4), key
    # any batch size runs through the exported graph
    assert make_engine(net, TOY_SIZE, "onnxruntime")(x[:1])["score"].shape == (1,)
    with pytest.raises(ValueError, match="unknown grader engine"):
        make_engine(net, TOY_SIZE, "tensorrt")


@pytest.mark.parametrize("training", [False, True])
def test_exporting_leaves_the_network_as_it_was(training):
    """The ONNX export runs the network in eval mode and hands it back in its own mode: a
    network left in training mode would answer with batch statistics and overwrite its
    BatchNorm running statistics at every later eager call."""
    torch.manual_seed(0)
    net = GraderNet("resnet10t_quarter").train(training)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    make_engine(net, TOY_SIZE, "onnxruntime")
    assert all(m.training == training for m in net.modules())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_predictions_do_not_depend_on_the_engine(toy, tmp_path):
    from tests.code.conftest import TINY

    _, data = toy
    config = GraderConfig(epochs=1, tta="hflip", **TINY)
    model_dir = train_grader_model(config, data, tmp_path / "model").model_dir
    test = data.subset("test")
    fast = GraderPredictor.load(model_dir)
    eager = GraderPredictor.load(model_dir, engine="torch")
    assert fast.engine == "onnxruntime"
    a = fast.predict_tensors(test.images, test.item_index, test.brands)
    b = eager.predict_tensors(test.images, test.item_index, test.brands)
    assert [r.grade for r in a] == [r.grade for r in b]
    assert np.allclose([r.severity for r in a], [r.severity for r in b], atol=1e-4)
    assert np.allclose(
        [r.counterfeit.score for r in a], [r.counterfeit.score for r in b], atol=1e-4
    )


def test_onnx_threads_sleep_when_idle():
    """The runner shares its cores with photo decoding and /price: its idle threads must not
    spin (ONNX Runtime's default)."""
    engine = make_engine(GraderNet("resnet10t_quarter", n_classes=3).eval(), TOY_SIZE)
    options = engine.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_onnx_threads_per_call_default_to_torchs_and_can_be_set():
    net = GraderNet("resnet10t_quarter", n_classes=3).eval()
    default = make_engine(net, TOY_SIZE).session.get_session_options()
    one = make_engine(net, TOY_SIZE, threads=1).session.get_session_options()
    assert default.intra_op_num_threads == torch.get_num_threads()
    assert one.intra_op_num_threads == 1
