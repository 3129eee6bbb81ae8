"""What the pages and the JSON API share: the matcher (in :mod:`~goalmatch.web.lanes`), decisions, uploads.

Thin adapters over the library: suggestions come from :meth:`goalmatch.Matcher.suggest`
and nothing here scores texts itself.
"""

from __future__ import annotations

import io
import logging
import time
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from goalmatch._io import decode_text
from goalmatch.errors import UnknownFramework, UploadError
from goalmatch.text.prepare import MAX_TEXT_CHARS
from goalmatch.web.lanes import Lanes
from goalmatch.web.review import model_goals
from goalmatch.web.store import Decision, DecisionIn, Store, StoreError

__all__ = ["MAX_BODY_BYTES", "MAX_UPLOAD_BYTES", "Review", "UploadError", "read_upload"]

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # a request's body: an upload and the form around it
MAX_DOCX_XML_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 200
MAX_PDF_SECONDS = 10.0  # reading one PDF's text, checked before each page
MAX_PDF_PAGE_CONTENT_BYTES = 1024 * 1024  # a page's content streams and forms, decompressed (a page of
# text holds 5-100 kB; pypdf reads about a megabyte of text operators a second)
MAX_PDF_CONTENT_BYTES = 16 * 1024 * 1024  # all pages' together
IMPORT_TOP_K = 5  # goals kept per framework with a stored application
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def read_upload(filename: str, data: bytes) -> str:
    """The text of an uploaded ``.txt`` (UTF-8, UTF-16 or Windows-1252, as ``goalmatch score`` reads), ``.docx``
    or ``.pdf`` file.

    A PDF's text is extracted as it is (pypdf); the matcher's text pipeline
    (:func:`goalmatch.text.prepare.prepare`) repairs PDF-broken Swedish afterwards.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"Filen är för stor ({len(data) // 1024} kB); högst {MAX_UPLOAD_BYTES // 1024} kB.")
    name = filename.lower()
    if name.endswith(".txt"):
        try:
            text, _ = decode_text(data)  # UTF-8 (with or without BOM), UTF-16, or Windows-1252 ("ANSI")
        except UnicodeDecodeError:
            raise UploadError("Textfilen går inte att läsa: den är varken UTF-8, UTF-16 eller Windows-1252 (ANSI), "
                              "eller så är den trasig; spara den som UTF-8 och försök igen.") from None
    elif name.endswith(".docx"):
        text = _docx_text(data)
    elif name.endswith(".pdf"):
        text = _pdf_text(data)
    else:
        raise UploadError("Bara .txt-, .docx- och .pdf-filer tas emot.")
    if not text.strip():
        raise UploadError("Filen innehåller ingen text.")
    if len(text) > MAX_TEXT_CHARS:
        raise UploadError(f"Texten är för lång; högst {MAX_TEXT_CHARS} tecken.")
    return text


def _docx_text(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > MAX_DOCX_XML_BYTES:
                raise UploadError("Word-dokumentet är för stort uppackat.")
            xml = _read_capped(archive, info, MAX_DOCX_XML_BYTES)
        root = ElementTree.fromstring(xml)  # no DTDs or entities in OOXML; expat refuses external ones
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, EOFError, zlib.error, NotImplementedError):
        raise UploadError("Filen går inte att läsa som ett Word-dokument (.docx).") from None
    paragraphs = []
    for paragraph in root.iter(f"{_W}p"):
        parts = [node.text or "" for node in paragraph.iter() if node.tag in (f"{_W}t",)]
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs).strip()


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """A zip member, decompressed in 64 KiB steps and refused once past ``cap`` bytes.

    The zip directory's size is the sender's claim: ``archive.read`` of a member that
    under-states it inflates all its compressed data in one step (issue 16, item 12).
    """
    parts = []
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(65536):
            size += len(chunk)
            if size > cap:
                raise UploadError("Word-dokumentet är för stort uppackat.")
            parts.append(chunk)
    return b"".join(parts)


def _pdf_text(data: bytes) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise UploadError("PDF-filer kan inte läsas här (paketet pypdf saknas); klistra in texten i stället.") from None
    if b"%PDF-" not in data[:1024]:  # the header may follow a little junk
        raise UploadError("Filen går inte att läsa som en PDF.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UploadError("PDF-filen är krypterad eller lösenordsskyddad; spara en version utan skydd.")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise UploadError(f"PDF-filen har för många sidor; högst {MAX_PDF_PAGES}.")
        pages = []
        chars = content = 0
        deadline = time.monotonic() + MAX_PDF_SECONDS
        for number, page in enumerate(reader.pages, 1):
            if time.monotonic() > deadline:
                raise UploadError(f"PDF-filen tar för lång tid att läsa (mer än {MAX_PDF_SECONDS:g} s, vid sida "
                                  f"{number}); klistra in texten i stället.")
            content += _page_content_bytes(page, number)
            if content > MAX_PDF_CONTENT_BYTES:
                raise UploadError(f"PDF-filens innehåll är för stort uppackat (mer än "
                                  f"{MAX_PDF_CONTENT_BYTES // 2**20} MB); klistra in texten i stället.")
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            if chars > MAX_TEXT_CHARS:
                break  # read_upload refuses it as too long
    except UploadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        log.info("unreadable PDF upload: %s", exc)
        raise UploadError("Filen går inte att läsa som en PDF.") from None
    text = "\n\n".join(p.strip() for p in pages).strip()
    if not text:
        raise UploadError("PDF-filen innehåller ingen text (en inskannad bild?); klistra in texten i stället.")
    return text


def _page_content_bytes(page: Any, number: int) -> int:
    """The decompressed size of a page's content streams and its form XObjects (one level).

    Counted before the page's text is extracted, which takes about a second per megabyte
    of text operators; refused past :data:`MAX_PDF_PAGE_CONTENT_BYTES` (issue 16, item 13).
    """
    from pypdf.generic import ArrayObject

    streams = []
    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    if isinstance(contents, ArrayObject):
        streams += [item.get_object() for item in contents]
    elif contents is not None:
        streams.append(contents)
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    for item in (xobjects.get_object().values() if xobjects is not None else ()):
        form = item.get_object()
        if form.get("/Subtype") == "/Form":
            streams.append(form)
    size = 0
    for stream in streams:
        size += _stream_bytes(stream, MAX_PDF_PAGE_CONTENT_BYTES - size)
        if size > MAX_PDF_PAGE_CONTENT_BYTES:
            raise UploadError(f"Sida {number} i PDF-filen är för stor uppackad (mer än "
                              f"{MAX_PDF_PAGE_CONTENT_BYTES // 2**20} MB); klistra in texten i stället.")
    return size


def _stream_bytes(stream: Any, room: int) -> int:
    """A PDF stream's decompressed size; a plain Flate stream is inflated in 64 KiB steps, no further than ``room``.

    Other filters are decoded by pypdf (which caps each at tens of megabytes itself).
    """
    raw = getattr(stream, "_data", None)  # pypdf keeps a stream's encoded bytes there
    filters = stream.get("/Filter")
    plain_flate = filters == "/FlateDecode" or (isinstance(filters, list) and list(filters) == ["/FlateDecode"])
    if isinstance(raw, bytes) and plain_flate and stream.get("/DecodeParms") is None:
        inflater = zlib.decompressobj()
        try:
            size = len(inflater.decompress(raw, 65536))
            while inflater.unconsumed_tail and size <= room:
                size += len(inflater.decompress(inflater.unconsumed_tail, 65536))
            return size if size > room else size + len(inflater.flush())
        except zlib.error:
            pass  # pypdf may still recover it
    return len(stream.get_data())


class Review:
    """The app's model and store, and the rules of a decision."""

    def __init__(self, matcher: Any, store: Store, lanes: Lanes | None = None) -> None:
        self.matcher = matcher
        self.store = store
        self.frameworks = matcher.frameworks  # id → Framework, computed once
        self.lanes = lanes or Lanes()  # short texts side by side, a long one in pieces that give way

    def swap_matcher(self, matcher: Any) -> Any:
        """Serve ``matcher`` from the next suggestion on (one assignment: a suggestion under way keeps
        the one it started with; the lanes are handed the matcher per call); returns the one replaced."""
        if set(matcher.frameworks) != set(self.frameworks):
            raise StoreError("den nya modellen har andra ramverk än den som används")
        old, self.matcher = self.matcher, matcher
        return old

    @property
    def model_name(self) -> str:
        """The served model's name: its folder's (or the manifest's ``name``)."""
        info = self.matcher.info
        return str(info.get("name") or (info.get("path") and Path(info["path"]).name) or "startmodellen")

    def suggest(self, text: str, top_k: int = 3, frameworks: Sequence[str] | None = None) -> dict[str, Any]:
        if len(text) > MAX_TEXT_CHARS:
            raise StoreError(f"texten är för lång; högst {MAX_TEXT_CHARS} tecken")
        matcher = self.matcher  # read once: a swap meanwhile does not mix two models in one answer
        try:
            matcher.framework_ids(frameworks or None)
        except UnknownFramework as exc:
            raise StoreError(f"okänt ramverk: {', '.join(exc.unknown)}; finns: {', '.join(exc.known)}") from None
        result = self.lanes.suggest(matcher, text, top_k=top_k, frameworks=frameworks or None)
        return dict(result.to_dict())

    def import_text(self, title: str, text: str, source: str, user: str | None,
                    suggestions: dict[str, Any] | None = None, external_id: str | None = None) -> int:
        if not text.strip():
            raise StoreError("texten är tom")
        if suggestions is None:
            model = self.model_name
            suggestions = {**self.suggest(text, top_k=IMPORT_TOP_K), "model": model}  # shown on its page
        elif not isinstance(suggestions.get("frameworks"), list):
            raise StoreError("suggestions: väntade ett objekt med listan 'frameworks' (Suggestions.to_dict())")
        return self.store.add_application(title, text, source or "web", suggestions, created_by=user,
                                          external_id=external_id)

    def decide(self, application_id: int, framework_id: str, action: str, goal_ids: Sequence[str], *,
               reviewer: str, version: int, comment: str = "") -> Decision:
        """Check a decision against the framework and the stored suggestions, then record it.

        ``accept`` takes the model's confident goals, ``reject`` says none of the
        suggested goals fits (no goals), ``correct`` takes the reviewer's goals.
        """
        app = self.store.application(application_id)
        item = self.checked(app, framework_id, action, goal_ids, version=version, comment=comment)
        return self.store.decide_many(application_id, [item], reviewer=reviewer)[0]

    def decide_many(self, application_id: int, items: Sequence[DecisionIn], *, reviewer: str) -> list[Decision]:
        """Several frameworks' decisions on one application, each checked, saved together or not at all.

        A checking error names its framework (Swedish) and nothing is saved; so does a
        conflict (:meth:`Store.decide_many`).
        """
        if not items:
            raise StoreError("inget beslut att spara: välj en åtgärd för minst ett ramverk")
        app = self.store.application(application_id)
        checked = []
        for item in items:
            try:
                checked.append(self.checked(app, item.framework_id, item.action, item.goal_ids,
                                            version=item.expected_version, comment=item.comment))
            except StoreError as exc:
                framework = self.frameworks.get(item.framework_id)
                raise StoreError(f"{framework.name if framework else item.framework_id}: {exc}") from None
        names = {fid: fw.name for fid, fw in self.frameworks.items()}
        return self.store.decide_many(application_id, checked, reviewer=reviewer, names=names)

    def checked(self, app: dict[str, Any], framework_id: str, action: str, goal_ids: Sequence[str], *,
                version: int, comment: str = "") -> DecisionIn:
        """A decision made valid: its goals by the rules of ``action``; Swedish :class:`StoreError` if not."""
        framework = self.frameworks.get(framework_id)
        if framework is None:
            raise StoreError(f"okänt ramverk {framework_id!r}")
        stored = next((f for f in app["suggestions"].get("frameworks", []) if f["framework_id"] == framework_id),
                      None)
        if action == "accept":
            goals = model_goals(stored) if stored else []
        elif action == "reject":
            goals = []
        elif action == "correct":
            goals = list(dict.fromkeys(goal_ids))
            if not goals:
                raise StoreError("välj minst ett mål för att rätta förslaget")
            bad = [g for g in goals if g not in framework.goal_ids]
            if bad:
                raise StoreError(f"{', '.join(bad)} är inte mål i {framework_id}")
            if not framework.multi_label and len(goals) > 1:
                raise StoreError(f"{framework.name} tar ett mål per projekt; välj ett")
        else:
            raise StoreError(f"okänd åtgärd {action!r}; välj Godkänn, Avvisa eller Rätta")
        if len(comment) > 5000:
            raise StoreError("kommentaren är för lång (högst 5000 tecken)")
        return DecisionIn(framework_id, action, tuple(goals), version, comment.strip())
