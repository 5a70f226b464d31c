"""Privacy, measured (chapter 15): federated averaging over clients, and DP-SGD from scratch and with Opacus.

- **Federated averaging** (FedAvg, McMahan et al. 2017): the data stay on
  ``n`` clients; each round every client trains a copy of the global model
  for a few local steps on its own data, and the server replaces the
  global weights by the clients' weights averaged, weighted by how many
  examples each holds. Only weights travel. Compared with training on the
  pooled data for the same number of gradient steps, on an even split and
  on a label-skewed one (each client holds only some digits).
- **DP-SGD** (Abadi et al. 2016): clip every example's gradient to norm at
  most C, sum, add Gaussian noise N(0, σ²C²), divide by the batch size,
  step. :func:`dp_sgd_step` writes it from scratch with ``torch.func``;
  :func:`opacus_step` does the same step with Opacus, which the course
  uses for real training because it also keeps the privacy account: ε at
  a stated δ for the noise multiplier σ, the sampling rate and the steps.

The model is a small MLP on the 3,500 training digits (784 -> 64 -> 10),
scored on the 1,000 test digits. Every run is seeded; steps are fixed.
"""
from __future__ import annotations

import contextlib
import copy
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from mmcourse.data.digit_images import load_digit_images

SPLITS = ("even", "skewed")
DELTA = 1e-5  # the δ every ε here is stated at: well below 1 / 3,500 training digits


def digit_tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits of ``split`` ('train' or 'test') as flat pixels (N, 784) float32 and labels (N,) int64."""
    images, labels = load_digit_images(split)
    return torch.from_numpy(images.reshape(len(images), -1)), torch.from_numpy(labels)


def make_mlp(seed: int = 0, hidden: int = 64) -> nn.Sequential:
    """A fresh 784 -> hidden -> 10 MLP (ReLU), its weights drawn with ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows of x (N, 784) whose arg-max logit is y (N,)."""
    return float((model(x).argmax(dim=1) == y).float().mean())


def client_splits(labels: np.ndarray | torch.Tensor, n_clients: int = 3, kind: str = "even", seed: int = 0
                  ) -> list[np.ndarray]:
    """Indices of the examples each of ``n_clients`` holds: a random even split, or 'skewed' by label.

    'skewed' sorts the examples by label and cuts the list into
    ``n_clients`` consecutive parts, so with 3 clients and 10 digits each
    holds three or four digits and no other (the extreme of non-IID data).
    """
    if kind not in SPLITS:
        raise ValueError(f"kind must be one of {SPLITS}, got {kind!r}")
    labels = np.asarray(labels)
    if isinstance(n_clients, bool) or not isinstance(n_clients, int) or not 1 <= n_clients <= len(labels):
        raise ValueError(f"n_clients must be an int in [1, {len(labels)}], got {n_clients!r}")
    order = np.random.default_rng(seed).permutation(len(labels))
    if kind == "skewed":
        order = order[np.argsort(labels[order], kind="stable")]  # by label, shuffled within each label
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def sgd_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int, lr: float,
              generator: torch.Generator) -> nn.Module:
    """``steps`` plain SGD steps on batches drawn with replacement from (x (N, 784), y (N,)); ``model`` in place."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        batch = torch.randint(0, len(y), (batch_size,), generator=generator)
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def federated_averaging(x: torch.Tensor, y: torch.Tensor, clients: list[np.ndarray], rounds: int, local_steps: int,
                        batch_size: int = 32, lr: float = 0.1, seed: int = 0, progress: bool = True) -> nn.Module:
    """FedAvg: ``rounds`` rounds of ``local_steps`` SGD steps on each client, then the size-weighted mean of weights."""
    model = make_mlp(seed)
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([len(c) for c in clients], dtype=torch.float32)
    shares = sizes / sizes.sum()  # (n_clients,) each client's weight in the average
    for _ in tqdm(range(rounds), desc="FedAvg rounds", disable=not progress, leave=False):
        states = [sgd_steps(copy.deepcopy(model), x[c], y[c], local_steps, batch_size, lr, generator).state_dict()
                  for c in clients]
        model.load_state_dict({k: sum(share * state[k] for share, state in zip(shares, states)) for k in states[0]})
    return model


def fedavg_study(rounds: int = 15, local_steps: int = 10, n_clients: int = 3, batch_size: int = 32, lr: float = 0.1,
                 seed: int = 0, progress: bool = True) -> dict[str, float]:
    """Test accuracy of centralised training and of FedAvg on an even and a label-skewed split, same gradient steps.

    Centralised training takes ``rounds * local_steps * n_clients`` steps
    of the same batch size on the pooled data: as many examples as the
    clients see in all.
    """
    x, y = digit_tensors("train")
    x_test, y_test = digit_tensors("test")
    central = sgd_steps(make_mlp(seed), x, y, rounds * local_steps * n_clients, batch_size, lr,
                        torch.Generator().manual_seed(seed))
    scores = {"centralised": accuracy(central, x_test, y_test)}
    for kind in SPLITS:
        clients = client_splits(y.numpy(), n_clients, kind, seed)
        model = federated_averaging(x, y, clients, rounds, local_steps, batch_size, lr, seed, progress)
        scores[f"fedavg_{kind}"] = accuracy(model, x_test, y_test)
    return scores


