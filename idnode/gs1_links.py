"""GS1 links: where a record sends the GS1 keys mapped to it (GS1-Conformant Resolver 1.1).

The convention: a record's **default link** (``gs1:defaultLink``) is its URL value with the lowest
index, listed also as its product information page (``gs1:pip``); further links are values of type
``GS1_LINK``, format "string", whose data is a JSON object text::

    {"linkType": "gs1:certificationInfo", "href": "https://example.com/cert.pdf",
     "title": "Certificate", "hreflang": ["zh", "en"], "type": "application/pdf"}

``linkType`` is a CURIE of the GS1 Web vocabulary (``gs1:pip``) or an absolute IRI (GS1 vocabulary
IRIs in any spelling are stored as ``https://gs1.org/voc/<term>``), ``href`` an absolute http(s) URL
and ``title`` a human-readable title (both required), ``hreflang`` one BCP 47 tag or a list of them,
``type`` a media type. A record without a URL value has its first ``GS1_LINK`` as default link.
Only publicly readable values count. Every ``GS1`` and ``GS1_LINK`` value is checked when written.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from idnode import gs1
from idnode.model.errors import InvalidValue
from idnode.model.record import Record
from idnode.model.values import HandleValue

GS1, GS1_LINK, URL = "GS1", "GS1_LINK", "URL"
GS1_VOC = "https://gs1.org/voc/"
DEFAULT_LINK = GS1_VOC + "defaultLink"
PIP = GS1_VOC + "pip"
DEFAULT_TITLE = "Product information page"
MAX_TITLE_LENGTH = 200
# Spellings of the GS1 Web vocabulary namespace that clients use.
_GS1_NAMESPACES = (
    "gs1:",
    GS1_VOC,
    "http://gs1.org/voc/",
    "https://ref.gs1.org/voc/",
    "http://ref.gs1.org/voc/",
)
_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_WEB_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")
_FIELDS = {"linkType", "href", "title", "hreflang", "type"}


@dataclass(frozen=True, slots=True)
class Gs1Link:
    """One link: its type (a full IRI), target, title, languages and media type."""

    link_type: str
    href: str
    title: str
    hreflang: tuple[str, ...] = ()
    media_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The link's target attributes as an RFC 9264 JSON linkset lists them."""
        body: dict[str, Any] = {"href": self.href, "title": self.title}
        if self.media_type:
            body["type"] = self.media_type
        if self.hreflang:
            body["hreflang"] = list(self.hreflang)
        return body

    def header(self) -> str:
        """The link as one RFC 8288 ``Link`` header entry (a title that is not ASCII goes in ``title*``,
        RFC 8187, after an ASCII ``title``: the link type's term)."""
        params = [f'rel="{self.link_type}"']
        if self.title.isascii():
            params.append(f"title={_quoted(self.title)}")
        else:
            term = self.link_type.rstrip("/").rsplit("/", 1)[-1]
            params += [f"title={_quoted(term)}", f"title*=UTF-8''{quote(self.title, safe='')}"]
        params += [f'hreflang="{tag}"' for tag in self.hreflang]
        if self.media_type:
            params.append(f'type="{self.media_type}"')
        return f"<{self.href}>; " + "; ".join(params)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link_type_iri(text: str) -> str:
    """The full IRI of a link type written as a CURIE (``gs1:pip``) or an IRI; raise InvalidValue."""
    for namespace in _GS1_NAMESPACES:
        if text.startswith(namespace):
            term = text[len(namespace) :]
            if not _TERM.fullmatch(term):
                raise InvalidValue(f"{text!r} is not a GS1 link type: write gs1:<term>, e.g. gs1:pip.")
            return GS1_VOC + term
    if is_web_url(text):
        return text
    raise InvalidValue(f"A link type is gs1:<term> (e.g. gs1:pip) or an absolute http(s) IRI; got {text!r}.")


def is_web_url(text: str) -> bool:
    """True for an absolute http(s) URL (non-ASCII characters allowed: see ``as_uri``)."""
    return bool(_WEB_URL.fullmatch(text)) and bool(urlsplit(text).netloc)


