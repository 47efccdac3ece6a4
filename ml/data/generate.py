"""A deterministic generator of customer-churn snapshots: the bundled reference data.

The same (rows, seed, profile) always gives byte-identical CSV. Profiles:
- `2025Q1`: the reference population;
- `2025Q2`: a drifted quarter: more fibre customers, higher prices, more support calls and a
  churn mechanism that weighs price more, as happens after a price rise.
Both stay inside the data contract: drift is a retraining signal, not a contract violation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENT_METHODS = ["electronic-check", "mailed-check", "bank-transfer", "credit-card"]
INTERNET_SERVICES = ["dsl", "fiber", "none"]


@dataclass(frozen=True)
class Profile:
    contract_p: tuple[float, float, float]
    internet_p: tuple[float, float, float]
    charge_shift: float
    support_rate: float
    price_weight: float
    total_missing: float


PROFILES: dict[str, Profile] = {
    "2025Q1": Profile((0.55, 0.25, 0.20), (0.35, 0.45, 0.20), 0.0, 1.2, 1.0, 0.01),
    "2025Q2": Profile((0.62, 0.22, 0.16), (0.25, 0.60, 0.15), 9.0, 1.9, 1.6, 0.012),
}
DEFAULT_SEEDS = {"2025Q1": 20250101, "2025Q2": 20250401}
BUNDLED_ROWS = 20_000  # rows of the committed snapshots under data/snapshots/


def generate(rows: int, seed: int, profile: str = "2025Q1", id_offset: int = 0) -> pd.DataFrame:
    """Return `rows` customers drawn from `profile` with a seeded generator."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    p = PROFILES[profile]
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, size=rows, p=p.contract_p)
    internet = rng.choice(INTERNET_SERVICES, size=rows, p=p.internet_p)
    payment = rng.choice(PAYMENT_METHODS, size=rows, p=(0.35, 0.2, 0.22, 0.23))
    senior = (rng.random(rows) < 0.16).astype(int)
    base_tenure = np.where(contract == "two-year", 40, np.where(contract == "one-year", 26, 12))
    tenure = np.clip(rng.normal(base_tenure, 14), 0, 72).round().astype(int)
    charges = (
        20.0
        + np.where(internet == "fiber", 55.0, np.where(internet == "dsl", 30.0, 0.0))
        + rng.normal(10.0, 9.0, rows)
        + p.charge_shift
    )
    charges = np.clip(charges, 18.0, 120.0).round(2)
    total = (tenure * charges * rng.normal(1.0, 0.04, rows)).clip(0).round(2)
    total = np.where(rng.random(rows) < p.total_missing, np.nan, total)
    support = np.clip(rng.poisson(p.support_rate + (internet == "fiber") * 0.6, rows), 0, 15)

    logit = (
        -1.9
        + 1.5 * (contract == "month-to-month")
        - 1.2 * (contract == "two-year")
        - 0.045 * tenure
        + p.price_weight * 0.03 * (charges - 65.0)
        + 0.35 * support
        + 0.55 * (payment == "electronic-check")
        + 0.3 * senior
        + 0.4 * (internet == "fiber")
        + rng.normal(0, 0.6, rows)
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:08d}" for i in range(id_offset + 1, id_offset + rows + 1)],
            "tenure_months": tenure,
            "monthly_charges": charges,
            "total_charges": total,
            "support_calls": support,
            "senior_citizen": senior,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "churned": churned,
        }
    )


def write_snapshot(
    path: Path,
    rows: int,
    seed: int,
    profile: str,
    chunk_rows: int = 200_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a snapshot CSV in chunks (so a 1M-row variant needs little memory).

    Byte-identical for the same (rows, seed, profile, chunk_rows). The file appears under its
    final name only when complete; `on_progress(written, rows)` is called after every chunk.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            written = 0
            chunk = 0
            while written < rows:
                n = min(chunk_rows, rows - written)
                df = generate(n, seed + chunk, profile, id_offset=written)
                df.to_csv(
                    fh, index=False, header=(written == 0), float_format="%.2f", lineterminator="\n"
                )
                written += n
                chunk += 1
                if on_progress:
                    on_progress(written, rows)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
