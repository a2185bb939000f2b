"""Write each named bank's calibration protocol, ``models/banks/<name>/protocol.json``.

    python training/protocols.py --data_dir ../shared/data            # every bank with one
    python training/protocols.py --data_dir ../shared/data --bank gsm8k

The protocol comes from ``<data_dir>/protocols/<benchmark>.json`` (how the benchmark's source
asked and read its questions, every fact naming its source file and commit): the prompt, the
few-shot exemplars, the generation settings and the answer-reading rule the bank's labels were
made with (``adaptive_eval.banks.protocol``). It is its own file, so recalibrating a bank
(``training/calibrate.py``) leaves it in place. Metabench banks have none (their few-shot prompts
are per item and they have no gold answers).

MMLU-Pro's labels come from four generations of the source's code (``prompt_variants`` A-D);
the bank's protocol is the source's current local one (B: the prompt of 2ed4dfc, 2,048 new
tokens, the extraction chain of 9dac3c3), whose reading agrees with every stored answer the
source extracted under the earlier rules too (see ``benchmarks/results/answer_reading.md``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from adaptive_eval.banks.protocol import Protocol
from transformers import HfArgumentParser

ZEROEVAL_BANKS = {"mmlu-redux": "zeroeval-mcqa", "gsm8k": "zeroeval-math",
                  "math-l5": "zeroeval-math", "cruxeval": "zeroeval-crux",
                  "zebralogic": "zeroeval-zebra"}
BANKS = ("mmlu-pro", *ZEROEVAL_BANKS)


@dataclass
class ProtocolArguments:
    bank: str = field(default="all", metadata={"help": f"{', '.join(BANKS)} or all"})
    data_dir: str = field(default="../shared/data", metadata={
        "help": "Folder with protocols/<benchmark>.json."})
    out_dir: str = field(default="models/banks", metadata={
        "help": "Folder holding the bank folders (protocol.json goes into <out_dir>/<bank>)."})


def _source(spec: dict, *keys: str) -> dict:
    return {k: spec[k] for k in ("repo", "path", "commit", *keys) if k in spec}


def mmlu_pro_protocol(spec: dict) -> Protocol:
    variant = spec["prompt_variants"]["B"]
    few_shot = spec["few_shot"]
    initial = variant["initial_prompt"]["text"].replace("{$}", "{category}")
    generation = variant["generation"]
    exemplars = {category: [{k: shot[k] for k in ("question_id", "question", "options",
                                                  "cot_content")} for shot in shots]
                 for category, shots in few_shot["exemplars"].items()}
    return Protocol(
        name="mmlu-pro-5shot-cot", benchmark="mmlu-pro", mode="completion", system=None,
        preamble=initial + "\n",
        exemplar_template="Question:\n{question}\nOptions:\n{options}{cot}\n\n",
        template="Question:\n{question}\nOptions:\n{options}Answer: Let's think step by step.",
        option_line="{letter}. {option}\n", drop_options=("N/A",),
        exemplars=exemplars, k=int(few_shot["k"]),
        cot_replace=(("A: Let's think step by step.", "Answer: Let's think step by step."),),
        exemplars_source={"selection": few_shot["selection"], "dataset": few_shot["dataset"],
                          **_source(few_shot["exemplars_source"], "note")},
        generation={"max_new_tokens": int(generation["max_tokens"]),
                    "temperature": float(generation["temperature"]), "top_p": 1.0,
                    "stop": list(generation["stop"]),
                    "max_prompt_tokens": int(generation["max_model_len"])
                    - int(generation["max_tokens"])},
        reader="mmlu-pro", gold="answer (the letter of answer_index)", live=True,
        source=_source(variant["code"]) | {"initial_prompt": _source(variant["initial_prompt"])},
        notes=(
            "completion: the prompt goes to the model as is, no chat template, for base and "
            "chat models alike",
            "k is lowered by 1 while the prompt is not shorter than max_prompt_tokens tokens",
            "the bank's labels come from four generations of the source's code: 16 of its 23 "
            "models ran with 256 new tokens and read only 'answer is (X)' (rule mmlu-pro-v1); "
            "the current chain reads every such answer the same way",
            "a reply with no letter is scored 0 here; the source's own accuracy counts it as "
            "a seeded 'random' guess",
        ),
    )


def zeroeval_protocol(bank: str, spec: dict) -> Protocol:
    generation = spec["generation"]["defaults"]
    prompt = spec["prompt"]
    template = prompt["user_message"]
    live = bank != "zebralogic"
    if bank == "mmlu-redux":
        template = template.replace("{choices}", "{options}")
    notes = [spec["mode"]["kind"] + "; vLLM runs used the model's chat template, API runs "
             "added a system message for some providers: " + spec["mode"]["api"]]
    gold = "answer"
    if bank == "mmlu-redux":
        gold = ("corrected_answer where error_type is wrong_groundtruth, else answer (ZeroEval's "
                "copy carries the annotators' key)")
    if bank in ("gsm8k", "math-l5", "mmlu-redux"):
        notes.append("the source tries \\boxed{} only for Llama-3.1 result files; the bank's "
                     "rule tries it for every output")
    if not live:
        notes.append("no gold answers here (allenai/ZebraLogicBench-private): replay only; the "
                     "prompt's JSON template needs the solution grid's column names")
    return Protocol(
        name=f"{ZEROEVAL_BANKS[bank]}-cot", benchmark=bank, mode="chat", system=None,
        template=template.replace("{puzzle}", "{question}"), option_line="- ({letter}) {option}\n",
        generation={"max_new_tokens": int(generation["max_tokens"]),
                    "temperature": float(generation["temperature"]),
                    "top_p": float(generation["top_p"]), "stop": list(generation["stop"]),
                    "repetition_penalty": float(generation["repetition_penalty"])},
        reader=ZEROEVAL_BANKS[bank], gold=gold, live=live,
        source={**_source(spec["protocol_commit"]), "repo": spec["snapshot"]["repo"],
                "template": _source(prompt["template_source"]),
                "judging": _source(spec["judging"]), "dataset": spec["dataset"]["load"]},
        notes=tuple(notes),
    )


def build(bank: str, data_dir: Path) -> Protocol:
    spec = json.loads((data_dir / "protocols" / f"{bank}.json").read_text())
    return mmlu_pro_protocol(spec) if bank == "mmlu-pro" else zeroeval_protocol(bank, spec)


def main(argv: list[str] | None = None) -> int:
    (args,) = HfArgumentParser(ProtocolArguments).parse_args_into_dataclasses(argv)
    names = BANKS if args.bank == "all" else (args.bank,)
    unknown = [n for n in names if n not in BANKS]
    if unknown:
        print(f"protocols.py: error: no protocol for {unknown}; known: {', '.join(BANKS)}",
              file=sys.stderr)
        return 2
    for name in names:
        folder = Path(args.out_dir) / name
        if not folder.is_dir():
            print(f"protocols.py: error: no bank folder {folder}", file=sys.stderr)
            return 2
        path = build(name, Path(args.data_dir)).save(folder)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
