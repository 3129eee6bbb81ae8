from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

import goalmatch
from goalmatch.data.frameworks import Framework, FrameworkError, load_frameworks

MINIMAL = {
    "id": "demo",
    "name": "Demo",
    "language": "sv",
    "multi_label": False,
    "source": {"document": "ett exempel"},
    "goals": [
        {"id": "demo-a", "name": "Service", "description": "Lokal service.", "aliases": ["Servicen"]},
        {
            "id": "demo-b",
            "name": "Turism",
            "description": "Besöksnäring.",
            "children": [{"id": "demo-b.1", "name": "Vinterturism", "description": "Skidåkning."}],
        },
    ],
}


def _write(tmp_path: Path, data: object, name: str = "fw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_minimal_framework_loads_with_children_and_resolves_labels(tmp_path: Path) -> None:
    fw = Framework.from_file(_write(tmp_path, MINIMAL))
    assert fw.goal_ids == ("demo-a", "demo-b")
    assert [g.id for g in fw.all_goals()] == ["demo-a", "demo-b", "demo-b.1"]
    assert fw.goal("demo-b.1").parent == "demo-b"
    assert fw.resolve("servicen") == "demo-a"
    assert fw.resolve("VINTERTURISM") == "demo-b"  # a sub-goal's name maps to its top-level goal
    assert fw.resolve("okänd") is None
    assert len(fw.content_hash) == 64


@pytest.mark.parametrize(
    ("mutate", "field", "expected"),
    [
        (lambda d: d["goals"][1].update(id="demo-a"), "goals[1].id", "duplicate goal id 'demo-a'"),
        (lambda d: d["goals"][1]["children"][0].update(id="demo-a"), "goals[1].children[0].id", "duplicate"),
        (lambda d: d["goals"][0].pop("name"), "goals[0].name", "missing required key"),
        (lambda d: d["goals"][0].update(colour="blå"), "goals[0].colour", "unknown key"),
        (lambda d: d.update(extra=1), "extra", "unknown key"),
        (lambda d: d.update(id="Demo Ä"), "id", "lowercase ASCII"),
        (lambda d: d.update(multi_label="ja"), "multi_label", "true or false"),
        (lambda d: d.update(goals=[]), "goals", "non-empty list"),
        (lambda d: d["goals"][0].update(description="  "), "goals[0].description", "non-empty text"),
        (lambda d: d["goals"][0].update(examples=["ok", 3]), "goals[0].examples[1]", "non-empty text"),
        (lambda d: d["source"].pop("document"), "source.document", "missing required key"),
        (lambda d: d.update(schema_version=2), "schema_version", "expected 1"),
        (lambda d: d["goals"][1].update(aliases=["Service"]), "goal demo-b", "also used by goal 'demo-a'"),
    ],
)
def test_schema_errors_name_file_field_and_expectation(tmp_path: Path, mutate, field: str, expected: str) -> None:
    data = copy.deepcopy(MINIMAL)
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(FrameworkError) as info:
        Framework.from_file(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.field_path == field
    assert expected in message


def test_broken_yaml_and_non_mapping_and_oversize_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(FrameworkError, match=r"bad\.yaml: <file>: not valid YAML at line"):
        Framework.from_file(bad)
    listy = _write(tmp_path, ["a", "b"], "list.yaml")
    with pytest.raises(FrameworkError, match="expected a mapping"):
        Framework.from_file(listy)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 2_000_001)
    with pytest.raises(FrameworkError, match="at most 2000000"):
        Framework.from_file(big)


def test_yaml_object_construction_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("id: !!python/object/apply:os.system ['echo hi']\n", encoding="utf-8")
    with pytest.raises(FrameworkError, match="not valid YAML"):
        Framework.from_file(path)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    goal = data["goals"][0]
    for depth in range(5):
        child = {"id": f"deep-{depth}", "name": f"Nivå {depth}", "description": "text"}
        goal["children"] = [child]
        goal = child
    with pytest.raises(FrameworkError, match="nested deeper than 3"):
        Framework.from_file(_write(tmp_path, data))


def test_two_files_with_one_framework_id_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, MINIMAL, "a.yaml")
    _write(tmp_path, MINIMAL, "b.yaml")
    with pytest.raises(FrameworkError, match="already used by"):
        load_frameworks(tmp_path)


def test_a_new_leader_area_is_a_new_file(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    data["id"] = "leader-ny"
    _write(tmp_path, data, "leader-ny.yaml")
    assert list(load_frameworks(tmp_path)) == ["leader-ny"]


EXPECTED = {
    "leader-spira-mare-2023": (3, False),
    "leader-tornedalen-2020": (3, False),
    "leader-polaris-2016": (7, False),
    "rus-norrbotten-2030": (4, False),
    "nationell-strategi-2021": (4, False),
    "agenda-2030": (17, True),
}


def test_every_shipped_framework_loads_and_validates() -> None:
    shipped = goalmatch.frameworks()
    assert {k: (len(v.goals), v.multi_label) for k, v in shipped.items()} == EXPECTED
    for fw in shipped.values():
        for goal in fw.all_goals():
            assert len(goal.description) > 20, goal.id


def test_agenda_2030_has_all_169_targets_as_children() -> None:
    sdg = goalmatch.frameworks()["agenda-2030"]
    targets = [t.id for g in sdg.goals for t in g.children]
    assert len(targets) == 169
    assert sdg.goal("sdg-1.a").parent == "sdg-1"
    assert sdg.top_level("sdg-17.19") == "sdg-17"
    assert sdg.goal_ids == tuple(f"sdg-{n}" for n in range(1, 18))


def test_rus_aliases_map_the_reports_raw_labels() -> None:
    rus = goalmatch.frameworks()["rus-norrbotten-2030"]
    assert rus.resolve("Attraktiva livsmiljöer") == "rus-livsmiljoer"
    assert rus.resolve("Innovation och företagande") == "rus-innovation"
    assert rus.resolve("En flexibel och väl fungerande kompetensförsörjning") == "rus-kompetens"
