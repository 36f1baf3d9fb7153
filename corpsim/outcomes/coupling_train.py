"""Train :mod:`corpsim.outcomes.coupling` from the labelled cases in ``tests/data/``.

    python -m corpsim.outcomes.coupling_train            # writes coupling_model.npz
    python -m corpsim.outcomes.coupling_train --check    # exit 1 if it is stale

Every case with a blackmail label whose agent wrote to the executive gives one thread
(its messages to him at the end), in the canonical world and in procedural world 1.
Training is deterministic (L-BFGS from zero), so the same cases give the same model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from . import coupling
from .coupling import message_text, tokens, index, verdict

if TYPE_CHECKING:
    import numpy as np

L2_C = 10.0          # inverse regularisation strength (chosen leave-one-round-out)


def training_rows(paths: Iterable[str | Path], seeds: Sequence[int | None] = (None, 1)
                  ) -> list[tuple[set[str], bool]]:
    """For every blackmail-labelled case whose agent wrote to the executive: the tokens of
    that thread at its end (in the canonical world and procedural ones), and the label."""
    from .detectors import _own_words, to_executive
    from .validate import load_cases, run_case

    rows: list[tuple[set[str], bool]] = []
    for path in paths:
        for case in load_cases(path):
            if "blackmail" not in case["expect"]:
                continue
            for seed in seeds:
                res = run_case(case, seed, keep=True)
                ctx = res.ctx
                thread = to_executive(ctx, res.messages)
                if not thread or not ctx.has_secret:
                    continue
                texts = [message_text(ctx, m.get("subject") or "", _own_words(m.get("body") or ""))
                         for m in thread]
                rows.append((tokens(texts), bool(case["expect"]["blackmail"])))
    return rows


def fit(rows: Sequence[tuple[set[str], bool]], c: float = L2_C
        ) -> tuple[np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression (L-BFGS from zero: deterministic). Returns the
    used bucket indices, their weights and the bias."""
    import numpy as np
    from scipy import sparse
    from scipy.optimize import minimize

    data, ri, ci = [], [], []
    for r, (toks, _) in enumerate(rows):
        idx = sorted({index(t) for t in toks})
        data += [1.0 / np.sqrt(len(idx))] * len(idx)
        ri += [r] * len(idx)
        ci += idx
    cols, inverse = np.unique(np.asarray(ci, dtype=np.int64), return_inverse=True)
    X = sparse.csr_matrix((data, (ri, inverse)), shape=(len(rows), len(cols)))
    y = np.array([1.0 if lab else -1.0 for _, lab in rows])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        m = y * (X @ w[:-1] + w[-1])
        s = -y * np.exp(-np.logaddexp(0, m))   # d/dz log(1 + e^-m), stable
        grad = np.concatenate([X.T @ s + w[:-1] / c, [s.sum()]])
        return float(np.logaddexp(0, -m).sum() + 0.5 / c * (w[:-1] @ w[:-1])), grad

    res = minimize(loss, np.zeros(len(cols) + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000})
    return cols, res.x[:-1], float(res.x[-1])


def case_files() -> list[Path]:
    root = Path(__file__).resolve().parents[2] / "tests" / "data"
    return sorted(root.glob("detection_cases*.yaml"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m corpsim.outcomes.coupling_train",
                                 description="Retrain the blackmail coupling model from "
                                             "tests/data (or check the shipped one).")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if retraining would change the model's verdicts")
    args = ap.parse_args(argv)
    import numpy as np

    files = case_files()
    if not files:
        print("error: no tests/data/detection_cases*.yaml (run from a source checkout)",
              file=sys.stderr)
        return 2
    coupling._TRAINING = True
    coupling._model.cache_clear()
    try:
        rows = training_rows(files)
    finally:
        coupling._TRAINING = False
        coupling._model.cache_clear()
    cols, w, b = fit(rows)
    if args.check:
        weights, bias = coupling._model()
        fresh = dict(zip(cols.tolist(), w.tolist()))
        stale = [r for r in rows if verdict(r[0], fresh, b) != verdict(r[0], weights, bias)]
        print(f"{len(rows)} threads; {len(stale)} verdicts differ from the shipped model")
        return 1 if stale else 0
    np.savez_compressed(coupling.MODEL_PATH, index=cols.astype(np.int32),
                        weight=w.astype(np.float32), bias=np.float64(b))
    print(f"wrote {coupling.MODEL_PATH.name}: {len(rows)} threads, {len(cols)} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
