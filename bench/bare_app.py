"""The baseline for `bench/webhook.py`: a bare FastAPI app whose `POST /webhook` only answers 200.

It neither reads the body nor checks anything, so it measures what uvicorn, Starlette and
FastAPI routing cost on their own. Served with `uvicorn bare_app:app --app-dir bench ...`.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

app = FastAPI(title="bare", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/webhook")
async def webhook() -> Response:
    """Answer 200 with an empty body."""
    return Response(status_code=200)