def per_example_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """{parameter name: the gradient of each example's loss, (B, *shape)}, by ``torch.func.vmap`` over ``grad``."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_of_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = torch.func.functional_call(model, p, (xi[None],))  # (1, 10): a batch of one
        return F.cross_entropy(logits, yi[None])

    return torch.func.vmap(torch.func.grad(loss_of_one), in_dims=(None, 0, 0))(params, x, y)


def dp_sgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, max_grad_norm: float,
                noise_multiplier: float, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One DP-SGD step from scratch on the batch (x (B, ...), y (B,)), ``model`` updated in place.

    g_i = ∇ loss_i;  ĝ_i = g_i · min(1, C / (‖g_i‖ + 1e-6));  g = (Σ ĝ_i + N(0, σ² C² I)) / B;
    θ ← θ − lr g.
    ‖g_i‖ is the norm of example i's gradient over all parameters at once.
    Returns the noisy mean gradient per parameter name.
    """
    if not max_grad_norm > 0 or not noise_multiplier >= 0:
        raise ValueError(f"max_grad_norm must be > 0 and noise_multiplier >= 0, got {max_grad_norm!r} and "
                         f"{noise_multiplier!r}")
    grads = per_example_grads(model, x, y)  # {name: (B, *shape)}
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(dim=1) for g in grads.values()))  # (B,)
    factor = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)  # (B,) shrink only those above C
    noisy = {}
    for name, g in grads.items():
        total = torch.einsum("i,i...->...", factor, g)  # Σ_i ĝ_i
        noise = torch.normal(0.0, noise_multiplier * max_grad_norm, size=total.shape, generator=generator)
        noisy[name] = (total + noise) / len(y)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p -= lr * noisy[name]
    return noisy


@contextlib.contextmanager
def _quiet_opacus():
    """Hide the Opacus notices that are expected here (no secure RNG; the RDP orders; backward hooks)."""
    with warnings.catch_warnings():
        for message in (".*[Ss]ecure RNG.*", ".*[Oo]ptimal order.*", ".*full_backward_hook.*"):
            warnings.filterwarnings("ignore", message=message)
        yield


def opacus_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, max_grad_norm: float,
                noise_multiplier: float, grad_sample_mode: str = "hooks") -> nn.Module:
    """The same DP-SGD step by Opacus: ``make_private`` on the one batch, Poisson sampling off; ``model`` in place.

    Returns ``model``, unwrapped again (no Opacus hooks left on it).
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    with _quiet_opacus():
        engine = PrivacyEngine(accountant="rdp")
        private, optimizer, loader = engine.make_private(
            module=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
            data_loader=DataLoader(TensorDataset(x, y), batch_size=len(y)), noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm, poisson_sampling=False, grad_sample_mode=grad_sample_mode)
        xb, yb = next(iter(loader))
        loss = F.cross_entropy(private(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return private.to_standard_module()  # ``model`` itself, Opacus's hooks and per-example gradients removed


def train_dp(noise_multiplier: float, epochs: int = 2, batch_size: int = 128, lr: float = 2.0,
             max_grad_norm: float = 1.0, delta: float = DELTA, seed: int = 0, progress: bool = True
             ) -> dict[str, float]:
    """Train the MLP with Opacus's DP-SGD (Poisson sampling, RDP accountant); its test accuracy and ε at ``delta``.

    ``noise_multiplier = 0`` clips but adds no noise: ε is infinite.
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    x, y = digit_tensors("train")
    x_test, y_test = digit_tensors("test")
    model = make_mlp(seed)
    torch.manual_seed(seed)
    with _quiet_opacus():
        engine = PrivacyEngine(accountant="rdp")
        private, optimizer, loader = engine.make_private(
            module=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
            data_loader=DataLoader(TensorDataset(x, y), batch_size=batch_size), noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm, noise_generator=torch.Generator().manual_seed(seed))
        for _ in tqdm(range(epochs), desc=f"DP-SGD σ={noise_multiplier}", disable=not progress, leave=False):
            for xb, yb in loader:
                if len(yb) == 0:  # Poisson sampling can draw an empty batch
                    continue
                loss = F.cross_entropy(private(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        epsilon = engine.get_epsilon(delta) if noise_multiplier > 0 else float("inf")
    model = private.to_standard_module()  # the trained MLP, Opacus's hooks removed
    return {"noise_multiplier": noise_multiplier, "epsilon": float(epsilon),
            "accuracy": accuracy(model, x_test, y_test)}


def dp_study(noise_multipliers: tuple[float, ...] = (0.0, 0.7, 1.5, 4.0), epochs: int = 2, seed: int = 0,
             progress: bool = True) -> list[dict[str, float]]:
    """``train_dp`` for each noise multiplier (0 = clipping only, no privacy): rows of σ, ε at ``DELTA``, accuracy."""
    return [train_dp(sigma, epochs=epochs, seed=seed, progress=progress) for sigma in noise_multipliers]
