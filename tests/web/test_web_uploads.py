"""Issue 16, round two: uploads built to exhaust the server (items 12 and 13), each refused early.

A ``.docx`` whose zip directory under-states ``word/document.xml`` (item 12), and PDFs
whose content streams inflate far beyond their file size, or take long to read (item 13).
Each is generated here, small, with the same mechanism as the attack; the memory and time
of the refusal are bounded by the test.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from goalmatch.errors import UploadError
from goalmatch.web import services
from goalmatch.web.services import read_upload

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


def test_a_docx_understating_its_size_is_refused_without_inflating_it() -> None:
    # issue 16, item 12: the size check trusted the zip directory; a document.xml claiming a few
    # bytes was inflated whole in one step (GBs of memory). Here 32 MiB (a 100 kB file) claims 1,000 bytes.
    xml = paragraphs(32 * 1024 * 1024 // 60)
    data = docx_bytes(xml, claimed_size=1000)
    assert len(data) < 200_000 and len(xml) > 30 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(UploadError, match="går inte att läsa som ett Word-dokument"):
            read_upload("bomb.docx", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"{peak / 2**20:.1f} MiB while refusing it"


def test_a_docx_over_the_unpacked_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "MAX_DOCX_XML_BYTES", 10_000)
    with pytest.raises(UploadError, match="för stort uppackat"):
        read_upload("stor.docx", docx_bytes(paragraphs(1000)))  # 60 kB, the directory honest
