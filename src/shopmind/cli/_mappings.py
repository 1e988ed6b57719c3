"""Saved import mappings: the ``--map FIELD=COLUMN`` pairs of an import are kept per kind in the
workspace's ``mappings.toml`` and reused by the next import of that kind, so a shop's monthly
export is imported again without every ``--map`` (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

MAPPINGS_FILE = "mappings.toml"


def _read(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / MAPPINGS_FILE
    if not path.exists():
        return {}
    import tomllib  # only the imports that read a saved mapping need it

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {
        kind: {str(k): str(v) for k, v in table.items()}
        for kind, table in data.items()
        if isinstance(table, dict)
    }


def _write(folder: Path, mappings: dict[str, dict[str, str]]) -> None:
    lines = [
        "# --map FIELD=COLUMN of the last import of each kind (shopmind import ... --forget-map clears one)"
    ]
    for kind, table in sorted(mappings.items()):
        lines.append(f"\n[{kind}]")
        # a JSON string is a valid TOML basic string
        lines += [
            f"{json.dumps(field)} = {json.dumps(column, ensure_ascii=False)}"
            for field, column in table.items()
        ]
    (folder / MAPPINGS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def resolve_mapping(
    folder: Path, kind: str, given: dict[str, str], *, forget: bool = False
) -> tuple[dict[str, str], bool]:
    """The mapping to import ``kind`` with and whether it is the saved one: ``given`` (then saved
    for next time) or, when none is given, the saved one. ``forget`` drops the saved one first."""
    if not folder.is_dir():
        return given, False
    saved = _read(folder)
    if forget and kind in saved:
        del saved[kind]
        _write(folder, saved)
    if given:
        if saved.get(kind) != given:
            saved[kind] = given
            _write(folder, saved)
        return given, False
    if kind in saved:
        return saved[kind], True
    return {}, False
