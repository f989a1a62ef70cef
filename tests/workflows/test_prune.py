"""Workflow-level behaviour of the pruning runs that their own modules do not see."""

from types import SimpleNamespace

import pytest

import leanamp.workflows.prune as prune_workflow
from leanamp.train import TrainingInterrupted, TrainResult


def test_ctrl_c_in_a_structured_search_says_it_cannot_resume(tmp_path, monkeypatch):
    """The magnitude search resumes with --resume; the structured one keeps no checkpoint, so
    its interruption must not send the user to --resume."""

    def interrupted(*args, **kwargs):
        raise TrainingInterrupted(TrainResult(1.0, 0, 3, 2.0, "interrupted", run_dir=tmp_path))

    monkeypatch.setattr(prune_workflow, "structured_prune", interrupted)
    with pytest.raises(TrainingInterrupted) as caught:
        data = SimpleNamespace(train=[], validation=[])
        prune_workflow.run_structured(data, tmp_path / "out", None, None)
    message = str(caught.value)
    assert "cannot resume" in message and "--resume" not in message
    assert str(tmp_path / "out") in message
