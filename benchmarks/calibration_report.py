"""The report of ``benchmarks/calibration.py``: its results as markdown, against the bars."""

from __future__ import annotations

BARS = {"log_loss_2pl": 0.452, "auc_2pl": 0.862, "seconds_real": 2.0, "seconds_synth": 30.0,
        "peak_mib": 4096}

NOTES = """
- adaptive-eval: `calibrate(data, "rasch" | "2pl")`, MML-EM with per-examinee adaptive
  Gauss-Hermite quadrature (no fixed grid: each examinee's nodes sit at its posterior mode,
  scaled by its posterior SD), n_nodes=5, priors b ~ N(0, 2^2), log a ~ N(0, 0.5^2),
  theta ~ N(0, 1) (Rasch: theta's SD estimated); abilities are its EAPs. Two runs, best time.
  The `prior_b_sd=3` and `n_nodes=11` rows are for context.
- girth: dense items x examinees matrix, every missing cell (hidden or never observed) coded
  `girth.INVALID_RESPONSE`. Item parameters from `rasch_mml` / `twopl_jml` / `twopl_mml`
  (defaults); abilities from `ability_map` (N(0, 1) prior, log space), because girth's
  `ability_eap` multiplies raw likelihoods over thousands of answers and returns NaN here.
- py-irt: its `Dataset` built directly from the training cells (missing cells are simply
  absent), `IrtModelTrainer` with `IrtConfig(model_type="1pl" | "2pl", seed=0)` and otherwise
  default settings (2,000 epochs of SVI, Adam lr 0.1, "vague" priors); predictions from the
  exported parameters (`last_params`, what `py-irt train` saves). Its vague priors are
  theta ~ N(0, 1), b ~ N(0, 0.1^2) (sd 0.1) and, for 2PL, a ~ LogNormal(0, 0.1^2).
- mirt (PyPI, the Python port of R's mirt): `fit_mirt(persons x items, NaN missing,
  model=...)` with EM and 21 fixed quadrature points, abilities by `fscores` (EAP, 49 points);
  `compute_standard_errors=False` except in the row marked "with SEs": with the default SEs
  it builds the full item covariance and ran out of memory (over 20 GB RSS) in a trial run;
  this script kills a worker above 8 GiB RSS. It offers 1PL, 2PL, 3PL and 4PL for 0/1 items.
- Every method runs in its own subprocess (ours in `.venv`, peers in `benchmarks/.venv-peers`,
  made by `benchmarks/setup_peers.sh` with torch pinned to 2.13.0 CPU); peak memory is that
  process's peak RSS (`VmHWM`). The machine's 2 cores are shared with other jobs, so all timings
  are noisy (peers ran once, ours twice).
"""


def summary_line(r: dict) -> str:
    if "error" in r:
        return r["error"]
    parts = [f"{r['seconds']:.2f} s", f"peak {r['peak_mib']:.0f} MiB"]
    if "auc" in r:
        parts += [f"AUC {r['auc']:.4f}", f"log-loss {r['log_loss']:.4f}"]
    if "b" in r:
        parts += [f"r(b) {r['b']['r']:.4f}"]
    return ", ".join(parts)


