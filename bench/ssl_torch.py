#!/usr/bin/env python3
"""bench/ssl_torch.py — the SSL hyper-representation of model/ssl_model.h
built again in PyTorch (same sizes, same layers, same losses, same parameter
names), to time a training step on one thread next to wsk's, and to check
that both compute the same loss and gradients.

  python3 bench/ssl_torch.py --wsk build/release/wsk            # time both
  python3 bench/ssl_torch.py --wsk build/release/wsk --check    # compare
  python3 bench/ssl_torch.py --batch 16 --dim 64 --steps 20     # torch only

The step: forward of 2 * batch views (no augmentation; inputs = targets,
random values in [-1, 1) as wsk's --bench-step draws them), the loss
gamma * NT-Xent(tau) + (1 - gamma) * MSE, backward, and an Adam update. wsk's
time comes from `WSK_NUM_THREADS=1 wsk ssl --bench-step` with the same sizes;
torch runs with torch.set_num_threads(1) (and one BLAS / OpenMP thread).

--check makes wsk write its parameters, batch, loss and gradient of one step
(`wsk ssl --bench-step --dump FILE`), loads them into the torch model and
compares the loss and every parameter's gradient (float64 in torch), with
the tolerance printed.

Exits 0 with a SKIP line when torch is not installed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError:
    print("SKIP: torch is not installed (Debian: apt-get install python3-torch)")
    sys.exit(0)

# The target networks' tokens: (neurons, values per token) per layer, as
# wsk_ssl_tokens_from_net makes them from model/net.h.
NETS = {
    "mlp": [(32, 65), (10, 33)],
    "cnn": [(8, 26), (6, 201), (4, 25), (20, 37), (10, 21)],
}


class Block(nn.Module):
    """Pre-norm transformer block: x += MHA(LN1(x)); x += FFN(LN2(x))."""

    def __init__(self, d, heads, ffn):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Linear(ffn, d))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.ffn(self.ln2(x))


class HyperRep(nn.Module):
    def __init__(self, layers, d, heads, enc, dec, ffn, latent, proj_hidden, proj_out):
        super().__init__()
        self.layers = layers
        n = sum(k for k, _ in layers)
        self.n = n
        self.d = d
        self.embed = nn.ModuleList([nn.Linear(w, d) for _, w in layers])
        self.comp_token = nn.Parameter(0.02 * torch.randn(d))
        self.enc_pos = nn.Parameter(0.02 * torch.randn(n + 1, d))
        self.enc = nn.ModuleList([Block(d, heads, ffn) for _ in range(enc)])
        self.enc_ln = nn.LayerNorm(d)
        self.to_latent = nn.Linear(d, latent)
        self.proj = nn.Sequential(nn.Linear(latent, proj_hidden), nn.ReLU(),
                                  nn.Linear(proj_hidden, proj_out))
        self.from_latent = nn.Linear(latent, n * d)
        self.dec_pos = nn.Parameter(0.02 * torch.randn(n, d))
        self.dec = nn.ModuleList([Block(d, heads, ffn) for _ in range(dec)])
        self.dec_ln = nn.LayerNorm(d)
        self.unembed = nn.ModuleList([nn.Linear(d, w) for _, w in layers])

    def forward(self, toks):
        """toks: one [V][n_l][w_l] tensor per layer -> z, p, reconstructions."""
        v = toks[0].shape[0]
        t = torch.cat([e(x) for e, x in zip(self.embed, toks)], dim=1)
        x = torch.cat([self.comp_token.expand(v, 1, self.d), t], dim=1) + self.enc_pos
        for b in self.enc:
            x = b(x)
        z = torch.tanh(self.to_latent(self.enc_ln(x[:, 0])))
        p = self.proj(z)
        y = self.from_latent(z).view(v, self.n, self.d) + self.dec_pos
        for b in self.dec:
            y = b(y)
        y = self.dec_ln(y)
        outs, at = [], 0
        for (k, _), u in zip(self.layers, self.unembed):
            outs.append(u(y[:, at:at + k]))
            at += k
        return z, p, outs


def nt_xent(p, tau):
    """SimCLR's NT-Xent over 2B views, view i and i + B positive."""
    v = p.shape[0]
    b = v // 2
    u = F.normalize(p, dim=1, eps=1e-8)
    s = u @ u.t() / tau
    s = s.masked_fill(torch.eye(v, dtype=torch.bool), float("-inf"))
    pos = torch.cat([torch.arange(b, v), torch.arange(0, b)])
    return F.cross_entropy(s, pos)


def loss_fn(model, toks, targets, gamma, tau):
    _, p, outs = model(toks)
    nvals = sum(o[0].numel() for o in outs)
    v = toks[0].shape[0]
    rec = sum(((o - t) ** 2).sum() for o, t in zip(outs, targets)) / (v * nvals)
    con = nt_xent(p, tau)
    return gamma * con + (1 - gamma) * rec, con, rec


