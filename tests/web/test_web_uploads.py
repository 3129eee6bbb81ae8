"""Issue 16, round two: uploads built to exhaust the server (items 12 and 13), each refused early.

A ``.docx`` whose zip directory under-states ``word/document.xml`` (item 12), and PDFs
whose content streams inflate far beyond their file size, or take long to read (item 13).
Each is generated here, small, with the same mechanism as the attack; the memory and time
of the refusal are bounded by the test.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from goalmatch.errors import UploadError
from goalmatch.web import services
from goalmatch.web.services import read_upload
from tests.web.helpers import pdf_document

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bytes(xml: bytes, *, claimed_size: int | None = None) -> bytes:
    """A ``.docx`` holding ``xml`` as ``word/document.xml``; its directory claims ``claimed_size`` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", xml)
    data = bytearray(buffer.getvalue())
    if claimed_size is not None:
        local = data.index(b"PK\x03\x04")
        central = data.index(b"PK\x01\x02")
        assert struct.unpack_from("<I", data, local + 22)[0] == len(xml)
        struct.pack_into("<I", data, local + 22, claimed_size)  # the local header's uncompressed size
        struct.pack_into("<I", data, central + 24, claimed_size)  # and the central directory's
    return bytes(data)


def paragraphs(count: int) -> bytes:
    body = b"<w:p><w:r><w:t>Vi bygger fiber till byarna.</w:t></w:r></w:p>" * count
    return f'<w:document xmlns:w="{W}"><w:body>'.encode() + body + b"</w:body></w:document>"


def test_a_docx_is_read_as_before() -> None:
    assert read_upload("a.docx", docx_bytes(paragraphs(2))) == "\n".join(["Vi bygger fiber till byarna."] * 2)


def refused_peak_bytes(name: str, data: bytes, refusal: str) -> int:
    """The peak of memory allocated while ``read_upload`` refuses ``data`` with ``refusal``."""
    tracemalloc.start()
    try:
        with pytest.raises(UploadError, match=refusal):
            read_upload(name, data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_docx_understating_its_size_is_refused_without_inflating_it() -> None:
    # issue 16, item 12: the size check trusted the zip directory; a document.xml claiming a few
    # bytes was inflated whole in one step (GBs of memory). Here 32 MiB (a 100 kB file) claims 1,000 bytes.
    xml = paragraphs(32 * 1024 * 1024 // 60)
    data = docx_bytes(xml, claimed_size=1000)
    assert len(data) < 200_000 and len(xml) > 30 * 1024 * 1024
    peak = refused_peak_bytes("bomb.docx", data, "går inte att läsa som ett Word-dokument")
    assert peak < 4 * 1024 * 1024, f"{peak / 2**20:.1f} MiB while refusing it"


def test_a_docx_over_the_unpacked_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "MAX_DOCX_XML_BYTES", 10_000)
    with pytest.raises(UploadError, match="för stort uppackat"):
        read_upload("stor.docx", docx_bytes(paragraphs(1000)))  # 60 kB, the directory honest


# ------------------------------------------------------------------ item 13: PDF pages that inflate or take long


def pdf_bytes(pages: list[bytes], *, form: bytes | None = None) -> bytes:
    """A PDF whose pages have these content streams (Flate-compressed); ``form``: a form XObject on each page."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    objects.append(font)  # object 3
    form_ref = b""
    if form is not None:
        packed = zlib.compress(form, 9)
        objects.append(b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Filter /FlateDecode /Length %d >>"
                       b"\nstream\n" % len(packed) + packed + b"\nendstream")
        form_ref = b" /XObject << /X1 %d 0 R >>" % len(objects)
    kids = []
    for content in pages:
        packed = zlib.compress(content, 9)
        objects.append(b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(packed) + packed + b"\nendstream")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >>"
                       + form_ref + b" >> /Contents %d 0 R >>" % len(objects))
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(kids)
    return pdf_document(objects)


TEXT_PAGE = b"BT /F1 12 Tf 72 760 Td (Vi bygger fiber till byarna.) Tj ET"
DRAWING = b"0 0 m 1 1 l S\n"  # a stroke: what a heavy page is made of
EMPTY_TEXT = b"BT /F1 12 Tf 0 0 Td () Tj ET\n"  # text operators without text: slow to extract (~1 s per MB)


def test_a_pdf_is_read_as_before() -> None:
    pytest.importorskip("pypdf")
    assert read_upload("a.pdf", pdf_bytes([TEXT_PAGE, TEXT_PAGE])).split() == "Vi bygger fiber till byarna.".split() * 2


@pytest.mark.parametrize("where", ["page", "form"])
def test_a_pdf_page_that_inflates_is_refused_before_its_text_is_read(where: str) -> None:
    # issue 16, item 13: a 62 kB five-page PDF (60 MB content stream per page) took 61 s and was
    # accepted. Here one page with 2 MiB of empty text operators (an 8 kB file; 3 s to extract before),
    # in the page or in a form drawn on it.
    pytest.importorskip("pypdf")
    heavy = EMPTY_TEXT * (2 * 1024 * 1024 // len(EMPTY_TEXT))
    data = pdf_bytes([TEXT_PAGE + b"\n" + heavy]) if where == "page" else pdf_bytes([TEXT_PAGE], form=heavy)
    assert len(data) < 20_000
    started = time.monotonic()
    peak = refused_peak_bytes("tung.pdf", data, "Sida 1 i PDF-filen är för stor uppackad")
    assert time.monotonic() - started < 5 and peak < 4 * 1024 * 1024, (time.monotonic() - started, peak)


def test_a_pdf_whose_pages_together_inflate_too_far_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pypdf")
    monkeypatch.setattr(services, "MAX_PDF_CONTENT_BYTES", 50_000)
    page = TEXT_PAGE + b"\n" + DRAWING * 2000  # 30 kB each
    with pytest.raises(UploadError, match="innehåll är för stort uppackat"):
        read_upload("många.pdf", pdf_bytes([page] * 3))


def test_a_pdf_that_takes_too_long_is_refused_between_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pypdf")
    clock = iter(range(0, 1000, 4))  # every look at the clock: 4 s later (the deadline is 10 s)
    monkeypatch.setattr(services, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))
    with pytest.raises(UploadError, match=r"tar för lång tid att läsa .* vid sida 3"):
        read_upload("lång.pdf", pdf_bytes([TEXT_PAGE] * 5))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_a_text_file_is_read_in_the_encodings_score_reads(encoding: str) -> None:
    """A Windows-1252 ("ANSI") or UTF-16 text file is read like goalmatch score reads it, not refused."""
    text = "Fiber för Övre byn: bredband och mobiltäckning åt hushållen."
    assert read_upload("ansokan.txt", text.encode(encoding)) == text


def test_a_broken_text_file_names_the_encodings_tried() -> None:
    broken = "Fiber för byn ".encode() + b"\xff\xfe\xfa" + "och åt hushållen".encode()  # UTF-8 letters, stray bytes
    with pytest.raises(UploadError, match="varken UTF-8, UTF-16 eller Windows-1252"):
        read_upload("trasig.txt", broken)
