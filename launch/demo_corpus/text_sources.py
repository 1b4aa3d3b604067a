"""Text source builders (conversations, web pages, WET, books, Wikipedia, news): ordinary
documents up to the byte budget, then the planted items; also those planted across sources."""

from __future__ import annotations

from launch.demo_corpus.documents import (
    Doc,
    SourceBuild,
    bullet_text,
    count_of,
    fill,
    foreign_documents,
    lorem_paragraphs,
    plant_control_chars,
    plant_exact_duplicates,
    plant_mojibake,
    plant_near_duplicates,
    plant_pii,
    repetitive_text,
    short_text,
    symbol_soup,
)
from launch.demo_corpus.layout import MIN_DOCS, WEB_HTML_OVERHEAD
from launch.demo_corpus.material import (
    BOOK_ADJECTIVES,
    BOOK_AUTHORS,
    BOOK_NOUNS,
    FOLLOW_UPS,
    FORUM_USERS,
    NEWS_CITIES,
    NEWS_FOOTER,
    NEWS_HEADLINES,
    NEWS_OUTLET,
    PAGE_TITLES,
    QUESTIONS,
    SIGNATURES,
    SITES,
    WIKI_SECTIONS,
)
from launch.demo_corpus.prose import humanize, short_title


def _no_meta(doc: Doc) -> dict:
    return {}


def _same_meta(doc: Doc) -> dict:
    return dict(doc.meta)


def conversation_text(b: SourceBuild) -> str:
    rng, c = b.rng, b.compose
    if rng.random() < 0.5:  # assistant chat
        turns = []
        for t in range(rng.randint(1, 3)):
            name, unit_sentences = c.unit()
            question = rng.choice(QUESTIONS).format(name=name.rsplit(".", 1)[-1],
                                                    topic=humanize(name))
            if t and rng.random() < 0.6:
                question = f"{rng.choice(FOLLOW_UPS)} {question}"
            elif rng.random() < 0.4:
                question = f"{c.sentences(1)[0]} {question}"
            answer = unit_sentences[:rng.randint(2, 4)] + c.sentences(rng.randint(1, 3))
            turns.append(f"User: {question}")
            turns.append(f"Assistant: {' '.join(answer)}")
        return "\n".join(turns)
    subject = humanize(c.unit()[0]).capitalize()
    posts = [f"Subject: Question about {subject.lower()}"]
    for _ in range(rng.randint(2, 5)):
        author = rng.choice(FORUM_USERS)
        post = f"{author} wrote:\n{c.paragraph(2, 5)}"
        if author in SIGNATURES and rng.random() < 0.9:
            post += "\n" + SIGNATURES[author]
        posts.append(post)
    return "\n\n".join(posts)


def build_conversations(b: SourceBuild, budget: float) -> None:
    fill(b, budget, lambda: b.new(conversation_text(b)))
    n = len(b.docs)
    meta = _no_meta
    plant_exact_duplicates(b, count_of(n, 0.004, 2), meta)
    plant_near_duplicates(b, count_of(n, 0.004, 2), meta)
    plant_pii(b, count_of(n, 0.006, 3))
    plant_mojibake(b, count_of(n, 0.002, 1))
    plant_control_chars(b, count_of(n, 0.002, 1))
    for _ in range(count_of(n, 0.002, 1)):
        b.record(b.insert(b.new(symbol_soup(b.rng))), "junk_symbols")
    used: set[str] = set()
    for _ in range(count_of(n, 0.003, 2)):
        text = short_text(b, used)
        b.record(b.insert(b.new(text)), "junk_too_short", words=len(text.split()))
    for _ in range(count_of(n, 0.002, 1)):
        b.record(b.insert(b.new(bullet_text(b))), "junk_bullets")
    for _ in range(count_of(n, 0.002, 1)):
        text, line, times = repetitive_text(b)
        b.record(b.insert(b.new(text)), "junk_repetitive", line=line, times=times)


def _page(b: SourceBuild, title: str, paragraphs: list[str], lang: str = "en",
          site: int | None = None) -> Doc:
    site = b.rng.randrange(len(SITES)) if site is None else site
    return b.new("\n\n".join(paragraphs), title=title, site=site, lang=lang)


def _ordinary_page(b: SourceBuild) -> Doc:
    c = b.compose
    name, lead = c.unit()
    topic = humanize(name)
    title = b.rng.choice(PAGE_TITLES).format(topic=topic, Topic=topic.capitalize())
    paragraphs = [" ".join(lead[:4] + c.sentences(b.rng.randint(1, 2)))]
    paragraphs += [c.paragraph(3, 6) for _ in range(b.rng.randint(2, 7))]
    return _page(b, title, paragraphs)


