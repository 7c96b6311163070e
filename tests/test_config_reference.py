"""docs/config-reference.md is generated from the config models and must not drift."""

from __future__ import annotations

from observatory import config_reference


def test_committed_config_reference_matches_the_models() -> None:
    committed = config_reference.reference_path().read_text(encoding="utf-8")
    assert committed == config_reference.render(), (
        "docs/config-reference.md is stale: run python -m observatory.config_reference --write"
    )


def test_every_source_key_is_listed() -> None:
    text = config_reference.render()
    for key in (
        "sources.groups.<name>.labels",
        "zones.aliases",
        "sources.non_response",
        "sources.missing_by_column",
        "sources.locations.aliases",
        "index.min_respondents",
    ):
        assert f"| `{key}` |" in text, key