def build(args):
    layers = NETS[args.arch]
    ffn = args.ffn if args.ffn else 4 * args.dim
    return HyperRep(layers, args.dim, args.heads, args.layers, args.layers, ffn, args.latent,
                    args.dim, args.latent)


def random_batch(layers, views):
    return [torch.rand(views, k, w) * 2 - 1 for k, w in layers]


def torch_stepper(args):
    torch.manual_seed(0)
    model = build(args)
    toks = random_batch(model.layers, 2 * args.batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _, _ = loss_fn(model, toks, toks, args.gamma, args.tau)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    return step


def time_torch(step, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1e3


def wsk_args(args):
    a = ["ssl", "--bench-step", "--arch", args.arch, "--batch", str(args.batch), "--dim",
         str(args.dim), "--heads", str(args.heads), "--layers", str(args.layers), "--latent",
         str(args.latent), "--gamma", str(args.gamma)]
    if args.ffn and args.ffn != 4 * args.dim:
        sys.exit("wsk's --bench-step uses an FFN of 4 * dim; leave --ffn out with --wsk")
    return a


def time_wsk(args):
    env = dict(os.environ, WSK_NUM_THREADS="1")
    out = subprocess.run([args.wsk] + wsk_args(args) + ["--steps", str(args.steps)], env=env,
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("step_ms="):
            return float(line.split()[0].split("=")[1])
    sys.exit("no step_ms line in the output of wsk ssl --bench-step")


def load_safetensors(path):
    """F32 tensors of a safetensors file (8-byte header length, JSON, data)."""
    import json
    import struct

    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"]) if info["shape"] else t.reshape(())
    return out


def check(args):
    """wsk's loss and gradient of one step against torch autograd (float64)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "step.safetensors")
        subprocess.run([args.wsk] + wsk_args(args) + ["--steps", "1", "--dump", path],
                       check=True, capture_output=True, text=True)
        d = load_safetensors(path)
    model = build(args).double()
    state = {k: v.double() for k, v in d.items() if not k.startswith(("grad.", "batch.", "loss"))}
    model.load_state_dict(state, strict=True)
    v = 2 * args.batch
    toks = []
    for l, (k, w) in enumerate(model.layers):
        toks.append(d["batch.%d" % l].double().view(v, k, w))
    loss, con, rec = loss_fn(model, toks, toks, args.gamma, args.tau)
    loss.backward()
    wl = d["loss"].double()
    print("loss: torch %.7f (contrastive %.7f, reconstruction %.7f), wsk %.7f (%.7f, %.7f)" %
          (loss.item(), con.item(), rec.item(), wl[0], wl[1], wl[2]))
    ok = abs(loss.item() - wl[0].item()) <= 1e-4 * max(1.0, abs(loss.item()))
    worst = 0.0
    for name, prm in model.named_parameters():
        g = prm.grad
        gw = d["grad." + name].double()
        scale = g.abs().max().item() + 1e-12
        err = (g - gw).abs().max().item() / scale
        worst = max(worst, err)
        if err > 1e-3:
            print("  %-32s max |torch - wsk| / max |torch| = %.2e  MISMATCH" % (name, err))
            ok = False
    print("gradients: %d tensors, worst max|torch - wsk| / max|torch| = %.2e (tolerance 1e-3)"
          % (len(list(model.parameters())), worst))
    print("check: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=sorted(NETS), default="mlp")
    ap.add_argument("--batch", type=int, default=32, help="models per step (2 views each)")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2, help="encoder and decoder blocks, each")
    ap.add_argument("--ffn", type=int, default=0, help="FFN width (default 4 * dim)")
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    ap.add_argument("--repeats", type=int, default=5, help="best of this many repeats")
    ap.add_argument("--wsk", help="the wsk program, to time (and --check) it too")
    ap.add_argument("--check", action="store_true", help="compare wsk's loss and gradients")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check:
        if not args.wsk:
            sys.exit("--check needs --wsk PATH")
        return check(args)
    # torch and wsk take turns, so that both see the same load; best of the repeats
    step = torch_stepper(args)
    t = w = float("inf")
    for _ in range(args.repeats):
        t = min(t, time_torch(step, args.steps))
        if args.wsk:
            w = min(w, time_wsk(args))
    print("SSL training step, %s, d_model %d, %d heads, %d+%d blocks, latent %d, %d models "
          "(%d views), one thread:" % (args.arch, args.dim, args.heads, args.layers, args.layers,
                                       args.latent, args.batch, 2 * args.batch))
    print("  torch %s: %8.2f ms" % (torch.__version__, t))
    if args.wsk:
        print("  wsk:         %8.2f ms" % w)
        print("  ratio torch / wsk: %.2fx" % (t / w))
    return 0


if __name__ == "__main__":
    sys.exit(main())