def build_webpages(b: SourceBuild, budget: float) -> None:
    fill(b, budget, lambda: _ordinary_page(b), lambda d: len(d.text) + WEB_HTML_OVERHEAD)
    n = len(b.docs)
    meta = _same_meta
    plant_exact_duplicates(b, count_of(n, 0.004, 2), meta)
    plant_near_duplicates(b, count_of(n, 0.004, 2), meta)
    plant_pii(b, count_of(n, 0.005, 2))
    plant_mojibake(b, count_of(n, 0.002, 1))
    for _ in range(count_of(n, 0.003, 1)):
        doc = b.insert(_page(b, "Lorem ipsum", lorem_paragraphs(b.rng, b.rng.randint(3, 6))))
        b.record(doc, "junk_lorem_ipsum")


def _wet_text(b: SourceBuild, title: str, paragraphs: list[str], site: int) -> str:
    s = SITES[site]
    return "\n".join([" | ".join(s["nav"]), s["cookie"], title, *paragraphs, *s["footer"]])


def build_web_wet(b: SourceBuild, budget: float) -> None:
    def make() -> Doc:
        page = _ordinary_page(b)
        return b.new(_wet_text(b, page.meta["title"], page.text.split("\n\n"),
                               page.meta["site"]), site=page.meta["site"])
    fill(b, budget, make)
    n = len(b.docs)
    plant_pii(b, count_of(n, 0.005, 1), min_len=200)
    for _ in range(count_of(n, 0.005, 1)):
        b.record(b.insert(b.new(symbol_soup(b.rng), site=None)), "junk_symbols")
    for _ in range(count_of(n, 0.005, 1)):
        b.record(b.insert(b.new(bullet_text(b), site=None)), "junk_bullets")
    for _ in range(count_of(n, 0.005, 1)):
        site = b.rng.randrange(len(SITES))
        text = _wet_text(b, "Lorem ipsum", lorem_paragraphs(b.rng, b.rng.randint(3, 5)), site)
        b.record(b.insert(b.new(text, site=site)), "junk_lorem_ipsum")


def _book(b: SourceBuild, target: int) -> Doc:
    rng, c = b.rng, b.compose
    title = f"The {rng.choice(BOOK_ADJECTIVES)} {rng.choice(BOOK_NOUNS)}"
    if rng.random() < 0.5:
        title += f", Volume {rng.randint(1, 9)}"
    author = rng.choice(BOOK_AUTHORS)
    blocks = [title, f"by {author}"]
    size, chapter = 0, 0
    while size < target:
        chapter += 1
        blocks.append(f"Chapter {chapter}")
        for _ in range(rng.randint(8, 15)):
            para = c.paragraph(3, 8)
            blocks.append(para)
            size += len(para) + 2
    return b.new("\n\n".join(blocks) + "\n", title=title)


def build_books(b: SourceBuild, budget: float) -> None:
    cap = max(20_000, int(budget / MIN_DOCS["books"]))
    fill(b, budget, lambda: _book(b, min(b.rng.randint(20_000, 200_000), cap)))
    n = len(b.docs)
    meta = _same_meta
    plant_exact_duplicates(b, count_of(n, 0.02, 1), meta)
    plant_near_duplicates(b, count_of(n, 0.02, 1), meta)
    plant_pii(b, count_of(n, 0.02, 1))
    plant_mojibake(b, count_of(n, 0.02, 1))
    text, line, times = repetitive_text(b)
    title = "Notes"
    b.record(b.insert(b.new(f"{title}\n\n{text}\n", title=title)), "junk_repetitive",
             line=line, times=times)

def article(b: SourceBuild, titles: set[str]) -> Doc:
    rng, c = b.rng, b.compose
    name, lead = c.unit()
    title = humanize(name).capitalize()
    if title in titles:
        title = f"{title} ({name.split('.')[0]})"
    k = 2
    while title in titles:
        title = f"{humanize(name).capitalize()} ({k})"
        k += 1
    titles.add(title)
    blocks = [title, " ".join(lead[:5] + c.sentences(rng.randint(1, 3)))]
    for heading in rng.sample(WIKI_SECTIONS, rng.randint(2, 5)):
        blocks.append(heading)
        blocks += [c.paragraph(3, 7) for _ in range(rng.randint(1, 3))]
    return b.new("\n\n".join(blocks), title=title)


def build_wikipedia(b: SourceBuild, budget: float) -> None:
    titles: set[str] = set()
    fill(b, budget, lambda: article(b, titles))
    n = len(b.docs)
    plant_exact_duplicates(b, count_of(n, 0.004, 1),
                           lambda d: {"title": d.meta["title"] + " (mirror)"})
    plant_near_duplicates(b, count_of(n, 0.004, 2),
                          lambda d: {"title": d.meta["title"] + " (revision)"})
    plant_pii(b, count_of(n, 0.004, 1))
    plant_control_chars(b, count_of(n, 0.002, 1))