def markdown(report: dict) -> str:
    """The results page; the text around the tables is written by hand in results/ notes."""
    m, s = report["machine"], report["split"]
    out = [
        "# Calibration benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs: timings are noisy), "
        f"{m['ram_gib']} GiB RAM; {m['platform']}. Date: {m['date']}; commit {m['commit']}. "
        f"Total run time {report['total_seconds'] / 60:.1f} min.",
        "",
        "Produced by `benchmarks/calibration.py` (raw numbers: `calibration.json`).",
        "",
        f"## Held-out fit on MMLU-Pro ({s['n_models']} models x {s['n_items']} questions, "
        f"{s['n_observed']} observed cells)",
        "",
        f"{s['n_hidden']} cells hidden (10%, seed 0; {s['hidden_accuracy']:.3f} of them correct), "
        f"fit on the rest; {s['items_without_training_cells']} questions have no training cell. "
        "Seconds: the fit plus the ability estimates needed to predict, best of the runs listed. "
        "Peak: the peak RSS of the method's own process (Python, imports and data included); "
        "before: its RSS just before fitting.",
        "",
        "| method | AUC | log-loss | seconds | runs | peak MiB | before MiB | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if r["method"].startswith("synthetic"):
            continue
        if "error" in r:
            out.append(f"| {r['description']} | – | – | – | – | – | – | {r['error']} |")
            continue
        notes = []
        if "n_iter" in r:
            notes.append(f"{r['n_iter']} iterations" + ("" if r.get("converged") else
                                                          ", not converged"))
        if "epochs" in r:
            notes.append(f"{r['epochs']} epochs")
        out.append(
            f"| {r['description']} | {r['auc']:.4f} | {r['log_loss']:.4f} | {r['seconds']:.2f} | "
            f"{len(r['seconds_all'])} | {r['peak_mib']:.0f} | {r['rss_before_mib']:.0f} | "
            f"{'; '.join(notes)} |"
        )
    out += [
        "",
        f"## Synthetic recovery ({report['synthetic_size'][0]} x {report['synthetic_size'][1]:,}, "
        "full matrix)",
        "",
        "theta ~ N(0, 1), b ~ N(0, 1), a ~ LogNormal(0, 0.3), seed 0; responses drawn from "
        "the 2PL (so Rasch is slightly misspecified).",
        "",
        "| method | seconds | runs | peak MiB | before MiB | iterations | r(b) | RMSE(b) | "
        "r(a) | RMSE(a) | r(theta) | RMSE(theta) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if not r["method"].startswith("synthetic"):
            continue
        if "error" in r:
            out.append(f"| {r['description']} | {r['error']} |" + " |" * 10)
            continue
        a_cells = f"{r['a']['r']:.4f} | {r['a']['rmse']:.3f}" if "a" in r else "– | –"
        out.append(
            f"| {r['description']} | {r['seconds']:.1f} | {len(r['seconds_all'])} | "
            f"{r['peak_mib']:.0f} | {r['rss_before_mib']:.0f} | {r['n_iter']}"
            f"{'' if r['converged'] else ' (not converged)'} | "
            f"{r['b']['r']:.4f} | {r['b']['rmse']:.3f} | {a_cells} | "
            f"{r['theta']['r']:.4f} | {r['theta']['rmse']:.3f} |"
        )
    out += ["", "## Bars", ""] + bars(report["results"]) + ["", "## How each method was run", "",
                                                           NOTES.strip()]
    versions = {}
    for r in report["results"]:
        versions.update(r.get("versions", {}))
    out += ["", "## Versions", "",
            ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), ""]
    for r in report["results"]:
        if r.get("profile"):
            out += [f"## Profile: {r['description']}", "", "```", r["profile"].strip(), "```", ""]
    return "\n".join(out) + "\n"


def bars(results: list[dict]) -> list[str]:
    by = {r["method"]: r for r in results}
    lines = []

    def check(label, ok, detail):
        lines.append(f"- {'met' if ok else 'NOT met'}: {label} ({detail})")

    two = by.get("ours-2pl", {})
    if "log_loss" in two:
        check(f"2PL held-out log-loss <= {BARS['log_loss_2pl']}",
              two["log_loss"] <= BARS["log_loss_2pl"], f"{two['log_loss']:.4f}")
        check(f"2PL held-out AUC >= {BARS['auc_2pl']}", two["auc"] >= BARS["auc_2pl"],
              f"{two['auc']:.4f}")
    for name, limit in (("ours-rasch", "seconds_real"), ("ours-2pl", "seconds_real"),
                        ("synthetic-rasch", "seconds_synth"), ("synthetic-2pl", "seconds_synth")):
        r = by.get(name, {})
        if "seconds" in r:
            check(f"{r['description']} in under {BARS[limit]:.0f} s",
                  r["seconds"] < BARS[limit], f"best {r['seconds']:.2f} s of "
                  + ", ".join(f"{t:.2f}" for t in r["seconds_all"]))
            check(f"{r['description']} in under 4 GB", r["peak_mib"] < BARS["peak_mib"],
                  f"peak RSS {r['peak_mib']:.0f} MiB")
    return lines
