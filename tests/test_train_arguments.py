"""Bad input to ``fit``, ``evaluate`` and the checkpoint functions: a clear error before any
work starts, naming the argument, what was expected and what came; nothing trained, nothing
written."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlib.train import CheckpointError, evaluate, fit, load_checkpoint, save_checkpoint

QUIET = {"device": "cpu", "quiet": True, "seed": 0}


class Regressor(nn.Module):
    """(B, T, 3) -> (B,)"""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.lstm = nn.LSTM(3, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h[:, -1]).squeeze(-1)


def batches(n: int = 3, b: int = 8):
    g = torch.Generator().manual_seed(0)
    return [(x := torch.randn(b, 5, 3, generator=g), x[:, :, 0].sum(dim=1)) for _ in range(n)]


def weights(model: nn.Module) -> dict:
    if not isinstance(model, nn.Module):  # the bad-model cases
        return {}
    return {k: v.clone() for k, v in model.state_dict().items()}


def refused(error: type, *fragments: str, **overrides):
    """fit with ``overrides`` raises ``error`` holding every fragment, trains nothing and
    writes nothing."""
    torch.manual_seed(0)
    model = overrides.pop("model", None) or Regressor()
    before = weights(model)
    kwargs = {"loss_fn": nn.MSELoss(), **QUIET, **overrides}
    train_data = kwargs.pop("train_data", batches())
    with pytest.raises(error) as caught:
        fit(model, train_data, **kwargs)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    after = weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before), "fit trained before refusing"
    return caught.value


LOADER = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 5, 3),
                                                                    torch.randn(8)),
                                     batch_size=4, shuffle=True)

BAD_ARGUMENTS = {
    "train_data None": (TypeError, ["train_data", "None"], {"train_data": None}),
    "train_data a tensor": (TypeError, ["train_data is a tensor", "(8, 5, 3)"],
                            {"train_data": torch.randn(8, 5, 3)}),
    "train_data a dataset": (TypeError, ["TensorDataset", "DataLoader(dataset"],
                             {"train_data": LOADER.dataset}),
    "train_data empty": (ValueError, ["train_data is empty"], {"train_data": []}),
    "train_data a dict": (TypeError, ["train_data", "dict"], {"train_data": {"x": 1}}),
    "train_data a generator": (TypeError, ["read only once"],
                               {"train_data": (b for b in batches())}),
    "val_data a number": (TypeError, ["val_data", "int"], {"val_data": 3}),
    "loss_fn a class": (TypeError, ["loss_fn is the class MSELoss", "MSELoss()"],
                        {"loss_fn": nn.MSELoss}),
    "loss_fn a string": (TypeError, ["loss_fn", "str ('mse')"], {"loss_fn": "mse"}),
    "lr zero": (ValueError, ["lr", "> 0", "0"], {"lr": 0}),
    "lr negative": (ValueError, ["lr", "-0.1"], {"lr": -0.1}),
    "lr nan": (ValueError, ["lr", "nan"], {"lr": float("nan")}),
    "lr a string": (TypeError, ["lr", "str"], {"lr": "1e-3"}),
    "epochs zero": (ValueError, ["epochs should be >= 1, got 0"], {"epochs": 0}),
    "epochs a float": (TypeError, ["epochs", "float (2.5)"], {"epochs": 2.5}),
    "epochs a bool": (TypeError, ["epochs", "bool"], {"epochs": True}),
    "steps negative": (ValueError, ["steps should be >= 1, got -3"], {"steps": -3}),
    "log_every zero": (ValueError, ["log_every should be >= 1, got 0"], {"log_every": 0}),
    "log_every None": (TypeError, ["log_every", "NoneType"], {"log_every": None}),
    "clip_norm zero": (ValueError, ["clip_norm", "0"], {"clip_norm": 0.0}),
    "clip_norm inf": (ValueError, ["clip_norm", "inf"], {"clip_norm": float("inf")}),
    "amp misspelt": (ValueError, ["amp should be", "'float16'"], {"amp": "float16"}),
    "amp True": (ValueError, ["amp should be", "True"], {"amp": True}),
    "patience zero": (ValueError, ["patience should be >= 1, got 0"],
                      {"patience": 0, "val_data": batches()}),
    "patience without val_data": (ValueError, ["patience", "val_data"], {"patience": 2}),
    "metrics a list": (TypeError, ["metrics should be a dict", "list"],
                       {"metrics": [nn.L1Loss()], "val_data": batches()}),
    "metric named loss": (ValueError, ["'loss'"],
                          {"metrics": {"loss": nn.L1Loss()}, "val_data": batches()}),
    "metric not callable": (TypeError, ["metrics['mae']"],
                            {"metrics": {"mae": 3}, "val_data": batches()}),
    "stateful a string": (TypeError, ["stateful should be True or False", "str ('yes')"],
                          {"stateful": "yes"}),
    "stateful with shuffled batches": (ValueError, ["stateful=True", "shuffle=True"],
                                       {"stateful": True, "train_data": LOADER}),
    "resume without checkpoint": (ValueError, ["resume=True", "checkpoint"], {"resume": True}),
    "checkpoint_every without checkpoint": (ValueError, ["checkpoint_every=3", "checkpoint"],
                                            {"checkpoint_every": 3}),
    "checkpoint_every zero": (ValueError, ["checkpoint_every should be >= 1"],
                              {"checkpoint_every": 0, "checkpoint": "c.pt"}),
    "checkpoint a number": (TypeError, ["checkpoint should be a file path", "int"],
                            {"checkpoint": 5}),
    "checkpoint a folder": (ValueError, ["checkpoint should name a file", "folder"],
                            {"checkpoint": "."}),
    "seed negative": (ValueError, ["seed should be >= 0, got -1"], {"seed": -1}),
    "seed a float": (TypeError, ["seed", "float"], {"seed": 1.5}),
    "device unknown": (ValueError, ["device should be", "'gpu'"], {"device": "gpu"}),
    "device a number": (TypeError, ["device should be", "int"], {"device": 0}),
    "device a missing GPU": (RuntimeError, ["cuda:3", "GPU"], {"device": "cuda:3"}),
    "threads zero": (ValueError, ["threads should be >= 1, got 0"], {"threads": 0}),
    "quiet a string": (TypeError, ["quiet should be True or False", "str"], {"quiet": "no"}),
    "model a class": (TypeError, ["model is the class Regressor", "Regressor(...)"],
                      {"model": Regressor}),
    "model a function": (TypeError, ["model should be a torch.nn.Module", "function"],
                         {"model": lambda x: x}),
    "model without parameters": (ValueError, ["no parameters to train"],
                                 {"model": nn.Identity()}),
    "optimizer not an optimizer": (TypeError, ["optimizer should be a torch.optim.Optimizer"],
                                   {"optimizer": "adam"}),
    "optimizer of another model": (ValueError, ["not parameters of the model"],
                                   {"optimizer": torch.optim.SGD(nn.Linear(2, 2).parameters(),
                                                                 lr=0.1)}),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=list(BAD_ARGUMENTS))
def test_fit_refuses_a_bad_argument_naming_it_before_any_work(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a checkpoint, if one were written, would land here
    error, fragments, overrides = BAD_ARGUMENTS[case]
    refused(error, *fragments, **overrides)
    assert list(tmp_path.iterdir()) == []


def test_lr_and_an_optimizer_together_are_refused():
    model = Regressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    refused(ValueError, "lr=0.1 and an optimizer", model=model, optimizer=optimizer, lr=0.1)


def test_a_scheduler_needs_the_optimizer_it_was_made_for():
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    other = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(other, step_size=1)
    refused(ValueError, "scheduler should be made for the optimizer", model=model,
            optimizer=optimizer, scheduler=scheduler)
    refused(ValueError, "scheduler should be made for the optimizer", model=model,
            scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1))
    refused(ValueError, "ReduceLROnPlateau", model=model, optimizer=optimizer,
            scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer))
    refused(TypeError, "scheduler should be a torch.optim.lr_scheduler", model=model,
            optimizer=optimizer, scheduler=0.5)


# -- The first batch through the model and the loss ---------------------------------------------

def test_a_hand_written_loss_that_broadcasts_output_against_targets_is_refused():
    """(B, 1) minus (B,) is (B, B): PyTorch says nothing and the loss trains on every pair."""
    class Column(Regressor):
        def forward(self, x):
            return super().forward(x).unsqueeze(-1)

    error = refused(ValueError, "broadcasts a tensor of shape (8, 1) against one of shape "
                                "(8,) into (8, 8)", "loss_fn",
                    model=Column(), loss_fn=lambda out, y: ((out - y) ** 2).mean())
    assert "squeeze(-1)" in str(error)


def test_a_hand_written_metric_that_broadcasts_is_refused_too():
    def mae(out, y):
        return (out.unsqueeze(-1) - y).abs().mean() if out.dim() == 1 else (out - y).abs().mean()

    class Column(Regressor):
        def forward(self, x):
            return super().forward(x).unsqueeze(-1)

    refused(ValueError, "metrics['mae'] broadcasts", model=Column(),
            loss_fn=lambda out, y: ((out.squeeze(-1) - y) ** 2).mean(),
            val_data=batches(), metrics={"mae": mae})


def test_a_loss_that_does_not_reach_the_parameters_is_refused():
    refused(ValueError, "does not depend on the model's parameters",
            loss_fn=lambda out, y: ((out.detach() - y) ** 2).mean())


def test_class_targets_out_of_range_are_refused_before_they_reach_a_kernel():
    model = nn.Sequential(nn.Flatten(), nn.Linear(15, 4))
    data = [(torch.randn(8, 5, 3), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2]))]
    refused(ValueError, "class targets should be in 0..3", "got 0..4", model=model,
            train_data=data, loss_fn=nn.CrossEntropyLoss())


def test_ignored_class_targets_are_allowed():
    model = nn.Sequential(nn.Flatten(), nn.Linear(15, 4))
    data = [(torch.randn(8, 5, 3), torch.tensor([0, 1, 2, 3, -100, 0, 1, 2]))]
    history = fit(model, data, loss_fn=nn.CrossEntropyLoss(), **QUIET)
    assert len(history.loss) == 1


def test_binary_targets_outside_0_and_1_are_refused():
    data = [(x, y * 3) for x, y in batches()]
    refused(ValueError, "binary cross-entropy needs float targets in [0, 1]", train_data=data,
            loss_fn=nn.BCEWithLogitsLoss())


def test_a_loss_with_reduction_none_is_refused():
    refused(ValueError, "one number (a 0-d tensor)", "(8,)",
            loss_fn=nn.MSELoss(reduction="none"))


def test_a_bad_validation_batch_is_found_before_training_not_after_an_epoch():
    bad_val = [(torch.randn(8, 5, 4), torch.randn(8))]  # 4 features, the model takes 3
    refused(ValueError, "inputs of shape (8, 5, 4)", val_data=bad_val)


def test_preflight_changes_no_random_numbers_and_no_batch_norm_statistics():
    class Normed(Regressor):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm1d(8)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            h, _ = self.lstm(x)
            return self.out(self.drop(self.norm(h[:, -1]))).squeeze(-1)

    from rnnlib.train import arguments
    from rnnlib.train.precision import Precision

    model = Normed()
    stats = model.norm.running_mean.clone()
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    arguments.preflight_batches(model, batches(), name="train_data", loss_fn=nn.MSELoss(),
                                metrics={}, device=torch.device("cpu"),
                                autocast=Precision(None).autocast("cpu"), stateful=False,
                                train=True)
    assert torch.equal(torch.rand(2), expected)
    assert torch.equal(model.norm.running_mean, stats) and model.training
    assert all(p.grad is None for p in model.parameters())


# -- Checkpoints that cannot be resumed here say why, before training -------------------------

def test_a_checkpoint_of_another_optimizer_or_scheduler_is_refused_before_training(tmp_path):
    path = tmp_path / "c.pt"
    model = Regressor()
    fit(model, batches(), loss_fn=nn.MSELoss(), checkpoint=path, **QUIET)
    written = path.read_bytes()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    refused(CheckpointError, "written with the optimizer Adam", "uses SGD", model=model,
            optimizer=sgd, checkpoint=path, resume=True, epochs=2)
    adam = torch.optim.Adam(model.parameters())
    refused(CheckpointError, "scheduler=None", "scheduler=StepLR", model=model, optimizer=adam,
            scheduler=torch.optim.lr_scheduler.StepLR(adam, 1), checkpoint=path, resume=True,
            epochs=2)
    refused(CheckpointError, "different model", "lstm.weight_ih_l0", model=Regressor(hidden=6),
            checkpoint=path, resume=True, epochs=2)
    assert path.read_bytes() == written


def test_checkpoint_functions_refuse_bad_paths_and_contents(tmp_path):
    with pytest.raises(TypeError, match="save_checkpoint: path should be a str"):
        save_checkpoint(3, {})
    with pytest.raises(ValueError, match="save_checkpoint: path should name a file"):
        save_checkpoint(tmp_path, {})
    with pytest.raises(TypeError, match="contents should be a mapping"):
        save_checkpoint(tmp_path / "c.pt", [1, 2])
    with pytest.raises(TypeError, match="load_checkpoint: path should be a str"):
        load_checkpoint(None)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="no 'format' entry"):
        load_checkpoint(tmp_path / "plain.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.pt"]


# -- evaluate ------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, error, fragment", [
    ({"model": "a model"}, TypeError, "model should be a torch.nn.Module"),
    ({"data": None}, TypeError, "data should give (inputs, targets) batches"),
    ({"data": []}, ValueError, "data is empty"),
    ({"loss_fn": nn.MSELoss}, TypeError, "loss_fn is the class MSELoss"),
    ({"metrics": {"acc": None}}, TypeError, "metrics['acc']"),
    ({"amp": "half"}, ValueError, "amp should be"),
    ({"device": "tpu"}, ValueError, "device should be"),
    ({"stateful": 1}, TypeError, "stateful should be True or False"),
    ({"loss_fn": nn.BCELoss(), "data": [(torch.randn(8, 5, 3), torch.randn(8, 1))]},
     ValueError, "shapes must be equal"),
])
def test_evaluate_refuses_bad_input_naming_it(overrides, error, fragment):
    kwargs = {"model": Regressor(), "data": batches(), "loss_fn": nn.MSELoss(), **overrides}
    model, data = kwargs.pop("model"), kwargs.pop("data")
    with pytest.raises(error) as caught:
        evaluate(model, data, **kwargs)
    assert fragment in str(caught.value), str(caught.value)
