"""The ONNX Runtime session is built with the thread settings the worker is given."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference.onnx_runner import OnnxRunner

SPIN = "session.intra_op.allow_spinning"


@pytest.fixture(scope="module")
def relu_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["logits"])],
        "relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 7])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 7])],
    )
    path = tmp_path_factory.mktemp("onnx") / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_threads_do_not_spin_between_runs_by_default(relu_model):
    runner = OnnxRunner(relu_model, threads=2)
    assert runner.session.get_session_options().get_session_config_entry(SPIN) == "0"
    assert runner.session.get_session_options().intra_op_num_threads == 2
    batch = np.array([[-1, 0, 1, 2, -3, 4, 5]], dtype=np.float32)
    np.testing.assert_array_equal(runner(batch), np.maximum(batch, 0))


def test_spinning_is_left_to_onnx_runtime_when_asked(relu_model):
    options = OnnxRunner(relu_model, threads=2, spin_wait=True).session.get_session_options()
    with pytest.raises(Exception, match=SPIN):  # not set: ONNX Runtime's own default (spin)
        options.get_session_config_entry(SPIN)
