"""Numerical references for tests/unit/test_fit.c (numpy, float64).

    fit_ref.py ridge   DIR n d m l2   reads DIR/X.f32 DIR/Y.f32, writes DIR/out.f64 = [W (d*m), b (m)]
    fit_ref.py softmax DIR n d k l2   reads DIR/X.f32 DIR/y.i32, writes DIR/out.f64 = [loss, W (k*d), b (k)]

Objectives are the ones documented in workers/engine/fit.h. Exits 77 if
numpy is missing so the C test can skip this part.
"""
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)


def ridge(d_, n, d, m, l2):
    X = np.fromfile(d_ + "/X.f32", np.float32).reshape(n, d).astype(np.float64)
    Y = np.fromfile(d_ + "/Y.f32", np.float32).reshape(n, m).astype(np.float64)
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    W = np.linalg.solve(Xc.T @ Xc + l2 * np.eye(d), Xc.T @ Yc)
    b = my - mx @ W
    return np.concatenate([W.ravel(), b])


def softmax_objective(V, Xa, Y1, l2, n, d):
    Z = Xa @ V.T
    Z -= Z.max(1, keepdims=True)
    lse = np.log(np.exp(Z).sum(1))
    P = np.exp(Z - lse[:, None])
    W = V[:, :d]
    loss = ((lse - (Z * Y1).sum(1)).sum() + 0.5 * l2 * (W * W).sum()) / n
    G = (P - Y1).T @ Xa / n
    G[:, :d] += l2 * W / n
    return loss, G, P


def softmax(d_, n, d, k, l2):
    """Damped Newton on [W | b]; the Hessian is singular along b += c*1,
    so steps use the pseudo-inverse."""
    X = np.fromfile(d_ + "/X.f32", np.float32).reshape(n, d).astype(np.float64)
    y = np.fromfile(d_ + "/y.i32", np.int32)
    Xa = np.hstack([X, np.ones((n, 1))])
    Y1 = np.eye(k)[y]
    V = np.zeros((k, d + 1))
    reg = np.zeros(d + 1)
    reg[:d] = l2 / n
    for _ in range(200):
        loss, G, P = softmax_objective(V, Xa, Y1, l2, n, d)
        if np.linalg.norm(G) < 1e-12:
            break
        H = np.zeros((k * (d + 1), k * (d + 1)))
        for i in range(n):
            A = np.diag(P[i]) - np.outer(P[i], P[i])
            H += np.kron(A, np.outer(Xa[i], Xa[i]))
        H /= n
        H += np.kron(np.eye(k), np.diag(reg))
        step = (np.linalg.pinv(H) @ G.ravel()).reshape(k, d + 1)
        t = 1.0
        while t > 1e-10:
            nl = softmax_objective(V - t * step, Xa, Y1, l2, n, d)[0]
            if nl <= loss:
                break
            t *= 0.5
        V = V - t * step
    loss = softmax_objective(V, Xa, Y1, l2, n, d)[0]
    return np.concatenate([[loss], V[:, :d].ravel(), V[:, d]])


def main():
    mode, d_ = sys.argv[1], sys.argv[2]
    n, d, m = (int(a) for a in sys.argv[3:6])
    l2 = float(sys.argv[6])
    out = ridge(d_, n, d, m, l2) if mode == "ridge" else softmax(d_, n, d, m, l2)
    out.astype(np.float64).tofile(d_ + "/out.f64")


if __name__ == "__main__":
    main()
