"""Chapter 9's `fit` and `evaluate` (course_lib._training), checked against the same loop written in torch."""
import numpy as np
import torch

import course_lib as cl
from course_lib._training import fit, evaluate
from course_lib.utils.data import DataLoader


def _data(n, seed):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, 3))
    return X, (X @ np.array([1., -2., 0.5]) > 0).astype(np.int64)


def test_fit_matches_a_torch_loop_and_evaluate_is_the_mean_loss():
    X, y = _data(40, 0)
    Xv, yv = _data(16, 1)
    cl.manual_seed(0)
    model = cl.nn.Sequential(cl.nn.Linear(3, 8), cl.nn.Tanh(), cl.nn.Linear(8, 2)).double()
    twin = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    Xc, yc = cl.tensor(X), cl.tensor(y)
    hist = fit(model, DataLoader((Xc, yc), batch_size=16), cl.optim.SGD(model.parameters(), lr=0.1),
               cl.nn.CrossEntropyLoss(), epochs=3, valid=(cl.tensor(Xv), cl.tensor(yv)), show=False)

    opt, loss_fn = torch.optim.SGD(twin.parameters(), lr=0.1), torch.nn.CrossEntropyLoss()
    train, valid = [], []
    for epoch in range(3):
        total = 0.0
        for i in range(0, 40, 16):
            xb, yb = torch.from_numpy(X[i:i + 16]), torch.from_numpy(y[i:i + 16])
            loss = loss_fn(twin(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
            total += loss.item() * len(xb)
        train.append(total / 40)
        with torch.no_grad(): valid.append(loss_fn(twin(torch.from_numpy(Xv)), torch.from_numpy(yv)).item())
    np.testing.assert_allclose(hist["train"], train, rtol=1e-12)
    np.testing.assert_allclose(hist["valid"], valid, rtol=1e-12)
    assert not model.training                     # evaluate leaves the model in eval mode, as it ran it
    # over a loader, evaluate weighs each batch by its size: the mean over all samples
    loader = DataLoader((cl.tensor(Xv), cl.tensor(yv)), batch_size=5)
    np.testing.assert_allclose(evaluate(model, loader, cl.nn.CrossEntropyLoss()), valid[-1], rtol=1e-12)
