import math

import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.models import LSTMModel
from leanamp.prune import impulse_response, settling_time

RATE = 1000


def leaky_unit(forget: float) -> LSTMModel:
    """One unit whose cell forgets geometrically at rate `forget` after an input transient."""
    model = LSTMModel(hidden_size=1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        # gates i, f, g, o: i and o open (sigmoid(20) = 1 in float32), f fixed, g = tanh(0.02 x)
        model.lstm.bias_ih_l0.copy_(torch.tensor([20.0, math.log(forget / (1 - forget)), 0, 20.0]))
        model.lstm.weight_ih_l0[2, 0] = 0.02
        model.head.weight.fill_(1.0)
    return model


@pytest.mark.parametrize("forget", [0.5, 0.9, 0.97])
def test_settling_time_of_a_geometric_decay(forget):
    # The deviation decays as forget^n (tanh is linear at these tiny values): it stays above
    # -60 dB of its peak for n < ln(1e-3) / ln(forget) samples.
    expected = math.log(1e-3) / math.log(forget)
    response = impulse_response(leaky_unit(forget), RATE, threshold_db=-60)
    assert response.settling_samples == pytest.approx(math.ceil(expected), abs=1)
    assert settling_time(leaky_unit(forget), RATE) == pytest.approx(expected / RATE, abs=2 / RATE)


def test_a_model_without_memory_settles_at_once_and_a_slow_one_never():
    still = LSTMModel(hidden_size=2)
    with torch.no_grad():
        still.head.weight.zero_()
    assert settling_time(still, RATE) == 0.0
    slow = impulse_response(leaky_unit(0.999), RATE, window_seconds=0.5)
    assert slow.settling_samples is None and slow.settling_seconds == math.inf


def test_bad_settings_are_refused():
    with pytest.raises(LeanampError):
        settling_time(LSTMModel(hidden_size=2), 0)
