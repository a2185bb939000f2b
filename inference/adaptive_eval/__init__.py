"""adaptive-eval: evaluate language models reliably on a fraction of a benchmark."""
