"""Summaries and exports: choose a period and grouping, preview the suppressed table, download
it (with its method note and manifest) through ``export_summary``, as the CLI does."""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from engage.accounts.roles import Permission
from engage.analytics.exports import FORMATS, export_summary, table
from engage.analytics.metrics import AREA_DIMENSIONS, GROUP_DIMENSIONS, parse_dimensions
from engage.analytics.periods import parse_period, period_containing
from engage.errors import UserError
from engage.web.console.figures import summary_for
from engage.web.console.guard import Viewer, need
from engage.web.console.overview import figure_cache
from engage.web.console.render import render

router = APIRouter(prefix="/console/summaries")
ByQuery = Annotated[list[str] | None, Query(description="Group by (repeatable)")]
LABELS = {"district": "District", "neighbourhood": "Neighbourhood", "age_band": "Age band",
          "race_ethnicity": "Race / ethnicity", "contact_type": "Incident type"}
PREVIEW_COLUMNS = ("respondents", "response_rate", "trust_index", "trust_index_low",
                   "trust_index_high", "safety_index", "safety_index_low", "safety_index_high")


def _choices(by: list[str]) -> list[tuple[str, str, bool]]:
    return [(d, LABELS[d], d in by) for d in (*AREA_DIMENSIONS, *GROUP_DIMENSIONS)]


@router.get("")
def page(request: Request, period: str | None = None, by: ByQuery = None,
         viewer: Viewer = Depends(need(Permission.SUMMARIES))) -> Response:
    settings = request.app.state.settings
    period = period or period_containing(datetime.now(UTC), "quarter", settings.timezone).label
    by = by if by is not None else ["district"]
    error, header, rows, withheld = None, [], [], 0
    try:
        dims = parse_dimensions(by) if by else ()
        summary = summary_for(figure_cache(request), settings,
                              parse_period(period, settings.timezone), dims)
        full_header, full_rows = table(summary)
        keep = [i for i, h in enumerate(full_header)
                if h in ("period", *dims, "status", "reason", *PREVIEW_COLUMNS)]
        header = [full_header[i] for i in keep]
        rows = [[r[i] for i in keep] for r in full_rows]
        withheld = sum(1 for r in summary.rows if not r.published)
    except UserError as exc:
        error = str(exc)
    return render(request, "summaries.html", viewer=viewer, period=period, by=by,
                  choices=_choices(by), header=header, rows=rows, withheld=withheld,
                  formats=FORMATS, k=settings.min_cell_size, error=error,
                  status=400 if error else 200)


@router.get("/download")
def download(request: Request, period: str, by: ByQuery = None, format: str = "csv",
             viewer: Viewer = Depends(need(Permission.EXPORTS))) -> Response:
    """A zip of the file and its SHA-256 manifest; written and audited by ``export_summary``."""
    state = request.app.state
    by = by or ["district"]
    label = "-".join([period.strip(), *by]).replace("/", "")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"summary-{label}.{format}"
        try:
            export_summary(engine=state.engine, settings=state.settings, period=period,
                           by=",".join(by), fmt=format, out=out, now=datetime.now(UTC),
                           actor=viewer.actor)
        except UserError as exc:
            return render(request, "message.html", viewer=viewer, status=400,
                          heading="Cannot export", text=str(exc),
                          link="/console/summaries", link_label="Back to summaries")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, path.name)
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="{out.name}.zip"'})
