import numpy as np
import torch

from leanamp.losses import PaperLoss, PreEmphasis, esr, esr_db


def reference_paper_loss(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Eqs. (4)-(7) written out, each segment pre-emphasised, the batch pooled as one signal, the
    DC offset per segment (the paper's code)."""

    def pre_emphasis(s):
        return s - 0.85 * np.concatenate([np.zeros((len(s), 1)), s[:, :-1]], axis=1)

    p, t = y_hat.astype(np.float64), y.astype(np.float64)
    e_esr = np.sum((pre_emphasis(t) - pre_emphasis(p)) ** 2) / np.sum(pre_emphasis(t) ** 2)
    e_dc = np.mean(np.mean(t - p, axis=1) ** 2) / np.mean(t**2)
    return 0.75 * e_esr + 0.25 * e_dc


def test_pre_emphasis_is_one_minus_085_z_inverse():
    x = torch.tensor([[1.0, 0.0, 0.0, 2.0, 1.0]])
    expected = torch.tensor([[1.0, -0.85, 0.0, 2.0, 1.0 - 1.7]])
    assert torch.allclose(PreEmphasis(0.85)(x), expected)


def test_paper_loss_matches_the_formula(rng):
    y = rng.standard_normal((4, 500)).astype(np.float32)
    y_hat = (y + 0.3 * rng.standard_normal((4, 500)) + 0.05).astype(np.float32)
    got = PaperLoss()(torch.from_numpy(y_hat), torch.from_numpy(y)).item()
    assert np.isclose(got, reference_paper_loss(y_hat, y), rtol=1e-5)


def test_paper_loss_is_zero_for_a_perfect_prediction(rng):
    y = torch.from_numpy(rng.standard_normal((2, 100)).astype(np.float32))
    assert PaperLoss()(y, y).item() < 1e-12


def test_dc_term_sees_an_offset_the_pre_emphasised_esr_mostly_ignores(rng):
    y = torch.from_numpy(rng.standard_normal((1, 1000)).astype(np.float32))
    only_dc = PaperLoss(esr_weight=0.0, dc_weight=1.0)(y + 0.5, y).item()
    assert np.isclose(only_dc, 0.25 / float(y.pow(2).mean()), rtol=1e-4)


def test_opposite_offsets_of_two_segments_do_not_cancel(rng):
    y = torch.from_numpy(rng.standard_normal((2, 1000)).astype(np.float32))
    shifted = y + torch.tensor([[0.5], [-0.5]])
    only_dc = PaperLoss(esr_weight=0.0, dc_weight=1.0)(shifted, y).item()
    assert np.isclose(only_dc, 0.25 / float(y.pow(2).mean()), rtol=1e-4)


def test_esr_metric_and_db():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    assert esr(y, y) == 0.0
    assert np.isclose(esr(0.9 * y, y), 0.01)
    assert np.isclose(esr_db(0.01), -20.0)
    assert esr(y, np.zeros(4)) == float("inf")


def test_a_near_silent_segment_does_not_dominate_the_batch(rng):
    loud = rng.standard_normal((1, 1000))
    batch = torch.from_numpy(np.concatenate([loud, 1e-6 * loud]).astype(np.float32))
    prediction = batch.clone()
    prediction[1] += 1e-3  # a tiny absolute error on the quiet segment
    assert PaperLoss()(prediction, batch).item() < 1e-3
