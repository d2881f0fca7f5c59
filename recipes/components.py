"""Method components fitted on a FROZEN multi-exit backbone, from cached
[CLS] states (one [N, hidden] tensor per layer, dropout off):

  PALBERT lambda layers  (PonderNet halting; Balagansky & Gavrilov 2022)
  BERxiT learn-to-exit   (Xin et al., EACL 2021)
  JEI-DNN gates + IMs    (Regol, Chataoui & Coates, ICLR 2024)
  DeeBERT second stage   (Xin et al., ACL 2020): exit heads on a frozen
                         backbone trained with only its final head.

Every function takes the frozen exit heads (a ModuleList of ExitHead) and
returns plain tensors ready for export."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

# A sigmoid that is exactly 1.0 in float32: the last layer always halts/exits.
ALWAYS = 30.0


def _batches(n, bs, gen):
    perm = torch.randperm(n, generator=gen)
    for s in range(0, n, bs):
        yield perm[s:s + bs]


def per_exit_loss(logits, y, regression):
    """Per-example loss of one exit: CE, or squared error for regression."""
    if regression:
        return (logits.squeeze(-1) - y) ** 2
    return F.cross_entropy(logits, y, reduction="none")


def _frozen_outputs(heads, feats):
    """pooled (tanh(dense(h))) and logits of every frozen exit head."""
    with torch.no_grad():
        pooled = [h.pooled(f) for h, f in zip(heads, feats)]
        logits = [h.classifier(p) for h, p in zip(heads, pooled)]
    return pooled, logits


def halting_distribution(lams):
    """p_i = lambda_i prod_{j<i} (1 - lambda_j) with the last lambda forced
    to 1 so that sum_i p_i = 1. lams: [N, L] with the last column ignored."""
    n, L = lams.shape
    lams = torch.cat([lams[:, :L - 1], torch.ones(n, 1)], dim=1)
    survive = torch.cumprod(torch.cat([torch.ones(n, 1), 1 - lams[:, :L - 1]], dim=1), dim=1)
    return lams * survive


def geometric_prior(L, lam_p):
    """PonderNet's geometric prior truncated to L steps and renormalised."""
    p = torch.tensor([lam_p * (1 - lam_p) ** i for i in range(L)])
    return p / p.sum()


