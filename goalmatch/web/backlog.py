"""The backlog in, the decisions out: spreadsheet import, archiving and deleting, the decision exports.

Pages (Swedish, no JavaScript): ``/import`` takes a CSV or Excel file of applications and
shows a preview (``/import/<token>``: the columns and their mapping to diarienummer, title
and text, the first rows, the bad rows and the duplicates); confirming it scores and stores
the rows. The parsed upload waits in the database (``Store.save_import``), bound to its
uploader, so any worker process can confirm it. An application is archived (out of the
queue; ``/archived`` lists them), restored, or deleted while it has no decisions. ``/export``
offers the decisions as XLSX, CSV (Swedish Excel) and JSONL (:mod:`goalmatch.web.exports`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from goalmatch.web import require_web

require_web()

from fastapi import APIRouter, Request, Response  # noqa: E402
from fastapi.responses import HTMLResponse, RedirectResponse  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.datastructures import UploadFile  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.web import exports  # noqa: E402
from goalmatch.web.catalog import ImportGone  # noqa: E402
from goalmatch.web.intake import MAX_IMPORT_ROWS, Mapping, Plan, guess_mapping, plan_import, read_sheet  # noqa: E402
from goalmatch.web.pages import AppId, Service, render  # noqa: E402
from goalmatch.web.services import MAX_UPLOAD_BYTES, Review, UploadError  # noqa: E402
from goalmatch.web.store import StoreError  # noqa: E402

__all__ = ["router"]

log = logging.getLogger(__name__)

PREVIEW_ROWS = 10
ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (med BOM)", "utf-16": "UTF-16", "cp1252": "Windows-1252 (ANSI)"}
router = APIRouter(include_in_schema=False)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ------------------------------------------------------------------ import


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    return _upload_form(request, None, 200)


def _upload_form(request: Request, error: str | None, status_code: int) -> Response:
    return render(request, "import.html", {"error": error, "max_rows": MAX_IMPORT_ROWS,
                                           "max_mb": MAX_UPLOAD_BYTES // 2**20}, status_code)


@router.post("/import")
async def upload_sheet(request: Request, service: Service) -> Response:
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise UploadError("Välj en fil att ladda upp.")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadError(f"Filen är för stor; högst {MAX_UPLOAD_BYTES // 2**20} MB.")
        filename = upload.filename
        payload = await run_in_threadpool(read_sheet, filename, data)
    except UploadError as exc:
        return _upload_form(request, str(exc), 400)
    finally:
        await form.close()
    user = request.state.session.user
    token = await run_in_threadpool(service.store.save_import, user, filename, payload)
    log.info("%s uploaded %r: %d rows", user, filename, len(payload["rows"]))
    return RedirectResponse(f"/import/{token}", 303)


def _pending(service: Review, token: str, user: str, *, take: bool = False) -> dict[str, Any]:
    try:
        return service.store.load_import(token, user, take=take)
    except ImportGone as exc:
        raise StarletteHTTPException(404, str(exc)) from None


def _plan(service: Review, payload: dict[str, Any], mapping: Mapping) -> Plan:
    return plan_import(payload, mapping, service.store.stored_matches)


def _preview(request: Request, token: str, payload: dict[str, Any], mapping: Mapping, plan: Plan,
             error: str | None = None, status_code: int = 200) -> Response:
    return render(request, "import_preview.html", {
        "token": token, "payload": payload, "mapping": mapping, "plan": plan, "error": error,
        "sample": payload["rows"][:PREVIEW_ROWS], "query": urlencode(mapping.query()),
        "format": {"xlsx": "Excel (.xlsx)", "tsv": "tabbseparerad text"}.get(payload.get("format", ""), "CSV"),
        "encoding": ENCODINGS.get(payload.get("encoding") or "", payload.get("encoding")),
    }, status_code)


@router.get("/import/{token}", response_class=HTMLResponse)
def preview(request: Request, service: Service, token: str) -> Response:
    payload = _pending(service, token, request.state.session.user)
    params = request.query_params
    mapping = Mapping.from_form(params, payload["columns"]) if "mapped" in params else guess_mapping(
        payload["columns"])
    error = None if mapping.text_columns else "Välj minst en textkolumn (den text som ska bedömas)."
    return _preview(request, token, payload, mapping, _plan(service, payload, mapping), error)


@router.post("/import/{token}")
async def confirm(request: Request, service: Service, token: str) -> Response:
    user = request.state.session.user
    form = await request.form()
    payload = await run_in_threadpool(_pending, service, token, user)
    mapping = Mapping.from_form(form, payload["columns"])
    plan = await run_in_threadpool(_plan, service, payload, mapping)
    if not mapping.text_columns:
        return _preview(request, token, payload, mapping, plan, "Välj minst en textkolumn.", 400)
    await run_in_threadpool(_pending, service, token, user, take=True)  # confirmed once, even if clicked twice
    chosen = plan.good + (plan.duplicates if form.get("include_duplicates") else [])
    chosen.sort(key=lambda item: item["n"])
    source = f"import:{payload['filename']}"[:200]
    imported, failed = await run_in_threadpool(_import_rows, service, chosen, source, user)
    log.info("%s imported %d rows of %r (%d duplicates skipped, %d bad, %d failed)", user, len(imported),
             payload["filename"], len(plan.duplicates) if len(chosen) == len(plan.good) else 0, len(plan.bad),
             len(failed))
    return render(request, "import_result.html", {
        "filename": payload["filename"], "imported": imported, "failed": failed, "bad": plan.bad,
        "skipped": [] if form.get("include_duplicates") else plan.duplicates})


def _import_rows(service: Review, rows: list[dict[str, Any]], source: str, user: str
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    imported, failed = [], []
    for item in rows:
        try:
            application_id = service.import_text(item["title"], item["text"], source, user,
                                                 external_id=item["external_id"])
        except StoreError as exc:
            failed.append({"n": item["n"], "reason": str(exc)})
        else:
            imported.append({"id": application_id, "n": item["n"], "title": item["title"] or item["text"][:80]})
    return imported, failed


# ------------------------------------------------------------------ archive, restore, delete


def _message(request: Request, title: str, text: str, application_id: int | None, status_code: int) -> Response:
    return render(request, "backlog_message.html", {"heading": title, "text": text,
                                                    "application_id": application_id}, status_code)


@router.post("/applications/{application_id}/archive")
async def archive(request: Request, service: Service, application_id: AppId) -> Response:
    return await _set_archived(request, service, application_id, True)


@router.post("/applications/{application_id}/restore")
async def restore(request: Request, service: Service, application_id: AppId) -> Response:
    return await _set_archived(request, service, application_id, False)


async def _set_archived(request: Request, service: Service, application_id: int, archived: bool) -> Response:
    form = await request.form()
    if archived and form.get("confirm") != "ja":
        return _message(request, "Arkivera ansökan", "Kryssa i rutan för att bekräfta att ansökan ska arkiveras.",
                        application_id, 400)
    try:
        await run_in_threadpool(service.store.set_archived, application_id, archived,
                                by=request.state.session.user)
    except StoreError:
        raise StarletteHTTPException(404, "Ansökan finns inte.") from None
    return RedirectResponse(f"/applications/{application_id}", 303)


@router.post("/applications/{application_id}/delete")
async def delete(request: Request, service: Service, application_id: AppId) -> Response:
    form = await request.form()
    if form.get("confirm") != "ja":
        return _message(request, "Ta bort ansökan", "Kryssa i rutan för att bekräfta att ansökan ska tas bort.",
                        application_id, 400)
    try:
        await run_in_threadpool(service.store.backlog_facts, application_id)
    except StoreError:
        raise StarletteHTTPException(404, "Ansökan finns inte.") from None
    try:
        await run_in_threadpool(service.store.delete_application, application_id, by=request.state.session.user)
    except StoreError as exc:
        return _message(request, "Ansökan kan inte tas bort", str(exc), application_id, 409)
    return _message(request, "Ansökan är borttagen", f"Ansökan #{application_id} är borttagen.", None, 200)


@router.get("/archived", response_class=HTMLResponse)
def archived(request: Request, service: Service) -> Response:
    return render(request, "archived.html", {"rows": service.store.archived()})


# ------------------------------------------------------------------ exports


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request, service: Service) -> Response:
    export = exports.collect(service.store)
    return render(request, "export.html", {"decisions": len(export.trail), "applications": len(export.apps),
                                           "folded": export.folded_count})


@router.get("/export.xlsx")
def export_xlsx(service: Service) -> Response:
    body = exports.xlsx_bytes(exports.collect(service.store), service.frameworks)
    return Response(body, media_type=XLSX_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="goalmatch-beslut.xlsx"'})


@router.get("/export.csv")
def export_csv(service: Service) -> Response:
    body = exports.csv_bytes(exports.collect(service.store), service.frameworks)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="goalmatch-beslut.csv"'})
