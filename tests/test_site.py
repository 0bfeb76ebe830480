"""The static site: it builds with no Sphinx warning, has every page, and links each chapter to Colab."""

import re

import nbformat
import pytest
import yaml
from sitebuild import HTML, ROOT, build_site

from dnncourse.authoring.notebooks import repository

pytestmark = pytest.mark.slow

CHAPTERS = sorted(p.stem for p in (ROOT / "book" / "solutions").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site():
    result = build_site()
    assert result.returncode == 0, "jupyter-book build -W failed:\n" + result.stdout[-5000:]
    return HTML


def test_site_builds_without_warnings(site):
    assert (site / "index.html").is_file()
    assert (site / "book" / "intro.html").is_file()


def test_every_toc_page_is_built(site):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            assert (site / f"{chapter['file']}.html").is_file(), chapter["file"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_links_its_student_notebook_on_colab(site, chapter):
    html = (site / "book" / f"{chapter}.html").read_text()
    url, branch = repository(ROOT)
    owner_repo = url.split("github.com/")[1]
    expected = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/book/{chapter}.ipynb"
    assert expected in html
    assert "/solutions/" not in re.findall(r'href="([^"]*colab[^"]*)"', html)[0]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_shows_the_student_edition(site, chapter):
    html = (site / "book" / f"{chapter}.html").read_text()
    assert "BEGIN SOLUTION" not in html and "END SOLUTION" not in html
    nb = nbformat.read(ROOT / "book" / "solutions" / f"{chapter}.ipynb", as_version=4)
    if any(c.source.startswith("# EXERCISE:") for c in nb.cells if c.cell_type == "code"):
        assert "NotImplementedError" in html
    assert not (site / "book" / "solutions").exists(), "solutions must not be published"


def test_pages_use_the_offline_mathjax(site):
    html = (site / "book" / "getting_started.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in html
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
