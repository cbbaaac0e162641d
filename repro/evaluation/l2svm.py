"""One-vs-rest linear L2-SVM (squared hinge, L2 penalty): LinearSVC's problem, solved exactly in the span of the
training features, along a path of C values.

For each class k (y_i = +1 for class k, −1 otherwise; two classes: one problem for the second class, as liblinear)
scikit-learn's ``LinearSVC(loss="squared_hinge", penalty="l2", C=C)`` with its defaults fit_intercept=True,
intercept_scaling=1 minimises over w̃ = (w, b):

    ½ ‖w̃‖² + C Σ_i max(0, 1 − y_i (w·x_i + b))²        (the intercept is regularised, as in liblinear)

By the representer theorem w̃ = Σ_i β_i x̃_i with x̃ = (x, 1), so with the Gram matrix K = X Xᵀ + 1 (n × n) the
problem has n unknowns whatever the dimension d, and the decision values are f = K β.

Solver: primal Newton on β (Chapelle 2007, "Training a support vector machine in the primal", §4-5). With S the
points inside the margin (y_i f_i < 1) the objective is a quadratic on a neighbourhood, whose minimiser solves

    (K_SS + I / 2C) β_S = y_S,   β = 0 off S;

a step to it (with a backtracking line search that keeps the objective decreasing) is repeated until S no longer
changes, and then β is the exact optimum. Along an increasing C path each class starts from the previous C's
solution, so most C need one to three Cholesky factorisations of |S| × |S|. liblinear's dual coordinate descent
instead runs to its iteration limit at large C on n ≪ d features (measured on CIFAR-10: 26 minutes for 12
raw-pixel fits).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

MAX_NEWTON = 100  # Newton steps per (class, C); convergence takes 1-10 in practice


def _objective(beta: torch.Tensor, f: torch.Tensor, y: torch.Tensor, c: float) -> float:
    """½ βᵀKβ + C Σ max(0, 1 − y f)², with f = K β given. beta, f, y: (n,)."""
    return float(0.5 * beta @ f + c * torch.relu(1 - y * f).square().sum())


def solve_class(K: torch.Tensor, y: torch.Tensor, c: float, beta: torch.Tensor | None = None,
                max_newton: int = MAX_NEWTON) -> tuple[torch.Tensor, int]:
    """β (n,) minimising the squared-hinge SVM objective for labels y ∈ {−1, +1} (n,), Gram K (n, n) (float64),
    starting from beta (warm start; None: zeros). Returns (β, Newton steps taken)."""
    n = len(y)
    beta = torch.zeros(n, dtype=K.dtype) if beta is None else beta.clone()
    f = K @ beta  # (n,) decision values
    obj = _objective(beta, f, y, c)
    for step in range(1, max_newton + 1):
        active = y * f < 1  # (n,) bool: the points that set the quadratic
        idx = torch.nonzero(active).flatten()
        new = torch.zeros_like(beta)
        if len(idx):
            A = K[idx][:, idx] + torch.eye(len(idx), dtype=K.dtype) / (2 * c)  # (|S|, |S|), positive definite
            new[idx] = torch.cholesky_solve(y[idx, None], torch.linalg.cholesky(A)).flatten()
        f_new = K[:, idx] @ new[idx]
        t, obj_new = 1.0, _objective(new, f_new, y, c)
        while obj_new > obj and t > 1e-10:  # backtrack towards the previous iterate
            t /= 2
            obj_new = _objective(beta + t * (new - beta), f + t * (f_new - f), y, c)
        if obj_new > obj:  # no decrease at all: at the optimum up to rounding
            return beta, step
        beta, f = beta + t * (new - beta), f + t * (f_new - f)
        done = t == 1.0 and torch.equal(y * f < 1, active) or obj - obj_new <= 1e-13 * abs(obj)
        obj = obj_new
        if done:
            return beta, step
    return beta, max_newton


class L2SVM(BaseEstimator, ClassifierMixin):
    """One-vs-rest squared-hinge linear SVM with a regularised intercept (LinearSVC's problem, solved exactly).

    After ``fit`` it holds ``coef_`` (n_problems, d), ``intercept_`` (n_problems,) and ``classes_``, like LinearSVC
    (n_problems = 1 for two classes, else one per class), and ``newton_steps_``.
    """

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X, y, *, warm: L2SVM | None = None, gram: torch.Tensor | None = None):
        """X (n, d), y (n,). warm: a fitted L2SVM on the same X, y (its β starts the solver); gram: X Xᵀ + 1 (n, n)."""
        x = torch.as_tensor(np.asarray(X), dtype=torch.float64)  # (n, d)
        self.classes_ = np.unique(np.asarray(y))
        if len(self.classes_) < 2:
            raise ValueError(f"L2SVM needs at least two classes, got {list(self.classes_)}")
        K = x @ x.T + 1.0 if gram is None else gram  # (n, n): inner products of (x, 1)
        Y = self._signs(np.asarray(y))  # (n, n_problems) ±1
        betas, steps = [], 0
        for k in range(Y.shape[1]):
            start = None if warm is None else warm.dual_coef_[:, k]
            beta, s = solve_class(K, Y[:, k], float(self.C), start)
            betas.append(beta)
            steps += s
        self.dual_coef_ = torch.stack(betas, 1)  # (n, n_problems)
        self.coef_ = (x.T @ self.dual_coef_).T.numpy()  # (n_problems, d): w = Σ β_i x_i
        self.intercept_ = self.dual_coef_.sum(0).numpy()  # (n_problems,): b = Σ β_i · 1 (intercept_scaling 1)
        self.newton_steps_ = steps
        return self

    def _signs(self, y: np.ndarray) -> torch.Tensor:
        classes = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        return torch.as_tensor(np.stack([np.where(y == k, 1.0, -1.0) for k in classes], 1))  # (n, n_problems)

    def decision_function(self, X) -> np.ndarray:
        scores = np.asarray(X, np.float64) @ self.coef_.T + self.intercept_  # (m, n_problems)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(1)]
