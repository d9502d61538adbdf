"""The pages link to the repository's own files as GitHub shows them, relative to
docs/pages/ (`../../experiments/scaling.png`); the site serves those folders through the
symlinks docs/pages/experiments and docs/pages/benchmarks, so the build points such links there."""
import re

REPOSITORY_LINK = re.compile(r'\]\(\.\./\.\./(experiments|benchmarks)/')


def on_page_markdown(markdown, **kwargs):
    return REPOSITORY_LINK.sub(r'](\1/', markdown)