def as_uri(url: str) -> str:
    """``url`` with its non-ASCII characters percent-encoded as UTF-8, fit for a Location header."""
    return quote(url, safe="!#$%&'()*+,/:;=?@[]~")


def parse_link(text: str) -> Gs1Link:
    """The link a ``GS1_LINK`` value's data describes (see the module docstring); raise InvalidValue."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidValue("A GS1_LINK value is a JSON object text.") from None
    if not isinstance(body, dict):
        raise InvalidValue("A GS1_LINK value is a JSON object text.")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidValue(f"Unknown GS1_LINK field(s) {unknown}; the fields are {sorted(_FIELDS)}.")
    link_type, href, title = body.get("linkType"), body.get("href"), body.get("title")
    if not isinstance(link_type, str):
        raise InvalidValue('A GS1_LINK needs a linkType, e.g. "gs1:pip".')
    if link_type_iri(link_type) == DEFAULT_LINK:
        raise InvalidValue("gs1:defaultLink is not set by a GS1_LINK: the default link is the record's URL.")
    if not isinstance(href, str) or not is_web_url(href):
        raise InvalidValue("A GS1_LINK needs an href that is an absolute http(s) URL.")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_LENGTH:
        raise InvalidValue(f"A GS1_LINK needs a title of 1 to {MAX_TITLE_LENGTH} characters.")
    return Gs1Link(
        link_type_iri(link_type), as_uri(href), title, _languages(body.get("hreflang")), _media(body)
    )


def _languages(raw: Any) -> tuple[str, ...]:
    tags = [raw] if isinstance(raw, str) else raw if raw is not None else []
    if not isinstance(tags, list) or not all(isinstance(t, str) and _LANGUAGE.fullmatch(t) for t in tags):
        raise InvalidValue('A GS1_LINK hreflang is a language tag (e.g. "zh-CN") or a list of them.')
    return tuple(tags)


def _media(body: dict[str, Any]) -> str | None:
    media = body.get("type")
    if media is not None and not (isinstance(media, str) and _MEDIA_TYPE.fullmatch(media)):
        raise InvalidValue('A GS1_LINK type is a media type such as "text/html".')
    return media


def check_values(values: Iterable[HandleValue]) -> None:
    """Raise InvalidValue, naming the value, unless every ``GS1`` value holds a valid GS1 key and
    every ``GS1_LINK`` value a valid link, each as format "string"."""
    for value in values:
        if value.type not in (GS1, GS1_LINK):
            continue
        if value.format != "string":
            raise InvalidValue(f"Value {value.index}: {value.type} values have format 'string'.")
        try:
            if value.type == GS1:
                gs1.parse(value.data)
            else:
                parse_link(value.data)
        except InvalidValue as exc:
            raise type(exc)(f"Value {value.index} ({value.type}): {exc.message}") from None


def record_links(record: Record) -> list[Gs1Link]:
    """A record's public links: the default link first (``gs1:defaultLink``), then each link under
    its own type in index order (the default URL as ``gs1:pip``); none if it has no public link."""
    public = [v for v in record.values if v.public_read and v.format == "string"]
    url = next((v.data for v in public if v.type == URL and is_web_url(v.data)), None)
    links = [Gs1Link(PIP, as_uri(url), DEFAULT_TITLE)] if url else []
    for value in public:
        if value.type == GS1_LINK:
            with contextlib.suppress(InvalidValue):  # stored before links were checked: skipped
                links.append(parse_link(value.data))
    if not links:
        return []
    return [Gs1Link(DEFAULT_LINK, links[0].href, links[0].title), *links]


def linkset(contexts: Iterable[tuple[str, Sequence[Gs1Link]]]) -> dict[str, Any]:
    """An RFC 9264 JSON linkset: one context object per (anchor, links), links grouped by type."""
    objects = []
    for anchor, links in contexts:
        body: dict[str, Any] = {"anchor": anchor}
        for link in links:
            body.setdefault(link.link_type, []).append(link.to_json())
        objects.append(body)
    return {"linkset": objects}
