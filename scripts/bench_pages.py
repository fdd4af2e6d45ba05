"""Page weight: bytes over the wire for each page (the server does not compress pages: gzip of
pages that carry a CSRF token and reflected input invites BREACH) plus its stylesheet, script
and icon, in every language, on a small world (one family report with a photo, one child, one
candidate). The budget is 100 KB per page without the person's photos.

    python scripts/bench_pages.py            # JSON on stdout
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import cv2
from fastapi.testclient import TestClient
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.api.app import create_app
from matcher.container import Services
from matcher.services.accounts import authenticate
from matcher.settings import Settings
from matcher.web.i18n import LANGUAGES
from tests.http_helpers import make_accounts

STATIC = ("/static/site.css", "/static/site.js", "/static/favicon.svg")


def _sign_in(client: TestClient, token: str) -> None:
    pre = re.search(r'name="pre" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"token": token, "pre": pre}, follow_redirects=False)


def main() -> None:
    root = Path(tempfile.mkdtemp())
    svc = Services(Settings(data_dir=root / "var", models_dir=Path(__file__).resolve().parents[1] / "models"))
    accounts = make_accounts(svc, {"fam": "family", "shelter": "shelter", "rev": "reviewer", "admin": "admin"})
    with svc.sessions() as db:
        fam, shelter = authenticate(db, accounts.tokens["fam"]), authenticate(db, accounts.tokens["shelter"])
    face = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))[1].tobytes()
    child = svc.records.create(shelter, "child", {"number": "SH-1", "name": "A.", "birth_year": 2015})
    svc.records.upload(shelter, child["id"], "child", face, "child.jpg")
    report = svc.records.create(fam, "report", {"name": "Amal", "birth_year": 2015})
    svc.records.upload(fam, report["id"], "report", cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[:, ::-1])[1].tobytes(), "a.jpg")
    app = create_app(svc.settings, services=svc)
    candidate = svc.review.filtered_queue("open", "", "", "", None, "strength")[0]["id"]
    pages = {
        None: ["/signin"],
        "fam": ["/my", "/my/new", f"/my/reports/{report['id']}"],
        "shelter": ["/shelter", "/shelter/children/new", f"/shelter/children/{child['id']}", "/shelter/import"],
        "rev": ["/review", "/review?view=all", f"/review/reports/{report['number']}", f"/review/candidates/{candidate}"],
        "admin": ["/admin", "/admin/users", "/admin/audit", "/admin/health"],
    }
    with TestClient(app) as probe:
        static_raw = sum(len(probe.get(p).content) for p in STATIC)
    out = {"static_bytes": static_raw, "budget_bytes": 100 * 1024, "pages": {}}
    for code in LANGUAGES:
        for who, paths in pages.items():
            client = TestClient(app, cookies={"matcher_lang": code})
            if who:
                _sign_in(client, accounts.tokens[who])
            for path in paths:
                html = client.get(path).content
                out["pages"].setdefault(path, {})[code] = {"html": len(html), "total": len(html) + static_raw}
    totals = [v["total"] for p in out["pages"].values() for v in p.values()]
    out["heaviest_total_bytes"] = max(totals)
    out["all_within_budget"] = max(totals) <= out["budget_bytes"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