def _news(b: SourceBuild) -> Doc:
    rng, c = b.rng, b.compose
    name, lead = c.unit()
    topic = humanize(name)
    headline = rng.choice(NEWS_HEADLINES).format(topic=topic, Topic=topic.capitalize())
    blocks = [headline,
              f"{rng.choice(NEWS_CITIES)} ({NEWS_OUTLET}) - " + " ".join(lead[:3]
                                                                     + c.sentences(1))]
    blocks += [c.paragraph(2, 4) for _ in range(rng.randint(2, 5))]
    if rng.random() < 0.5:
        blocks.append(NEWS_FOOTER)
    return b.new("\n\n".join(blocks), title=headline)


def build_news(b: SourceBuild, budget: float) -> None:
    fill(b, budget, lambda: _news(b))
    n = len(b.docs)
    plant_exact_duplicates(b, count_of(n, 0.005, 1),
                           lambda d: {"title": d.meta["title"], "syndicated": True})
    plant_near_duplicates(b, count_of(n, 0.005, 1), lambda d: {"title": d.meta["title"]})
    plant_pii(b, count_of(n, 0.005, 1))
    plant_mojibake(b, count_of(n, 0.002, 1))
    plant_control_chars(b, count_of(n, 0.002, 1))
    used: set[str] = set()
    for _ in range(count_of(n, 0.003, 1)):
        text = short_text(b, used)
        b.record(b.insert(b.new(text)), "junk_too_short", words=len(text.split()))
    for _ in range(count_of(n, 0.002, 1)):
        text, line, times = repetitive_text(b)
        b.record(b.insert(b.new(text)), "junk_repetitive", line=line, times=times)


def plant_foreign(builds: dict[str, SourceBuild], seed: int) -> None:
    for target, docs in foreign_documents(seed).items():
        b = builds[target]
        for lang, s in docs:
            title = short_title(s[0])
            if target == "conversations":
                doc = b.new(f"User: {s[0]} {s[1]}\nAssistant: {' '.join(s[2:])}")
            elif target == "webpages":
                doc = _page(b, title, [" ".join(s[:3]), " ".join(s[3:])], lang=lang)
            elif target == "web_wet":
                site = b.rng.randrange(len(SITES))
                doc = b.new(_wet_text(b, title, [" ".join(s[:3]), " ".join(s[3:])], site),
                            site=site)
            elif target == "wikipedia":
                doc = b.new(f"{title}\n\n{' '.join(s[:3])}\n\n{' '.join(s[3:])}",
                            title=f"{title} ({lang})")
            else:  # news
                doc = b.new(f"{title}\n\n{' '.join(s[:2])}\n\n{' '.join(s[2:])}", title=title)
            b.record(b.insert(doc), "non_english", lang=lang)


def plant_cross_source(builds: dict[str, SourceBuild]) -> None:
    """Text that appears in two sources: what per-source dedup cannot catch."""
    news, conv, wiki, wet = (builds["news"], builds["conversations"], builds["wikipedia"],
                             builds["web_wet"])
    books, web = builds["books"], builds["webpages"]
    # A news article pasted whole into a forum post.
    for orig in news.pick_originals(count_of(len(conv.docs), 0.001, 1)):
        dup = conv.insert(conv.new(orig.text))
        conv.record(dup, "exact_duplicate", original=orig, scope="cross_source")
    # A Wikipedia article captured by a web crawl (WET holds the extracted text).
    for orig in wiki.pick_originals(count_of(len(wet.docs), 0.01, 1)):
        dup = wet.insert(wet.new(orig.text, site=None))
        wet.record(dup, "exact_duplicate", original=orig, scope="cross_source")
    # A passage of a book published as a web article.
    for orig in books.pick_originals(count_of(len(web.docs), 0.002, 1)):
        blocks = orig.text.rstrip("\n").split("\n\n")
        starts = [i for i in range(2, len(blocks)) if not blocks[i].startswith("Chapter ")]
        start = books.rng.choice(starts)
        end = start
        target = books.rng.randint(3, 6)
        while end < len(blocks) and end - start < target and not blocks[end].startswith(
                "Chapter "):
            end += 1
        passage = "\n\n".join(blocks[start:end])
        page = web.insert(_page(web, f"An excerpt from {orig.meta['title']}",
                                blocks[start:end]))
        web.record(page, "exact_duplicate_passage", original=orig, scope="cross_source",
                   paragraphs=end - start, passage_chars=len(passage),
                   passage_offset=orig.text.index(passage))