def fit_palbert(heads, feats, y, regression, beta, lam_p, epochs, lr, seed, log):
    """lambda_i = sigmoid(w_i . pooled_i + b_i); loss = sum_i p_i L_i +
    beta KL(p || geometric(lam_p)). Returns (W [L,H], b [L])."""
    L, H = len(feats), feats[0].shape[1]
    pooled, logits = _frozen_outputs(heads, feats)
    losses = torch.stack([per_exit_loss(lg, y, regression) for lg in logits], 1)
    P = torch.stack(pooled, 1)                      # [N, L, H]
    prior = geometric_prior(L, lam_p)
    W = nn.Parameter(torch.zeros(L - 1, H))
    b = nn.Parameter(torch.zeros(L - 1))
    opt = torch.optim.Adam([W, b], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = y.shape[0]
    for ep in range(epochs):
        tot = 0.0
        for idx in _batches(n, 64, gen):
            z = (P[idx, :L - 1] * W).sum(-1) + b    # [B, L-1]
            lams = torch.cat([torch.sigmoid(z), torch.ones(len(idx), 1)], 1)
            p = halting_distribution(lams)
            task = (p * losses[idx]).sum(1)
            kl = (p * (torch.log(p + 1e-12) - torch.log(prior))).sum(1)
            loss = (task + beta * kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        if ep == 0 or (ep + 1) % 10 == 0:
            log("  palbert epoch %d loss %.4f" % (ep + 1, tot / n))
    Wf = torch.cat([W.detach(), torch.zeros(1, H)], 0)
    bf = torch.cat([b.detach(), torch.tensor([ALWAYS])], 0)
    return Wf, bf


def correctness(logits, y, regression):
    """BERxiT target: 1 if the exit is right (classification), or
    exp(-(y_hat - y)^2) for regression (the certainty form of BERxiT's
    1 - exp(-squared error) uncertainty target)."""
    if regression:
        return torch.exp(-(logits.squeeze(-1) - y) ** 2)
    return (logits.argmax(-1) == y).float()


def fit_berxit(heads, feats, y, regression, epochs, lr, seed, log):
    """One shared linear on the pooled exit state of every layer, sigmoid =
    predicted certainty, trained with BCE on correctness. Returns (w [1,H], b [1])."""
    L, H = len(feats), feats[0].shape[1]
    pooled, logits = _frozen_outputs(heads, feats)
    X = torch.cat(pooled, 0)
    T = torch.cat([correctness(lg, y, regression) for lg in logits], 0)
    lin = nn.Linear(H, 1)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    opt = torch.optim.Adam(lin.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        tot = 0.0
        for idx in _batches(X.shape[0], 256, gen):
            loss = F.binary_cross_entropy_with_logits(lin(X[idx]).squeeze(-1), T[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        if ep == 0 or (ep + 1) % 10 == 0:
            log("  berxit epoch %d bce %.4f" % (ep + 1, tot / X.shape[0]))
    return lin.weight.detach().clone(), lin.bias.detach().clone()


def gate_features(im, h, regression):
    """[pooled ; probs ; entropy] of an inference module on [CLS] states h.
    For regression 'probs' is the predicted score and the entropy is 0."""
    pooled = im.pooled(h)
    out = im.classifier(pooled)
    if regression:
        return torch.cat([pooled, out, torch.zeros_like(out)], -1), out
    probs = torch.softmax(out, -1)
    ent = -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1, keepdim=True)
    return torch.cat([pooled, probs, ent], -1), out


def exit_distribution(g):
    """P_i = g_i prod_{j<i}(1-g_j), last gate forced to 1. g: [N, L]."""
    return halting_distribution(g)


def fit_jei(heads, feats, y, regression, lam, epochs, lr_im, lr_gate, seed, log):
    """JEI-DNN on a frozen backbone, bi-level alternating optimisation of
        J = E_x sum_i P_i(x) [ L_i(x) + lam * c_i ],  c_i = (i+1)/L,
    P_i the exit distribution of the sequential gates. Inner step: the IMs
    (copies of the exit heads) minimise sum_i P_i L_i with gates fixed;
    outer step: the gates minimise J with the IMs fixed.
    Returns (gate W [L, D], gate b [L], list of fine-tuned IM heads)."""
    L, H = len(feats), feats[0].shape[1]
    ims = nn.ModuleList([copy.deepcopy(h) for h in heads])
    for im in ims:
        im.drop.p = 0.0
        for prm in im.parameters():
            prm.requires_grad_(True)
    D = H + (1 if regression else heads[0].classifier.out_features) + 1
    gW = nn.Parameter(torch.zeros(L - 1, D))
    gb = nn.Parameter(torch.zeros(L - 1))
    opt_im = torch.optim.Adam(ims.parameters(), lr=lr_im)
    opt_g = torch.optim.Adam([gW, gb], lr=lr_gate)
    cost = torch.tensor([(i + 1) / L for i in range(L)])
    gen = torch.Generator().manual_seed(seed)
    n = y.shape[0]

    def forward(idx):
        fs, ls = [], []
        for i in range(L):
            f, out = gate_features(ims[i], feats[i][idx], regression)
            fs.append(f)
            ls.append(per_exit_loss(out, y[idx], regression))
        return torch.stack(fs, 1), torch.stack(ls, 1)

    def gates(F_):
        z = (F_[:, :L - 1] * gW).sum(-1) + gb
        return exit_distribution(torch.cat([torch.sigmoid(z), torch.ones(z.shape[0], 1)], 1))

    for ep in range(epochs):
        tim = tg = 0.0
        for idx in _batches(n, 64, gen):       # inner: IMs, gates fixed
            Fx, Lx = forward(idx)
            with torch.no_grad():
                P = gates(Fx)
            loss = (P * Lx).sum(1).mean()
            opt_im.zero_grad()
            loss.backward()
            opt_im.step()
            tim += loss.item() * len(idx)
        for idx in _batches(n, 64, gen):       # outer: gates, IMs fixed
            with torch.no_grad():
                Fx, Lx = forward(idx)
            P = gates(Fx)
            loss = (P * (Lx + lam * cost)).sum(1).mean()
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            tg += loss.item() * len(idx)
        if ep == 0 or (ep + 1) % 10 == 0:
            log("  jei epoch %d im-loss %.4f gate-objective %.4f" % (ep + 1, tim / n, tg / n))
    W = torch.cat([gW.detach(), torch.zeros(1, D)], 0)
    b = torch.cat([gb.detach(), torch.tensor([ALWAYS])], 0)
    for im in ims:
        for prm in im.parameters():
            prm.requires_grad_(False)
    return W, b, ims


def fit_deebert_stage2(heads, feats, y, regression, epochs, lr, seed, log):
    """DeeBERT stage 2: train exit heads 0..L-2 on the frozen backbone (the
    final head L-1 is the one trained with the backbone in stage 1)."""
    L = len(feats)
    params = [p for h in heads[:L - 1] for p in h.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = y.shape[0]
    for h in heads:
        h.train()
    for ep in range(epochs):
        tot = 0.0
        for idx in _batches(n, 64, gen):
            loss = sum(per_exit_loss(heads[i](feats[i][idx]), y[idx], regression).mean()
                       for i in range(L - 1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        log("  deebert stage-2 epoch %d sum-loss %.4f" % (ep + 1, tot / n))
    for h in heads:
        h.eval()
    for p in params:
        p.requires_grad_(False)


def simulate(heads, feats, y, regression, comps):
    """Decision rules at default thresholds on cached states, for logging:
    PALBERT Q-exit (cumulative halting prob > 0.5), BERxiT (certainty >= 0.5),
    JEI (gate >= 0.5, IM prediction). Returns dict name -> (correct-or-sqerr
    list, exit layer list, 1-based)."""
    L = len(feats)
    pooled, logits = _frozen_outputs(heads, feats)
    n = y.shape[0]
    res = {}
    with torch.no_grad():
        if "palbert" in comps:
            W, b = comps["palbert"]
            lams = torch.sigmoid(torch.stack([(pooled[i] * W[i]).sum(-1) + b[i] for i in range(L)], 1))
            cum = torch.cumsum(halting_distribution(lams), 1)
            layer = torch.argmax((cum > 0.5).int(), 1)
            res["palbert(q=0.5)"] = (layer, torch.stack(logits, 1)[torch.arange(n), layer])
        if "berxit" in comps:
            w, b = comps["berxit"]
            cert = torch.sigmoid(torch.stack([(pooled[i] * w[0]).sum(-1) + b[0] for i in range(L)], 1))
            ok = cert >= 0.5
            ok[:, L - 1] = True
            layer = torch.argmax(ok.int(), 1)
            res["berxit(t=0.5)"] = (layer, torch.stack(logits, 1)[torch.arange(n), layer])
        if "jei" in comps:
            W, b, ims = comps["jei"]
            fs, outs = zip(*[gate_features(ims[i], feats[i], regression) for i in range(L)])
            g = torch.sigmoid(torch.stack([(fs[i] * W[i]).sum(-1) + b[i] for i in range(L)], 1))
            ok = g >= 0.5
            layer = torch.argmax(ok.int(), 1)
            res["jei(g=0.5)"] = (layer, torch.stack(outs, 1)[torch.arange(n), layer])
    return res
