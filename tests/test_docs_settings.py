"""docs/language.md's table of training settings shows the defaults that apply: `SETTINGS`, and
the embedded model's recipe (`EMBEDDED_RECIPES`) where a policy trains the embedded model."""

from __future__ import annotations

from pathlib import Path

from tenet.compiler.settings import EMBEDDED_MODEL, EMBEDDED_RECIPES, SETTINGS

REPO = Path(__file__).resolve().parent.parent
HEADER = "| setting | type | default | default with the embedded model | allowed | meaning |"


def table() -> dict[str, tuple[str, str]]:
    """setting -> (default cell, embedded-model cell), read from the table under `## Training`."""
    text = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    lines = text[text.index(HEADER):].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith("| `"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = (cells[2], cells[3])
    return rows


def same(cell: str, value: object) -> bool:
    """Whether a table cell (`` `5e-06` ``, `` `"examples, perturb"` ``, `` `true` ``) shows `value`."""
    shown = cell.strip("`").strip('"')
    if isinstance(value, bool):
        return shown == str(value).lower()
    if isinstance(value, (int, float)):
        return float(shown) == float(value)
    if isinstance(value, tuple):
        return [part.strip() for part in shown.split(",")] == list(value)
    return shown == str(value)


def test_every_setting_is_in_the_table_with_its_default() -> None:
    rows = table()
    assert set(rows) == set(SETTINGS)
    for name, spec in SETTINGS.items():
        assert same(rows[name][0], spec.default), (name, rows[name][0], spec.default)


def test_the_embedded_column_is_the_embedded_recipe() -> None:
    recipe = EMBEDDED_RECIPES[EMBEDDED_MODEL]
    for name, (default, embedded) in table().items():
        expected = recipe.get(name, SETTINGS[name].default)
        if embedded == "same":
            assert name not in recipe or recipe[name] == SETTINGS[name].default, name
            assert same(default, expected), name
        else:
            assert same(embedded, expected), (name, embedded, expected)
