"""The tiny GPT's training step (chapter 19) in course_lib and in torch on the CPU: the same model from the same weights.
`make bench` times it too (bench/bench.py's GPT row, stored under `vs_torch`); this script times it alone.

    python bench/gpt_step.py              # about 30 s: median ms per step of each, and course_lib / torch (target <= 1.5)
    python bench/gpt_step.py --quick      # about 10 s
    python bench/gpt_step.py --profile    # cProfile of course_lib's steps instead: where the time goes
    python bench/gpt_step.py --json out.json

One step: a batch of 32 names of 16 positions (random tokens here: the time does not depend on them), token and
position embeddings, one pre-norm block (LayerNorm, 4-head nn.MultiheadAttention with the causal mask, need_weights=False;
LayerNorm, Linear-GELU(tanh)-Linear MLP, residuals), LayerNorm, the head, cross-entropy over the 512 positions,
backward, AdamW. float32; torch with the same number of threads as NumPy's BLAS (1 by default: at these sizes
threads cost more than they save, for both). Blocks of steps alternate between the two, in rotating order, so
that machine noise hits both alike; each figure is the median over the blocks, with the min-max range.
"""
import argparse, json, pathlib, statistics, sys, time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))   # a fresh clone benchmarks its own course_lib/

import numpy as np

V, BLOCK, BATCH, N_EMBD, N_HEAD, N_LAYER = 27, 16, 32, 24, 4, 1
TARGET = 1.5


def make_gpt(lib, n_embd=N_EMBD, n_head=N_HEAD, n_layer=N_LAYER, seed=0):
    "Chapter 19's GPT, in course_lib (lib=course_lib) or torch (lib=torch)."
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
            self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(approximate="tanh"), nn.Linear(4 * n_embd, n_embd))
        def forward(self, x, mask):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(V, n_embd), nn.Embedding(BLOCK, n_embd)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f, self.head = nn.LayerNorm(n_embd), nn.Linear(n_embd, V)
        def forward(self, idx):
            T = idx.shape[1]
            x = self.tok(idx) + self.pos(lib.arange(T))
            mask = lib.triu(lib.ones(T, T, dtype=lib.bool), diagonal=1)
            for block in self.blocks: x = block(x, mask)
            return self.head(self.ln_f(x))

    lib.manual_seed(seed)
    return GPT()


def setups(threads):
    "(name, step function) for course_lib and torch, from the same weights and batch."
    import torch
    import course_lib as cl
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    torch.set_num_threads(threads)
    ours = make_gpt(cl)
    theirs = make_gpt(torch)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (BATCH, BLOCK)), rng.integers(0, V, (BATCH, BLOCK))
    cx, cy, tx, ty = cl.tensor(x), cl.tensor(y), torch.from_numpy(x), torch.from_numpy(y)
    opt = cl.optim.AdamW(ours.parameters(), lr=1e-2, weight_decay=0.01)
    topt = torch.optim.AdamW(theirs.parameters(), lr=1e-2, weight_decay=0.01)

    def cl_step():
        loss = cl.nn.functional.cross_entropy(ours(cx).view(-1, V), cy.view(-1))
        opt.zero_grad(); loss.backward(); opt.step()
        return loss.item()

    def torch_step():
        loss = torch.nn.functional.cross_entropy(theirs(tx).view(-1, V), ty.view(-1))
        topt.zero_grad(); loss.backward(); topt.step()
        return loss.item()

    first = cl_step(), torch_step()
    assert abs(first[0] - first[1]) < 1e-4, f"the two first losses differ: {first}"   # same model, same weights
    return [("course_lib", cl_step), ("torch", torch_step)]


def bench(rounds, block, threads):
    impls = setups(threads)
    for _, step in impls:
        for _ in range(5): step()          # warm-up
    times = {name: [] for name, _ in impls}
    for r in range(rounds):
        order = impls[r % 2:] + impls[:r % 2]
        for name, step in order:
            t0 = time.perf_counter()
            for _ in range(block): step()
            times[name].append((time.perf_counter() - t0) / block * 1e3)
    return {name: (statistics.median(ts), min(ts), max(ts)) for name, ts in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about 10 s)")
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and for NumPy's BLAS (default 1)")
    ap.add_argument("--profile", action="store_true", help="cProfile 100 course_lib steps instead")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    if args.profile:
        import cProfile, pstats
        step = setups(args.threads)[0][1]
        pr = cProfile.Profile(); pr.enable()
        for _ in range(100): step()
        pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(25)
        return 0
    res = bench(rounds=6 if args.quick else 16, block=10, threads=args.threads)
    ratio = res["course_lib"][0] / res["torch"][0]
    print(f"tiny GPT training step (batch {BATCH}, context {BLOCK}, n_embd {N_EMBD}, {N_HEAD} heads, {N_LAYER} layer, AdamW), "
          f"{args.threads} thread(s), median ms per step [min - max]:")
    for name, (med, lo, hi) in res.items(): print(f"  {name:10} {med:7.2f} ms  [{lo:.2f} - {hi:.2f}]")
    print(f"  course_lib / torch = {ratio:.2f}  (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"gpt_b32_t16": {"course_lib_ms": res["course_lib"][0], "torch_ms": res["torch"][0],
                                                                      "ratio": ratio, "target": TARGET}}, indent=1) + "\n")
    return 0


if __name__ == "__main__": sys.exit(main())
