from __future__ import annotations

from goalmatch.data.seeds import parse_polaris_projects

SEED004_LIKE = """Beviljade projekt

 • Förstudie utställning, The Arctic Circle Centre – Gateway 97 – Slutredovisat
  Syftet med projektet är att utveckla en besöksnäringsattraktion.
  Målet är att ta fram underlag.
 • Tänk Jämt – Under handläggning
 • Kompetensbanken –\u00a0Pågående
  Syftet är att kartlägga kompetensbehov.
"""


def test_polaris_list_parses_titles_statuses_and_texts() -> None:
    projects = parse_polaris_projects(SEED004_LIKE)
    assert [(p.title, p.status) for p in projects] == [
        ("Förstudie utställning, The Arctic Circle Centre – Gateway 97", "Slutredovisat"),
        ("Tänk Jämt", "Under handläggning"),
        ("Kompetensbanken", "Pågående"),
    ]
    assert projects[0].text == (
        "Syftet med projektet är att utveckla en besöksnäringsattraktion. Målet är att ta fram underlag."
    )
    assert projects[1].text == ""
    assert projects[0].line == 3
