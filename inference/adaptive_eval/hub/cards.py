"""Model and dataset cards, rendered from the templates shipped in ``adaptive_eval/templates``.

``render_card("item_bank.md", DatasetCardData(...), **variables)`` fills the template's
``{{ variable }}`` slots with Jinja (huggingface_hub's ``RepoCard.from_template``) and puts the
card data in the YAML header; ``ModelCardData`` gives a ``ModelCard``, ``DatasetCardData`` a
``DatasetCard``.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

TEMPLATES = Path(__file__).parents[1] / "templates"


def render_card(
    template: str, card_data: ModelCardData | DatasetCardData, **variables
) -> ModelCard | DatasetCard:
    """Render ``templates/<template>`` with ``card_data`` as its YAML header."""
    card_class = DatasetCard if isinstance(card_data, DatasetCardData) else ModelCard
    return card_class.from_template(
        card_data, template_path=str(TEMPLATES / template), **variables
    )
