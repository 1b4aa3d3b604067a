"""WARC files (optionally gzipped) of crawled HTML: the main text of every page.

Records of type "response" with a 2xx HTTP status and an HTML content type (text/html or
application/xhtml+xml) are pages; every other record (request, metadata, warcinfo, revisit,
redirects and errors, non-HTML or untyped responses) is skipped: not content, not malformed.

The main text is extracted with trafilatura, offline (it never fetches), given the page's URL,
with settings that favour precision, as pretraining prefers losing a paragraph to keeping
boilerplate: favor_precision, no comments, no tables (flattened tables read as noise), no links,
images or formatting, plain-text output, no metadata, no cross-document dedup (dedup is its own
stage). The HTML bytes go to trafilatura undecoded so it can use the page's declared charset.

location  WARC-Record-ID (else WARC-Target-URI, else '<display>@<byte offset>')
meta      path, url (WARC-Target-URI), date (WARC-Date)

Dead letters: a page from which nothing is extracted ("no extractable main text": nothing is
lost silently, and the count tells how much of a crawl is boilerplate-only), an extraction that
fails, and the damage listed in warcfile (corrupt or truncated file, empty file).
"""

from __future__ import annotations

from typing import Any, Iterator

from pipeline.document import DeadLetter, Document
from pipeline.readers import files, warcfile
from pipeline.readers.base import ReadUnit, dead_letter, document
from pipeline.spec import SourceSpec

HTML_TYPES = ("text/html", "application/xhtml+xml")

TRAFILATURA_OPTIONS: dict[str, Any] = {
    "favor_precision": True,
    "include_comments": False,
    "include_tables": False,
    "include_images": False,
    "include_links": False,
    "include_formatting": False,
    "deduplicate": False,
    "with_metadata": False,
    "output_format": "txt",
}


def plan(source: SourceSpec):
    return files.plan_files(source)


def is_html_page(record: Any) -> bool:
    if record.rec_type != "response" or record.http_headers is None:
        return False
    status = record.http_headers.get_statuscode() or ""
    if not status.startswith("2"):
        return False
    media_type = (warcfile.content_type_of(record) or "").split(";", 1)[0].strip().lower()
    return media_type in HTML_TYPES


def extract_main_text(html: bytes, url: str | None) -> str | None:
    import trafilatura

    return trafilatura.extract(html, url=url, **TRAFILATURA_OPTIONS)


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    for item in warcfile.iter_records(unit, source, is_html_page):
        if not isinstance(item, warcfile.WarcRecord):
            yield item
            continue
        if not item.payload.strip():
            yield dead_letter(source, unit, item.offset,
                              f"response {item.record_id} has an empty body")
            continue
        try:
            text = extract_main_text(item.payload, item.target_uri)
        except Exception as e:  # noqa: BLE001 - one bad page must not end the file
            yield dead_letter(source, unit, item.offset,
                              f"HTML extraction failed for {item.target_uri}: "
                              f"{type(e).__name__}: {e}", excerpt=item.payload)
            continue
        if not text or not text.strip():
            yield dead_letter(source, unit, item.offset,
                              f"no extractable main text in {item.target_uri}",
                              excerpt=item.payload)
            continue
        yield document(source, warcfile.location_of(unit, item), text,
                       warcfile.record_meta(unit, item))
