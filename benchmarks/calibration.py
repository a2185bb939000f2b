"""Calibration benchmark: adaptive-eval against girth, py-irt and mirt (PyPI) on one split.

Held-out fit on MMLU-Pro: a random 10% of the observed cells of the response matrix is hidden
(``np.random.default_rng(0).random(n_observed) < 0.1``), every method fits the other 90%, and
P(correct) of each hidden cell is scored by AUC-ROC and log-loss. Wall time covers the fit and
the ability estimates needed to predict (not imports or data loading); peak memory is the
peak RSS of the method's own process (it includes Python, the imports and the data; the RSS
just before the fit is reported beside it). Each method runs in its own subprocess: ours in
the project's ``.venv``, the peers in ``benchmarks/.venv-peers``.

Synthetic recovery: 200 examinees x 50,000 items, full matrix, theta ~ N(0, 1),
b ~ N(0, 1), a ~ LogNormal(0, 0.3), seed 0; Pearson r and RMSE of recovered b, a, theta.

Run (from the repository root; about 50 minutes on 2 shared cores, most of it py-irt's
2,000 SVI epochs, girth's 2PL fits and mirt's 4PL, limited to 30 min)::

    make setup                   # the project's .venv
    benchmarks/setup_peers.sh    # benchmarks/.venv-peers: torch==2.13.0, py-irt, girth, mirt
    .venv/bin/python benchmarks/calibration.py   # -> benchmarks/results/calibration.{md,json}

or ``make bench-calibration``. Options: ``--only METHOD ...`` runs a subset,
``--girth-2pl-mml-limit SECONDS`` (default 600), ``--out DIR`` (default benchmarks/results).
One method by itself, as the orchestrator calls it:
``PYTHON benchmarks/calibration.py --method girth-rasch --workdir DIR`` (DIR holds split.npz).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from calibration_report import BARS, markdown, summary_line

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro" / "responses.csv.gz"
OURS_PY = ROOT / ".venv" / "bin" / "python"
PEERS_PY = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results"
HIDE_FRACTION, SEED = 0.1, 0
SYNTH_EXAMINEES, SYNTH_ITEMS = 200, 50_000
KILL_RSS_MIB = 8192  # a worker above this is killed (see _watch)

# method -> (interpreter, description, number of timed runs: best is reported)
METHODS = {
    "ours-rasch": (OURS_PY, "adaptive-eval Rasch, MML-EM (default)", 2),
    "ours-2pl": (OURS_PY, "adaptive-eval 2PL, MML-EM (default)", 2),
    "ours-2pl-bsd3": (OURS_PY, "adaptive-eval 2PL, prior_b_sd=3", 2),
    "ours-2pl-nodes11": (OURS_PY, "adaptive-eval 2PL, n_nodes=11", 2),
    "girth-rasch": (PEERS_PY, "girth rasch_mml + ability_map", 1),
    "girth-2pl-jml": (PEERS_PY, "girth twopl_jml + ability_map", 1),
    "pyirt-1pl": (PEERS_PY, "py-irt 1pl, SVI (defaults)", 1),
    "pyirt-2pl": (PEERS_PY, "py-irt 2pl, SVI (defaults)", 1),
    "mirt-2pl-se": (PEERS_PY, "mirt fit_mirt 2PL, EM (defaults, with SEs) + fscores EAP", 1),
    "mirt-1pl": (PEERS_PY, "mirt fit_mirt 1PL, EM (no SEs) + fscores EAP", 1),
    "mirt-2pl": (PEERS_PY, "mirt fit_mirt 2PL, EM (no SEs) + fscores EAP", 1),
    "mirt-3pl": (PEERS_PY, "mirt fit_mirt 3PL, EM (no SEs) + fscores EAP", 1),
    "mirt-4pl": (PEERS_PY, "mirt fit_mirt 4PL, EM (no SEs) + fscores EAP", 1),
    "synthetic-rasch": (OURS_PY, "adaptive-eval Rasch on 200 x 50,000 synthetic", 2),
    "synthetic-2pl": (OURS_PY, "adaptive-eval 2PL on 200 x 50,000 synthetic", 2),
    # last: it is expected to run into its time limit
    "girth-2pl-mml": (PEERS_PY, "girth twopl_mml + ability_map", 1),
}




# ----------------------------------------------------------------------------------------------
# workers: one method, in its own process; they read split.npz and write METHOD.json (+ .npy)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _peak_mib() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: across fork + exec that keeps the
    orchestrator's RSS at the fork, so every worker would report at least that."""
    return _status_mib("VmHWM")


