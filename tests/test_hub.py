"""Publish to (``hub.publish``) and load from (``hub.resolve``) a Hub-protocol
server with the real huggingface_hub client.

The server (tests/hub_server.py) stores commits on disk; ``hub`` points HF_ENDPOINT, the token
and an empty HF cache at it for each test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.catalog import CATALOG, NOT_IN_WHEEL, local_folder
from adaptive_eval.cli import main as cli_main
from adaptive_eval.hub import publish as publishmod
from adaptive_eval.hub import resolve as hubmod
from adaptive_eval.hub.publish import PublishError, publish
from adaptive_eval.hub.resolve import ArtifactNotFound, resolve_artifact
from hub_server import HubServer, hub_fixture, point_client_at  # noqa: F401 (fixture `hub`)
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import RepositoryNotFoundError

ROOT = Path(__file__).resolve().parents[1]


def make_bank(folder: Path, shift: float = 0.0, n: int = 12) -> ItemBank:
    rng = np.random.default_rng(0)
    bank = ItemBank(
        ids=[f"q{i}" for i in range(n)],
        b=rng.normal(size=n) + shift,
        a=np.exp(rng.normal(scale=0.3, size=n)),
        b_se=np.full(n, 0.1),
        a_se=np.full(n, 0.05),
        category=["math" if i % 2 else "law" for i in range(n)],
        metadata={"method": "hand-made test bank", "n_models": 3, "n_observed": 36,
                  "prior_b_sd": 2.0, "prior_log_a_sd": 0.5},
    )
    bank.save(folder)
    return bank


def assert_same_bank(got: ItemBank, want: ItemBank) -> None:
    assert got.ids == want.ids
    np.testing.assert_array_equal(got.b, want.b)
    np.testing.assert_array_equal(got.a, want.a)
    np.testing.assert_array_equal(got.b_se, want.b_se)
    assert got.category == want.category


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_publish_then_load_from_an_empty_cache(hub: HubServer, tmp_path):
    bank = make_bank(tmp_path / "bank")
    cache = Path(constants.HF_HUB_CACHE)
    assert not any(cache.iterdir())

    url = publish(tmp_path / "bank", "org/bank", revision_note="first bank")

    assert url.startswith(f"{hub.url}/datasets/org/bank/commit/")
    commit = url.rsplit("/", 1)[1]
    info = HfApi().dataset_info("org/bank")
    assert info.sha == commit and not info.private
    assert sorted(s.rfilename for s in info.siblings) == sorted(tree(tmp_path / "bank"))
    with pytest.raises(RepositoryNotFoundError):  # a bank is a dataset repo, not a model repo
        HfApi().model_info("org/bank")

    folder = resolve_artifact("org/bank", kind="item-bank")
    assert cache in folder.parents and folder.name == commit
    assert tree(folder) == tree(tmp_path / "bank")  # byte-identical files, nothing extra
    assert_same_bank(ItemBank.load("org/bank"), bank)


def test_publish_is_one_commit_and_private_repos_need_the_token(hub: HubServer, tmp_path,
                                                                monkeypatch):
    make_bank(tmp_path / "bank")
    publish(tmp_path / "bank", "org/secret", private=True)
    repo = hub.store.get("dataset", "org/secret")
    assert repo.private
    assert len(repo.commits) == 2  # the repo's initial commit + the upload, as one commit
    # republishing the same folder: create_repo(exist_ok) and no empty commit
    publish(tmp_path / "bank", "org/secret", private=True)
    assert len(hub.store.get("dataset", "org/secret").commits) == 2

    assert resolve_artifact("org/secret", kind="item-bank").is_dir()
    point_client_at(monkeypatch, hub.url, tmp_path / "other-home", token=None)
    with pytest.raises(ArtifactNotFound, match="no such repository"):
        resolve_artifact("org/secret", kind="item-bank")


def test_private_is_refused_for_an_existing_public_repo(hub: HubServer, tmp_path):
    make_bank(tmp_path / "bank")
    publish(tmp_path / "bank", "org/public")
    make_bank(tmp_path / "bank2", shift=1.0)
    with pytest.raises(PublishError, match="already exists and is public"):
        publish(tmp_path / "bank2", "org/public", private=True)
    assert len(hub.store.get("dataset", "org/public").commits) == 2


def test_revision_pin(hub: HubServer, tmp_path):
    old = make_bank(tmp_path / "v1")
    publish(tmp_path / "v1", "org/bank")
    HfApi().create_tag("org/bank", tag="v1", repo_type="dataset")
    new = make_bank(tmp_path / "v2", shift=1.5)
    publish(tmp_path / "v2", "org/bank", revision_note="shifted")

    assert_same_bank(ItemBank.load("org/bank", revision="v1"), old)
    assert_same_bank(ItemBank.load("org/bank"), new)
    assert_same_bank(ItemBank.load("org/bank", revision="v1"), old)  # cache keeps both
    with pytest.raises(ArtifactNotFound, match="no such revision") as err:
        resolve_artifact("org/bank", kind="item-bank", revision="v9")
    assert "'v9'" in str(err.value)


def test_a_repo_that_does_not_exist(hub: HubServer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArtifactNotFound) as err:
        ItemBank.load("org/no-such-bank")
    message = str(err.value)
    assert "item-bank 'org/no-such-bank' not found" in message
    assert f"local folder {tmp_path / 'org' / 'no-such-bank'}: does not exist" in message
    assert f"Hugging Face Hub {hub.url}" in message
    assert "dataset repo 'org/no-such-bank'" in message and "no such repository" in message
    assert len(err.value.tried) == 2

    with pytest.raises(ArtifactNotFound, match="not a repo id"):
        resolve_artifact("./no/such/folder", kind="difficulty-predictor")


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "head.pth", "state.pkl",
                                  "scaler.joblib", "sub/last.ckpt", "objects.npy"])
def test_a_folder_with_pickle_is_refused(hub: HubServer, tmp_path, name):
    make_bank(tmp_path / "bank")
    path = tmp_path / "bank" / name
    path.parent.mkdir(exist_ok=True)
    if name.endswith(".npy"):
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(b"\x80\x04K\x01.")  # pickle of 1
    with pytest.raises(PublishError, match=name.replace(".", r"\.")):
        publish(tmp_path / "bank", "org/bank")
    assert hub.store.get("dataset", "org/bank") is None  # nothing created, nothing uploaded


def test_numeric_npy_is_not_pickle(tmp_path):
    make_bank(tmp_path / "bank")
    np.save(tmp_path / "bank" / "extra.npy", np.arange(3.0))
    assert publishmod.check_publishable(tmp_path / "bank") == "item-bank"


@pytest.mark.parametrize("breakage, message", [
    ("no-readme", "no README.md"),
    ("no-license", "lacks license"),
    ("no-artifact", "must say which artifact"),
    ("bad-params", "does not load as a item-bank"),
])
def test_publish_checks_card_config_and_loading(tmp_path, breakage, message):
    folder = tmp_path / "bank"
    make_bank(folder)
    readme = folder / "README.md"
    if breakage == "no-readme":
        readme.unlink()
    elif breakage == "no-license":
        readme.write_text(readme.read_text().replace("license: apache-2.0\n", ""))
    elif breakage == "no-artifact":
        (folder / "config.json").write_text('{"model": "2pl"}')
    else:
        (folder / "params.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(PublishError, match=message):
        publishmod.check_publishable(folder)


def test_cli_publish_checks_and_loads_the_artifact_once(hub: HubServer, tmp_path, monkeypatch,
                                                        capsys):
    make_bank(tmp_path / "bank")
    loads = []
    real = publishmod._load_artifact
    monkeypatch.setattr(publishmod, "_load_artifact",
                        lambda folder, kind: loads.append(kind) or real(folder, kind))
    assert cli_main(["publish", str(tmp_path / "bank"), "--repo-id", "org/bank", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "item-bank" and out["commit_url"].startswith(hub.url)
    assert loads == ["item-bank"]


def test_the_resolver_does_not_import_what_it_resolves():
    """hub.py finds artifacts; loading and publishing them is elsewhere (no import circle)."""
    code = ("import sys, adaptive_eval.hub.resolve; print(sorted(m for m in sys.modules if m in "
            "('adaptive_eval.amortized.predictor', 'adaptive_eval.amortized.generator', "
            "'adaptive_eval.hub.publish', "
            "'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_model_card_must_name_the_configs_base_model(tmp_path):
    folder = tmp_path / "pred"
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"artifact": "difficulty-predictor", "encoder": "sentence-transformers/all-MiniLM-L6-v2"}')
    (folder / "README.md").write_text(
        "---\nlicense: apache-2.0\nlibrary_name: adaptive-eval\n---\n")
    with pytest.raises(PublishError, match="base_model"):
        publishmod.check_publishable(folder)


def test_offline_mode_with_a_warm_cache(hub: HubServer, tmp_path, monkeypatch):
    bank = make_bank(tmp_path / "bank")
    publish(tmp_path / "bank", "org/bank")
    HfApi().create_tag("org/bank", tag="v1", repo_type="dataset")
    ItemBank.load("org/bank")
    ItemBank.load("org/bank", revision="v1")
    point_client_at(monkeypatch, hub.url, Path(constants.HF_HOME), token=hub.token, offline=True)
    requests_before = len(hub.log)
    assert_same_bank(ItemBank.load("org/bank"), bank)
    assert_same_bank(ItemBank.load("org/bank", revision="v1"), bank)
    assert len(hub.log) == requests_before  # offline: not one request, though the server is up

    hub.stop()
    assert_same_bank(ItemBank.load("org/bank"), bank)
    with pytest.raises(ArtifactNotFound, match="offline: HF_HUB_OFFLINE=1") as err:
        ItemBank.load("org/never-downloaded")
    assert "not in the local cache" in str(err.value)


def test_bare_name_and_none_give_the_embedded_default(monkeypatch, tmp_path):
    package = Path(hubmod.__file__).resolve().parent
    fake = tmp_path / "pkg"
    make_bank(fake / "embedded" / "banks" / "mmlu-pro")
    monkeypatch.setattr(hubmod, "__file__", str(fake / "hub" / "resolve.py"))
    want = fake / "embedded" / "banks" / "mmlu-pro"
    assert resolve_artifact(None, kind="item-bank") == want
    assert local_folder("mmlu-pro") == want  # a bank's catalog name
    with pytest.raises(ArtifactNotFound, match="embedded default .*question-generator"):
        resolve_artifact(None, kind="question-generator")
    assert package != fake


@pytest.mark.slow
def test_publish_and_load_a_difficulty_predictor(hub: HubServer, tmp_path):
    """A model repo end to end: identical predictions after the round trip through the Hub."""
    torch = pytest.importorskip("torch")
    from adaptive_eval.amortized.predictor import DifficultyPredictor
    from huggingface_hub import ModelCard, ModelCardData

    torch.manual_seed(0)
    predictor = DifficultyPredictor()
    folder = tmp_path / "predictor"
    predictor.save_pretrained(folder)
    card = ModelCard.load(folder / "README.md")
    if not card.data.license or not card.data.base_model:  # the mixin's default card lacks them
        data = ModelCardData(license="apache-2.0", library_name="adaptive-eval",
                             base_model=predictor.config.encoder)
        ModelCard(f"---\n{data.to_yaml()}\n---\n\n# Difficulty predictor\n").save(
            folder / "README.md")
    texts = ["What is 2 + 2?", "Prove that the halting problem is undecidable."]
    want, _ = predictor.predict(texts, cache=False)

    url = publish(folder, "org/predictor", revision_note="predictor v1")
    assert url.startswith(f"{hub.url}/org/predictor/commit/")  # a model repo
    HfApi().create_tag("org/predictor", tag="v1")
    loaded = DifficultyPredictor.from_pretrained("org/predictor", revision="v1")
    assert not loaded.training
    got, _ = loaded.predict(texts, cache=False)
    np.testing.assert_array_equal(got, want)
    snapshot = resolve_artifact("org/predictor", kind="difficulty-predictor", revision="v1")
    assert tree(snapshot) == tree(folder)


def _built_wheel(tmp_path: Path) -> tuple[Path, Path]:
    """Build the wheel from a copy of the checkout (a build writes build/ and egg-info in place).

    Returns the wheel and the copy. Until the lead's real ``models/banks/mmlu-pro`` exists, the copy
    gets a hand-made bank there, so the packaging mechanism is tested either way.
    """
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".venv*")
    shutil.copytree(ROOT / "inference", src / "inference", ignore=ignore)
    shutil.copytree(ROOT / "models", src / "models", ignore=ignore)
    if not (src / "models" / "banks" / "mmlu-pro" / "config.json").exists():
        make_bank(src / "models" / "banks" / "mmlu-pro")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    return next((tmp_path / "dist").glob("adaptive_eval-*.whl")), src


@pytest.mark.slow
def test_wheel_ships_the_embedded_defaults(tmp_path):
    wheel, src = _built_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", purelib],
                          check=True, capture_output=True, text=True).stdout.strip()
    # dependencies (numpy, torch, huggingface_hub...) from the project venv, without its
    # editable adaptive_eval: a plain path entry does not run that venv's own .pth files
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    Path(site, "project-deps.pth").write_text(deps + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True)
    script = (
        "import adaptive_eval, json, sys\n"
        "from adaptive_eval.hub.resolve import resolve_artifact, embedded_path\n"
        "from adaptive_eval.banks.bank import ItemBank\n"
        "from adaptive_eval.banks.catalog import local_folder\n"
        "folder = resolve_artifact(None, kind='item-bank')\n"
        "bank = ItemBank.load()\n"
        "print(json.dumps({'package': adaptive_eval.__file__, 'folder': str(folder),\n"
        "  'ids': bank.ids, 'b': bank.b.tolist(),\n"
        "  'files': {n: sorted(str(p.relative_to(embedded_path(n))) for p in\n"
        "            embedded_path(n).rglob('*') if p.is_file())\n"
        "            for n in sys.argv[1:]},\n"
        "  'metabench': str(local_folder('metabench-arc')),\n"
        "  'graded': [str(local_folder(n)) for n in ('alpacaeval', 'livecodebench')]}))\n"
    )
    names = sorted(p.name for p in (src / "models").iterdir() if p.is_dir() and p.name != "banks")
    names += sorted(f"banks/{p.name}" for p in (src / "models" / "banks").iterdir()
                    if CATALOG[p.name].license not in NOT_IN_WHEEL)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_ENDPOINT")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf-home"))
    out = subprocess.run([str(python), "-c", script, *names], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    assert result["package"].startswith(site)  # the wheel, not the checkout
    assert result["folder"] == f"{site}/adaptive_eval/embedded/banks/mmlu-pro"
    want = ItemBank.load(src / "models" / "banks" / "mmlu-pro")
    assert result["ids"] == want.ids and result["b"] == want.b.tolist()
    assert result["metabench"] == "None"  # CC BY-NC-SA banks stay out of the wheel
    assert result["graded"] == ["None", "None"]  # nor do the CC BY-NC and CC BY-SA ones
    for name, files in result["files"].items():  # every other models/* folder ships whole
        assert files == sorted(str(p.relative_to(src / "models" / name))
                               for p in (src / "models" / name).rglob("*") if p.is_file())
