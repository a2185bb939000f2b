"""Build step: ship the embedded default artifacts (``models/*``) inside the wheel.

All project metadata lives in pyproject.toml; this file only extends ``build_py`` so that every
``models/<name>/`` folder (model card, config.json, *.safetensors, ...) is copied into the build as
``adaptive_eval/embedded/<name>/``, except item banks under a licence that passes on to them and
does not go with the wheel's (``NOT_IN_WHEEL``: non-commercial ``models/banks/metabench-*`` and
``alpacaeval``, share-alike ``livecodebench``), which load from the Hub. ``models/`` stays the
single source of truth (no symlinks, no copies in the repository). An editable install skips the copy:
``adaptive_eval.hub.resolve.embedded_path`` then reads ``models/<name>`` from the checkout. MANIFEST.in
puts ``models/`` in the sdist, so a wheel built from the sdist carries them too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS = Path(__file__).resolve().parent / "models"
IGNORE = shutil.ignore_patterns(".git", ".cache", "__pycache__", "*.pyc", ".DS_Store")
# banks under these licences load from the Hub, not the wheel (adaptive_eval.banks.catalog's list)
NOT_IN_WHEEL = ("cc-by-nc-sa-4.0", "cc-by-nc-4.0", "cc-by-sa-4.0")


def _embeddable(folder: Path) -> bool:
    """False for an item bank whose licence forbids shipping it in a general-purpose wheel."""
    config = folder / "config.json"
    if not config.is_file():
        return True
    return json.loads(config.read_text()).get("metadata", {}).get("license") not in NOT_IN_WHEEL


class BuildPyWithModels(build_py):
    """``build_py`` that also copies ``models/<name>`` to ``adaptive_eval/embedded/<name>``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or not MODELS.is_dir():
            return
        target = Path(self.build_lib) / "adaptive_eval" / "embedded"
        for artifact in sorted(p for p in MODELS.iterdir() if p.is_dir()):
            if artifact.name == "banks":
                for bank in sorted(p for p in artifact.iterdir() if p.is_dir() and _embeddable(p)):
                    shutil.copytree(bank, target / "banks" / bank.name, ignore=IGNORE,
                                    dirs_exist_ok=True)
            else:
                shutil.copytree(artifact, target / artifact.name, ignore=IGNORE,
                                dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithModels})
