"""The published site in a real browser (Debian's Chromium driven by Playwright).

Every page of the table of contents loads without console errors or requests to other hosts, its math
is typeset, its images load (and carry alt text), its animations play; the search finds "Adam" on the
optimizers page; every chapter's Colab link opens its student notebook. A screenshot of each page lands in
screenshots/ (ignored by git). A deliberately broken copy of a page proves the checks can fail.
"""

import re
import shutil

import pytest
import yaml
from browser import chromium, inspect_page, require_chromium, serve
from sitebuild import HTML, ROOT, build_site

from dnncourse.authoring.notebooks import repository

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ROOT / "screenshots"


def _pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


def _chapters():
    return [p for p in _pages() if (ROOT / f"{p}.ipynb").is_file()]


@pytest.fixture(scope="module")
def site_url():
    require_chromium()
    result = build_site()
    assert result.returncode == 0, result.stdout[-5000:]
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def browser(site_url):
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("page", _pages())
def test_page_reads_well(browser, site_url, page):
    problems = inspect_page(browser, f"{site_url}/{page}.html", SCREENSHOTS / f"{page.replace('/', '_')}.png")
    assert problems == []


@pytest.mark.parametrize("page", _chapters())
def test_colab_link_opens_the_student_notebook(browser, site_url, page):
    url, branch = repository(ROOT)
    expected = f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{branch}/{page}.ipynb"
    tab = browser.new_page()
    tab.goto(f"{site_url}/{page}.html")
    links = tab.eval_on_selector_all("a[href*='colab.research.google.com']", "els => els.map(e => e.href)")
    tab.close()
    assert links == [expected]


def test_search_finds_adam_on_the_optimizers_page(browser, site_url):
    optimizers = [p for p in _chapters() if "optimizers" in p]
    if not optimizers:
        pytest.skip("no optimizers chapter in the table of contents yet")
    tab = browser.new_page()
    tab.goto(f"{site_url}/search.html?q=Adam")
    tab.wait_for_selector("#search-results li a", timeout=20000)
    hits = tab.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    tab.close()
    assert any(optimizers[0].split("/")[-1] in hit for hit in hits), hits


def test_the_checks_catch_a_broken_image_and_raw_math(browser, tmp_path):
    broken = tmp_path / "html"
    shutil.copytree(HTML, broken)
    page = broken / "book" / "getting_started.html"
    html = page.read_text()
    html, replaced = re.subn(r'(<img[^>]*src=")\.\./_images/[^"]+(")', r"\1../_images/missing.png\2", html, count=1)
    assert replaced == 1
    sentence = "This short chapter checks"
    assert sentence in html
    html = html.replace(sentence, r"The loss is $$\frac{1}{n}\sum_i \ell_i$$ here. " + sentence, 1)
    page.write_text(html)
    with serve(broken) as url:
        problems = inspect_page(browser, f"{url}/book/getting_started.html")
    assert any("image did not load" in p for p in problems), problems
    assert any("raw TeX" in p for p in problems), problems