def _versions(*packages: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _load_split(workdir: Path):
    s = np.load(workdir / "split.npz")
    return (s["model_index"], s["item_index"], s["correct"], s["hide"],
            int(s["n_models"]), int(s["n_items"]))


def _dense(j, i, y, n_models, n_items, missing):
    """models x items float matrix, ``missing`` where a cell is not in (j, i)."""
    out = np.full((n_models, n_items), missing, dtype=float)
    out[j, i] = y
    return out


def fit_ours(model_index, item_index, correct, n_models, n_items, model, **options):
    """adaptive-eval's calibrate on the given cells; returns (theta, b, a, calibration)."""
    from adaptive_eval.banks.responses import ResponseData
    from adaptive_eval.irt.calibration import calibrate

    data = ResponseData([f"m{j}" for j in range(n_models)], [f"q{i}" for i in range(n_items)],
                        model_index.astype(np.int32), item_index.astype(np.int32),
                        correct.astype(np.uint8))
    fit = calibrate(data, model, progress=lambda line: None, **options)
    theta = np.array([fit.abilities[m].theta for m in data.models])
    a = fit.bank.a if fit.bank.a is not None else np.ones(n_items)
    return theta, np.asarray(fit.bank.b), np.asarray(a), fit


OURS_OPTIONS = {
    "ours-rasch": ("rasch", {}),
    "ours-2pl": ("2pl", {}),
    "ours-2pl-bsd3": ("2pl", {"prior_b_sd": 3.0}),
    "ours-2pl-nodes11": ("2pl", {"n_nodes": 11}),
}


def predict_ours(method, train, hidden, n_models, n_items):
    from adaptive_eval.irt.model import prob

    model, options = OURS_OPTIONS[method]
    theta, b, a, fit = fit_ours(*train, n_models, n_items, model, **options)
    j, i = hidden
    info = {"n_iter": fit.n_iter, "converged": fit.converged}
    return prob(theta[j], b[i], a[i]), info


def predict_girth(method, train, hidden, n_models, n_items):
    import girth

    j, i, y = train
    # girth: items x examinees; a missing cell (hidden or never observed) is INVALID_RESPONSE
    dataset = _dense(j, i, y, n_models, n_items, girth.INVALID_RESPONSE).T.astype(int)
    if method == "girth-rasch":
        b = np.asarray(girth.rasch_mml(dataset)["Difficulty"], dtype=float)
        a = np.ones(n_items)
    else:
        fit = girth.twopl_jml(dataset) if method == "girth-2pl-jml" else girth.twopl_mml(dataset)
        b = np.asarray(fit["Difficulty"], dtype=float)
        a = np.asarray(fit["Discrimination"], dtype=float)
    # girth's EAP multiplies raw likelihoods and returns NaN here; its MAP works in log space
    theta = girth.ability_map(dataset, b, a)
    hj, hi = hidden
    return 1 / (1 + np.exp(-a[hi] * (theta[hj] - b[hi]))), {}


def predict_pyirt(method, train, hidden, n_models, n_items):
    from ordered_set import OrderedSet
    from py_irt.config import IrtConfig
    from py_irt.dataset import Dataset
    from py_irt.training import IrtModelTrainer

    j, i, y = train
    items, subjects = [f"q{k}" for k in range(n_items)], [f"m{k}" for k in range(n_models)]
    dataset = Dataset(
        item_ids=OrderedSet(items), subject_ids=OrderedSet(subjects),
        item_id_to_ix={q: k for k, q in enumerate(items)}, ix_to_item_id=dict(enumerate(items)),
        subject_id_to_ix={m: k for k, m in enumerate(subjects)},
        ix_to_subject_id=dict(enumerate(subjects)),
        observation_subjects=j.tolist(), observation_items=i.tolist(),
        observations=y.astype(float).tolist(), training_example=[True] * len(y),
    )
    config = IrtConfig(model_type=method.split("-")[1], seed=SEED)  # defaults otherwise
    trainer = IrtModelTrainer(data_path=None, config=config, dataset=dataset, verbose=False)
    trainer.train()
    params = trainer.last_params  # what `py-irt train` saves
    theta, b = np.asarray(params["ability"]), np.asarray(params["diff"])
    a = np.asarray(params.get("disc", np.ones(n_items)))
    hj, hi = hidden
    return 1 / (1 + np.exp(-a[hi] * (theta[hj] - b[hi]))), {"epochs": config.epochs}


def predict_mirt(method, train, hidden, n_models, n_items):
    import mirt

    j, i, y = train
    data = _dense(j, i, y, n_models, n_items, np.nan)  # persons x items, NaN missing
    family = method.split("-")[1].upper()
    # defaults (EM, 21 quadrature points) except for the item standard errors: by default
    # (mirt-2pl-se) mirt builds their full covariance, which needs over 20 GB here
    with_se = method.endswith("-se")
    fit = mirt.fit_mirt(data, model=family, compute_standard_errors=with_se)
    scores = mirt.fscores(fit, data)  # default EAP
    theta = np.asarray(scores.theta, dtype=float).reshape(n_models, 1)
    p = np.asarray(fit.model.probability(theta))  # persons x items
    hj, hi = hidden
    info = {"n_iter": int(fit.n_iterations), "converged": bool(fit.converged)}
    return p[hj, hi], info


def run_heldout(method: str, workdir: Path, repeat: int) -> dict:
    j, i, y, hide, n_models, n_items = _load_split(workdir)
    train, hidden = (j[~hide], i[~hide], y[~hide]), (j[hide], i[hide])
    family = method.split("-")[0]
    predict = {"ours": predict_ours, "girth": predict_girth, "pyirt": predict_pyirt,
               "mirt": predict_mirt}[family]
    rss_before = _rss_mib()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        p, info = predict(method, train, hidden, n_models, n_items)
        times.append(time.perf_counter() - start)
    np.save(workdir / f"{method}.npy", np.asarray(p, dtype=float))
    packages = {"ours": ("adaptive-eval", "numpy", "scipy"), "girth": ("girth", "numpy", "scipy"),
                "pyirt": ("py-irt", "pyro-ppl", "torch"), "mirt": ("mirt", "numpy")}[family]
    return {"seconds": min(times), "seconds_all": times, "rss_before_mib": rss_before,
            "peak_mib": _peak_mib(), "versions": _versions(*packages), **info}


def synthetic(seed: int = SEED):
    """Known parameters and a full 0/1 matrix, as sparse cells (row-major)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, SYNTH_EXAMINEES)
    b = rng.normal(0.0, 1.0, SYNTH_ITEMS)
    a = rng.lognormal(0.0, 0.3, SYNTH_ITEMS)
    p = 1 / (1 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
    y = (rng.random(p.shape) < p).astype(np.uint8).ravel()
    j = np.repeat(np.arange(SYNTH_EXAMINEES), SYNTH_ITEMS)
    i = np.tile(np.arange(SYNTH_ITEMS), SYNTH_EXAMINEES)
    return (theta, b, a), (j, i, y)


def _recovery(estimate, truth) -> dict:
    return {"r": float(np.corrcoef(estimate, truth)[0, 1]),
            "rmse": float(np.sqrt(np.mean((estimate - truth) ** 2)))}


def run_synthetic(method: str, workdir: Path, repeat: int, profile: bool) -> dict:
    model = method.split("-")[1]
    (theta, b, a), cells = synthetic()
    if profile:  # one fit under cProfile: where the time goes
        profiler = cProfile.Profile()
        profiler.runcall(fit_ours, *cells, SYNTH_EXAMINEES, SYNTH_ITEMS, model)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(12)
        stats.sort_stats("cumulative").print_stats(r"calibration\.py", 10)
        return {"profile": text.getvalue()}
    rss_before = _rss_mib()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        est_theta, est_b, est_a, fit = fit_ours(*cells, SYNTH_EXAMINEES, SYNTH_ITEMS, model)
        times.append(time.perf_counter() - start)
    out = {"seconds": min(times), "seconds_all": times, "rss_before_mib": rss_before,
           "peak_mib": _peak_mib(), "n_iter": fit.n_iter, "converged": fit.converged,
           "observed": "full matrix (10,000,000 cells)",
           "b": _recovery(est_b, b), "theta": _recovery(est_theta, theta),
           "versions": _versions("adaptive-eval", "numpy", "scipy")}
    if model == "2pl":
        out["a"] = _recovery(est_a, a)
    return out


def worker(method: str, workdir: Path, profile: bool) -> None:
    repeat = METHODS[method][2]
    if method.startswith("synthetic"):
        result = run_synthetic(method, workdir, repeat, profile)
    else:
        result = run_heldout(method, workdir, repeat)
    (workdir / f"{method}.json").write_text(json.dumps(result, indent=1))


# ----------------------------------------------------------------------------------------------
# orchestrator: make the split, run every method in a subprocess, score, write the results


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """AUC-ROC as the Mann-Whitney statistic (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(p)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(p: np.ndarray, y: np.ndarray, eps: float = 1e-12) -> float:
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def make_split(workdir: Path) -> dict:
    from adaptive_eval.banks.responses import ResponseData

    data = ResponseData.from_file(DATA)
    rng = np.random.default_rng(SEED)
    hide = rng.random(data.n_observed) < HIDE_FRACTION
    np.savez(workdir / "split.npz", model_index=data.model_index, item_index=data.item_index,
             correct=data.correct, hide=hide, n_models=data.n_models, n_items=data.n_items)
    train_items = np.zeros(data.n_items, dtype=bool)
    train_items[data.item_index[~hide]] = True
    return {"n_models": data.n_models, "n_items": data.n_items, "n_observed": data.n_observed,
            "n_hidden": int(hide.sum()), "hidden_accuracy": float(data.correct[hide].mean()),
            "items_without_training_cells": int((~train_items).sum())}


def run_method(method: str, workdir: Path, limit: float, profile: bool) -> dict:
    python, description, _ = METHODS[method]
    result = {"method": method, "description": description}
    if not python.exists():
        result["error"] = f"{python} missing (run make setup / benchmarks/setup_peers.sh)"
        return result
    command = [str(python), __file__, "--method", method, "--workdir", str(workdir)]
    if profile:
        command.append("--profile")
    start = time.perf_counter()
    log = workdir / f"{method}.log"
    with open(log, "w") as stream:
        proc = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)
        killed = _watch(proc, limit)
    result["process_seconds"] = time.perf_counter() - start
    if killed:
        result["error"] = killed
        return result
    if proc.returncode != 0:
        lines = log.read_text().strip().splitlines()
        result["error"] = f"exit {proc.returncode}: " + " | ".join(lines[-3:])
        return result
    result.update(json.loads((workdir / f"{method}.json").read_text()))
    return result


def _watch(proc: subprocess.Popen, limit: float) -> str | None:
    """Wait for ``proc``; kill it past ``limit`` seconds or ``KILL_RSS_MIB`` of RSS (the machine
    is shared: a runaway peer must not wake the OOM killer). Returns why it was killed."""
    start = time.perf_counter()
    while proc.poll() is None:
        if time.perf_counter() - start > limit:
            proc.kill()
            proc.wait()
            return f"did not finish in {limit:.0f} s (killed)"
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
        except (OSError, StopIteration):
            rss = 0
        if rss / 1024 > KILL_RSS_MIB:
            proc.kill()
            proc.wait()
            return f"killed at {rss / 2**20:.1f} GiB RSS (limit {KILL_RSS_MIB / 1024:.0f} GiB)"
        time.sleep(0.1)
    return None


def score(result: dict, workdir: Path, y: np.ndarray) -> None:
    path = workdir / f"{result['method']}.npy"
    if "error" in result or not path.exists():
        return
    p = np.load(path)
    result["n_nan"] = int(np.isnan(p).sum())
    if result["n_nan"]:
        result["error"] = f"{result['n_nan']} NaN predictions"
        return
    result["auc"], result["log_loss"] = auc(p, y), log_loss(p, y)


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                  if line.startswith("Model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    source = "inference/adaptive_eval/calibration.py"
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", source],
                           capture_output=True).returncode != 0
    return {"cpu": model, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
            "commit": commit + (f" ({source} with uncommitted changes)" if dirty else ""),
            "platform": platform.platform()}


def orchestrate(only: list[str] | None, girth_limit: float, out: Path) -> None:
    import tempfile

    methods = [m for m in METHODS if not only or m in only]
    workdir = Path(tempfile.mkdtemp(prefix="calibration-bench-"))
    split = make_split(workdir)
    s = np.load(workdir / "split.npz")
    y_hidden = s["correct"][s["hide"]].astype(float)
    results, started = [], time.perf_counter()
    for method in methods:
        limit = girth_limit if method == "girth-2pl-mml" else 1800
        print(f"{method} ...", file=sys.stderr, flush=True)
        result = run_method(method, workdir, limit, profile=False)
        if method.startswith("synthetic") and result.get("seconds", 0) > BARS["seconds_synth"]:
            print(f"{method}: over {BARS['seconds_synth']:.0f} s, profiling", file=sys.stderr)
            profiled = run_method(method, workdir, limit, profile=True)
            result["profile"] = profiled.get("profile", profiled.get("error"))
        score(result, workdir, y_hidden)
        results.append(result)
        print(f"  {summary_line(result)}", file=sys.stderr, flush=True)
    report = {"machine": machine(), "split": split, "bars": BARS, "results": results,
              "synthetic_size": [SYNTH_EXAMINEES, SYNTH_ITEMS],
              "total_seconds": time.perf_counter() - started}
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "calibration.md").write_text(markdown(report))
    print(f"wrote {out / 'calibration.md'} and calibration.json", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=list(METHODS), help="run one method (worker mode)")
    parser.add_argument("--workdir", type=Path, help="worker mode: folder holding split.npz")
    parser.add_argument("--profile", action="store_true", help="worker mode: also cProfile")
    parser.add_argument("--only", nargs="+", choices=list(METHODS), help="run these methods")
    parser.add_argument("--girth-2pl-mml-limit", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    if args.method:
        worker(args.method, args.workdir, args.profile)
    else:
        orchestrate(args.only, args.girth_2pl_mml_limit, args.out)


if __name__ == "__main__":
    main()
