"""Page extraction: pages per second through crawler/extract.py vs trafilatura alone vs an lxml parse alone.

On the generated news pages (~28 KB: menu, cookie banner, scripts, teasers, comments, footer around
a ~600-word body), from bytes in memory, alternately in chunks:
- ours: crawler.extract.extract_article (decode, one lxml parse, our metadata, trafilatura's text);
- floor: trafilatura.extract on the same bytes with the same options (no comments, tables), which
  does the same work we need from it: the main text;
- floor: lxml.html.document_fromstring alone, the parse every extractor starts with;
- reference: trafilatura.extract with metadata, to measure what skipping its metadata pass saves.
The whole ingest's rate on the same kind of pages is the end-to-end benchmark's (bench/e2e_bench.py).

    python -m bench.extract_bench [--quick]
"""

from __future__ import annotations

import argparse

import lxml.html
import trafilatura

from bench.figures import Figure, each, interleaved, repeat_to, table
from bench.pages import build_site
from crawler.extract import extract_article

URL = "http://127.0.0.1/o001/page.html"


def run(quick: bool = True) -> list[Figure]:
    """Our extraction against trafilatura's and lxml's, and trafilatura's metadata cost."""
    pages = [body for _, body in build_site(200 if quick else 600, "http://127.0.0.1").pages()]
    items = repeat_to(pages, 300 if quick else 1500)
    rates, n = interleaved({
        "ours": each(lambda b: extract_article(b, URL, encoding="utf-8")),
        "trafilatura": each(lambda b: trafilatura.extract(b, url=URL, include_comments=False, include_tables=True)),
        "trafilatura+metadata": each(lambda b: trafilatura.extract(b, url=URL, include_comments=False,
                                                                   include_tables=True, with_metadata=True)),
        "lxml": each(lxml.html.document_fromstring),
    }, items, budget=25 if quick else 90, chunk=10)
    size = f"{sum(map(len, pages)) // len(pages) // 1000} KB pages"
    return [
        Figure("extract", "crawler.extract.extract_article", "pages/s", rates["ours"],
               "trafilatura.extract, same options", rates["trafilatura"], n, note=size),
        Figure("extract", "crawler.extract.extract_article", "pages/s", rates["ours"],
               "lxml.html parse alone", rates["lxml"], n, note=size),
        Figure("extract", "ref: trafilatura.extract with_metadata=True", "pages/s", rates["trafilatura+metadata"],
               "trafilatura.extract, no metadata", rates["trafilatura"], n, note="the metadata pass we skip"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    print(table(run(ap.parse_args().quick)))


if __name__ == "__main__":
    main()
