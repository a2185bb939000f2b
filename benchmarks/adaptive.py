"""Adaptive testing against random subsets, leave-one-model-out on real MMLU-Pro responses.

    .venv/bin/python benchmarks/adaptive.py [--data ../shared/data/mmlu_pro] \
        [--out benchmarks/results]

For each of the 23 models: calibrate a 2PL bank on the other 22 (all 12,032 questions), then
replay the held-out model's recorded answers. At budgets k = 10 ... 400 report, averaged over
models, the absolute error of the predicted full-benchmark accuracy against the model's true
accuracy (mean of all its recorded answers) and the share of 95% intervals that cover it, for

- ``random+mean``: k random questions, plain mean, Wilson interval (common practice);
- ``random+irt``: k random questions scored by the IRT model (this package's estimator);
- ``cat ...``: adaptive testing configurations.

Random draws are repeated (``--repeats``) and averaged. Also: selection overhead per question
on the MMLU-Pro bank and on synthetic 100,000-item banks (without twins; in 5,000 groups of
twins), and peak memory.
Writes ``adaptive.md``, ``adaptive.json`` and the plot ``adaptive.png`` into ``--out``
(``--plot-only`` redraws the plot from the JSON).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from datetime import date
from pathlib import Path

import numpy as np
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.build import item_chance, read_items
from adaptive_eval.banks.questions import load_categories
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.accuracy import wilson_interval
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.misfit import accuracy_at_full_ability, accuracy_error_at_full_ability
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.model import information, prob

BUDGETS = (10, 25, 50, 100, 200, 400)
SIMULATED = "default CAT on answers simulated from the bank's 2PL (no misfit)"
DEFAULT = "default (balanced, top-5, twins discounted, w = 0.5, category SD 0.5)"
CONFIGS = {
    "random+irt": dict(selection="random"),
    "cat: plain maximum information": dict(content_balancing=False, randomesque=1,
                                          discount_twins=False, likelihood_weight=1.0),
    "cat: + balanced, top-5": dict(discount_twins=False, likelihood_weight=1.0),
    "default, twins not discounted": dict(discount_twins=False),
    "default, untempered (w = 1)": dict(likelihood_weight=1.0),
    "default, one-dimensional score": dict(category_sd=0.0),
    "default, no curve correction": dict(correct_accuracy=False),
    "default, N(0, 1) prior without its tail": dict(prior_tail=0.0),
    "default, point estimates from L^w too": dict(temper_estimates=True),
    DEFAULT: dict(),
}


def replay(test: AdaptiveTest, answers: dict[str, int], budgets=BUDGETS) -> dict[int, tuple]:
    """Run ``test`` on recorded answers; estimate and interval after each budget."""
    bank = test.bank
    state = test.start(np.array([i in answers for i in bank.ids]))
    out = {}
    while state.n_items < max(budgets) and state.available.any():
        item = state.next_item()
        state.record(item, answers[bank.ids[item]], with_accuracy=False)
        if state.n_items in budgets:
            out[state.n_items] = state.expected_accuracy()
    return out


def random_mean(answers: dict[str, int], ids: list[str], rng, budgets=BUDGETS) -> dict:
    order = rng.permutation([i for i in ids if i in answers])
    y = np.array([answers[i] for i in order[: max(budgets)]])
    return {k: (y[:k].mean(), wilson_interval(int(y[:k].sum()), k)) for k in budgets}


def information_bound(bank: ItemBank, theta: float, budgets=BUDGETS) -> dict[int, float]:
    """Mean absolute error that no test of ``k`` questions can beat on average if the bank's 2PL
    were the truth (Cramer-Rao, for an ability known well enough to pick the ``k`` items most
    informative at it), plus the Bernoulli spread of the answers themselves, which the truth
    (the observed accuracy) carries:

        SD_k = sqrt(A'(theta)^2 / I_k(theta) + sum_i P_i (1 - P_i) / N^2),   MAE = sqrt(2/pi) SD_k

    with ``A'(theta) = mean_i a_i P_i (1 - P_i)`` the slope of the bank accuracy and ``I_k`` the
    sum of the ``k`` largest item informations ``a_i^2 P_i (1 - P_i)``.
    """
    p = prob(theta, bank.b, bank.a)
    slope = float(np.mean(bank.a * p * (1 - p)))
    info = np.cumsum(np.sort(information(theta, bank.b, bank.a))[::-1])
    spread = float(np.sum(p * (1 - p))) / len(bank) ** 2
    return {k: float(np.sqrt(2 / np.pi * (slope**2 / info[k - 1] + spread))) for k in budgets}


def simulated_answers(bank: ItemBank, theta: float, rng) -> dict[str, int]:
    """Answers to every bank item drawn from the bank's own 2PL at ``theta``: a model the bank
    fits exactly, so a test's error on them is statistical only."""
    correct = rng.random(len(bank)) < prob(theta, bank.b, bank.a)
    return dict(zip(bank.ids, correct.astype(int).tolist()))


def overhead(bank: ItemBank, n_questions: int = 200, runs: int = 5) -> float:
    """Milliseconds per question of selection + update on ``bank`` (answers simulated): the
    median of ``runs`` tests (single runs on a shared machine vary by up to 50%)."""
    test = AdaptiveTest(bank, max_items=n_questions, target_se=0, content_balancing=False)
    times = []
    for _ in range(runs):
        state = test.start()
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for _ in range(n_questions):
            item = state.next_item()
            state.record(item, int(rng.random() < 0.5), with_accuracy=False)
        times.append((time.perf_counter() - start) / n_questions * 1000)
    return float(np.median(times))


def plot(results: Path, path: Path) -> None:
    """Error against questions asked (log-log) from ``adaptive.json``: random subsets, the default
    CAT on real and on simulated answers, the information bound, and the issue's bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = json.loads(results.read_text())
    table, k = saved["table"], list(BUDGETS)
    lines = [("random questions, plain mean", table["random+mean"], "C7", "-"),
             ("random questions, IRT score", table["random+irt"], "C1", "-"),
             ("adaptive (default)", table[DEFAULT], "C0", "-"),
             ("adaptive, answers simulated from the bank's 2PL", table[SIMULATED], "C0", "--")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, row, color, style in lines:
        ax.plot(k, [row[str(b)][0] for b in k], style, color=color, marker="o", label=label)
    ax.plot(k, [saved["information_bound"][str(b)] for b in k], ":", color="k",
            label="information bound (bank's 2PL true, exact ability)")
    ax.plot([50, 200], [0.02, 0.01], "x", color="C3", markersize=10, mew=2, label="bars")
    ax.set(xscale="log", yscale="log", xlabel="questions asked",
           ylabel="mean absolute error of accuracy", xticks=k, xticklabels=k,
           title=f"MMLU-Pro, {saved['n_models']} models each left out of calibration")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/mmlu_pro")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", type=int, default=0, help="only the first N models (0: all)")
    parser.add_argument("--plot-only", action="store_true",
                        help="only redraw adaptive.png from the adaptive.json in --out")
    args = parser.parse_args()
    out = Path(args.out)
    if args.plot_only:
        plot(out / "adaptive.json", out / "adaptive.png")
        return

    data = ResponseData.from_file(Path(args.data) / "responses.csv.gz")
    category = load_categories(Path(args.data) / "items.csv.gz")
    chance = float(item_chance(read_items(Path(args.data) / "items.csv.gz")).mean())
    models = data.models[: args.models or None]
    errors: dict[str, dict[int, list]] = {}
    covered: dict[str, dict[int, list]] = {}

    def add(name, k, estimate, interval, truth):
        errors.setdefault(name, {}).setdefault(k, []).append(abs(estimate - truth))
        covered.setdefault(name, {}).setdefault(k, []).append(interval[0] <= truth <= interval[1])

    banks, truths, oracle, uncorrected, bounds, thetas = {}, {}, {}, {}, {}, {}
    for n, model in enumerate(models, start=1):  # pass 1: leave-one-out banks, oracle errors
        rest = data.drop_models([model])
        bank = calibrate(rest, "2pl", progress=lambda line: None).bank
        bank.assign_categories(category)
        bank.metadata["chance_accuracy"] = chance
        answers = data.responses_of(model)
        truths[model] = float(np.mean(list(answers.values())))
        oracle[model] = accuracy_error_at_full_ability(bank, answers)
        theta, uncorrected_accuracy = accuracy_at_full_ability(bank, answers,
                                                               correct_accuracy=False)
        uncorrected[model] = uncorrected_accuracy - truths[model]
        thetas[model] = theta  # the ability from all its answers
        bounds[model] = information_bound(bank, theta)
        banks[model] = bank
        print(f"[{n}/{len(models)}] {model}: true accuracy {truths[model]:.3f}, error at the "
              f"ability from all its answers {oracle[model]:+.4f} (uncorrected curve "
              f"{uncorrected[model]:+.4f})", flush=True)
    misfits = []
    for n, model in enumerate(models, start=1):  # pass 2: adaptive and random tests
        bank, truth, answers = banks[model], truths[model], data.responses_of(model)
        # the held-out error of the other models (never this model's own)
        misfit = float(np.sqrt(np.mean([oracle[m] ** 2 for m in models if m != model])))
        misfits.append(misfit)
        for r in range(args.repeats):
            for k, (est, interval) in random_mean(
                answers, bank.ids, np.random.default_rng([r, n])
            ).items():
                add("random+mean", k, est, interval, truth)
        for name, config in CONFIGS.items():
            repeats = 1 if name == "cat: plain maximum information" else args.repeats
            for r in range(repeats):
                test = AdaptiveTest(bank, max_items=max(BUDGETS), target_se=0, seed=r,
                                    misfit_sd=misfit, **config)
                for k, (est, interval) in replay(test, answers).items():
                    add(name, k, est, interval, truth)
        for r in range(args.repeats):
            simulated = simulated_answers(bank, thetas[model], np.random.default_rng([r, n, 1]))
            test = AdaptiveTest(bank, max_items=max(BUDGETS), target_se=0, seed=r,
                                misfit_sd=misfit)
            for k, (est, interval) in replay(test, simulated).items():
                add(SIMULATED, k, est, interval, float(np.mean(list(simulated.values()))))
        print(f"[{n}/{len(models)}] {model}: tested", flush=True)

    table = {name: {k: (float(np.mean(errors[name][k])), float(np.mean(covered[name][k])))
                    for k in BUDGETS} for name in errors}
    b, a = np.random.default_rng(0).normal(size=100_000), np.exp(
        np.random.default_rng(1).normal(0, 0.3, 100_000))
    ids = [str(i) for i in range(100_000)]
    twins = np.random.default_rng(2).integers(0, 5_000, 100_000)  # 5,000 groups of twins
    timing = {"mmlu_pro_ms_per_question": overhead(ItemBank.load("models/banks/mmlu-pro")),
              "100k_items_ms_per_question": overhead(ItemBank(ids=ids, b=b, a=a)),
              "100k_items_5000_twin_groups_ms_per_question":
                  overhead(ItemBank(ids=ids, b=b[twins], a=a[twins]))}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bound = {k: float(np.mean([bounds[m][k] for m in models])) for k in BUDGETS}
    write(args.out, table, timing, peak_mb, len(models), args.repeats, float(np.mean(misfits)),
          oracle, uncorrected, bound)
    plot(out / "adaptive.json", out / "adaptive.png")


def write(out, table, timing, peak_mb, n_models, repeats, misfit, oracle, uncorrected, bound
          ) -> None:
    floor = float(np.mean(np.abs(list(oracle.values()))))
    floor_uncorrected = float(np.mean(np.abs(list(uncorrected.values()))))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "adaptive.json").write_text(json.dumps(
        {"table": table, "timing": timing, "peak_mb": peak_mb, "n_models": n_models,
         "repeats": repeats, "mean_misfit_sd": misfit, "oracle_mean_abs_error": floor,
         "oracle_errors": oracle, "uncorrected_oracle_mean_abs_error": floor_uncorrected,
         "uncorrected_oracle_errors": uncorrected, "information_bound": bound}, indent=1))
    simulated = table.pop(SIMULATED)
    head = "| method | " + " | ".join(f"k={k}" for k in BUDGETS) + " |"
    lines = [
        "# Adaptive testing: leave-one-model-out on MMLU-Pro",
        "",
        f"Date {date.today()}, machine: {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}. "
        f"Script: `benchmarks/adaptive.py`. {n_models} held-out models; random draws and "
        f"randomesque runs repeated {repeats} times.",
        "",
        "Mean absolute error of the predicted full-benchmark accuracy (all 12,032 questions) "
        "against the true accuracy, averaged over held-out models:",
        "",
        head,
        "|---" * (len(BUDGETS) + 1) + "|",
    ]
    lines += [f"| {name} | " + " | ".join(f"{row[k][0]:.4f}" for k in BUDGETS) + " |"
              for name, row in table.items()]
    lines += ["", "Coverage of the 95% intervals (share of runs whose interval holds the truth):",
              "", head, "|---" * (len(BUDGETS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{row[k][1]:.2f}" for k in BUDGETS) + " |"
              for name, row in table.items()]
    lines += ["", "## The statistical floor", "",
              "How low the error can go if the bank's one-dimensional 2PL were exactly true. "
              "The information bound (`information_bound`): the k items most informative at "
              "each model's ability (from all its answers), an efficient estimator, and the "
              "Bernoulli spread of the answers that make up the true accuracy. The simulation: "
              "the default CAT on answers drawn from the bank's 2PL at that ability, "
              f"{repeats} draws per model. Mean absolute error (coverage):", "",
              head, "|---" * (len(BUDGETS) + 1) + "|",
              "| information bound | " + " | ".join(f"{bound[k]:.4f}" for k in BUDGETS) + " |",
              *(f"| default CAT, {kind} answers | "
                + " | ".join(f"{row[k][0]:.4f} ({row[k][1]:.2f})" for k in BUDGETS) + " |"
                for kind, row in (("simulated", simulated), ("real", table[DEFAULT])))]
    lines += ["", "The floor: predicting each held-out model's accuracy from the ability estimated "
              f"from *all* its answers by the corrected IRT curve (`score=\"irt\"`) has mean "
              f"absolute error {floor:.4f}; by the uncorrected curve {floor_uncorrected:.4f}. "
              "Per model, corrected / uncorrected: "
              + ", ".join(f"{m} {e:+.3f} / {uncorrected[m]:+.3f}" for m, e in oracle.items())
              + ".", "",
              "Misfit SD used to widen intervals (RMS of the other models' floor errors, "
              f"corrected): {misfit:.4f} on average.", "",
              "Overhead per question (selection + update): "
              f"{timing['mmlu_pro_ms_per_question']:.2f}"
              f" ms on the 12,032-item bank, {timing['100k_items_ms_per_question']:.2f} ms on a "
              "100,000-item bank, "
              f"{timing['100k_items_5000_twin_groups_ms_per_question']:.2f} ms on a 100,000-item "
              f"bank in 5,000 groups of twins. Peak memory of the whole run: {peak_mb:.0f} MB."]
    (out / "adaptive.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
