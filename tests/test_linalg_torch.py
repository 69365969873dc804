"""`mm`, `mv`, `dot`, `bmm`, `outer` (chapter 4, `_linalg`) against torch: values, gradients, node names, errors."""
import numpy as np
import pytest
import torch
import course_lib as cl

CASES = {"mm": [(2, 3), (3, 4)], "mv": [(2, 3), (3,)], "dot": [(5,), (5,)], "bmm": [(2, 3, 4), (2, 4, 5)],
         "outer": [(3,), (4,)]}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", sorted(CASES))
def test_values_gradients_and_node_like_torch(op, dtype):
    rng = np.random.default_rng(sorted(CASES).index(op))
    arrays = [rng.standard_normal(s).astype(dtype) for s in CASES[op]]
    ours = [cl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = getattr(cl, op)(*ours), getattr(torch, op)(*theirs)
    method = getattr(ours[0], op)(ours[1])
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **tol)
    np.testing.assert_allclose(method.detach().numpy(), ref.detach().numpy(), **tol)
    assert out.dtype.name == str(ref.dtype).removeprefix("torch.")
    assert out.grad_fn.name() == type(ref.grad_fn).__name__
    g = rng.standard_normal(ref.shape).astype(dtype)
    out.backward(cl.tensor(g)); ref.backward(torch.tensor(g))
    for o, t in zip(ours, theirs): np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), **tol)


BAD = [("mm", (2, 3), (4, 5)), ("mm", (3,), (3, 2)), ("mm", (2, 3), (3,)), ("mv", (2, 3), (4,)), ("mv", (3,), (3,)),
       ("mv", (2, 3), (3, 1)), ("dot", (2, 2), (2,)), ("dot", (3,), (4,)), ("bmm", (2, 3), (2, 3)),
       ("bmm", (2, 2, 3), (3, 3, 4)), ("bmm", (2, 2, 3), (2, 4, 4)), ("outer", (2, 2), (2,)), ("outer", (2,), (2, 1))]


@pytest.mark.parametrize("op,sa,sb", BAD, ids=[f"{o}-{a}-{b}" for o, a, b in BAD])
def test_shape_errors_in_torchs_words(op, sa, sb):
    with pytest.raises(RuntimeError) as theirs: getattr(torch, op)(torch.ones(sa), torch.ones(sb))
    with pytest.raises(RuntimeError) as ours: getattr(cl, op)(cl.ones(sa), cl.ones(sb))
    assert str(ours.value) == str(theirs.value)


def test_dot_refuses_mixed_dtypes_like_torch():
    with pytest.raises(RuntimeError) as theirs: torch.dot(torch.ones(3), torch.ones(3, dtype=torch.float64))
    with pytest.raises(RuntimeError) as ours: cl.dot(cl.ones(3), cl.ones(3, dtype=cl.float64))
    assert str(ours.value) == str(theirs.value)
