"""skfolio's probabilistic and deflated Sharpe ratios; runs in the reference venv (benchmarks/vectorbt_env).

    python tests/backtest/skfolio_runner.py inputs.json outputs.json

Input: a list of {"returns": [...], "benchmark": SR*, "trial_sharpes": [...]}; output, per
item, skfolio's PSR against the benchmark and its DSR given the trials' Sharpe ratios.
Imports only numpy and skfolio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from skfolio import __version__
from skfolio.measures import deflated_sharpe_ratio, expected_max_sharpe_ratio, probabilistic_sharpe_ratio

items = json.loads(Path(sys.argv[1]).read_text())
out = []
for item in items:
    returns = np.asarray(item["returns"])
    trials = np.asarray(item["trial_sharpes"])
    out.append({"psr": probabilistic_sharpe_ratio(returns, benchmark_sharpe_ratio=item["benchmark"]),
                "dsr": deflated_sharpe_ratio(returns, trials),
                "expected_max_sharpe": expected_max_sharpe_ratio(len(trials), float(np.std(trials, ddof=1))),
                "version": __version__})
Path(sys.argv[2]).write_text(json.dumps(out))
