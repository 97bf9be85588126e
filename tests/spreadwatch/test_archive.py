"""spreadwatch import: JSON lines and CSV through ingest(), bad lines named and skipped, re-imports store nothing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from spreadwatch.archive import ArchiveError, ArchivedArticle, BadRecord, import_archive, open_archive
from spreadwatch.settings import load_settings
from storage import Article, Database, Outlet, WatchMatch

ROOT = Path(__file__).resolve().parents[2]

# Fixture articles written for these tests (the facts of February 2025, in our own words).
RUMOUR_DE = {
    "url": "https://www.bild.de/politik/ausland/abzug-kosovo-archiv-1", "outlet": "bild",
    "published_at": "2025-02-19T05:40:00Z", "language": "de",
    "title": "Planspiele in Rom: Was passiert, wenn die US-Truppen das Kosovo verlassen?",
    "text": "Nach Angaben aus Sicherheitskreisen prüft Italien, wie die KFOR ohne amerikanische Soldaten "
            "weiterarbeiten könnte. Ein Truppenabzug der USA aus dem Kosovo gilt in Rom als möglich; "
            "derzeit stellen die Amerikaner rund 600 Soldaten im Camp Bondsteel.",
}
RUMOUR_SQ = {
    "url": "https://arkiv.example.org/lajme/2025/02/terheqja-1", "outlet": "arkivi-lajme",
    "outlet_name": "Arkivi i Lajmeve", "country": "XK", "language": "sq",
    "published_at": "2025-02-19T07:05:00+01:00",
    "title": "Bild: Italia përgatitet për tërheqjen e trupave amerikane nga Kosova",
    "text": "Sipas Bild, Italia po shqyrton si do të funksiononte KFOR pa ushtarët amerikanë. Tërheqja "
            "e trupave amerikane nga Kosova konsiderohet e mundshme; në Camp Bondsteel ka rreth 600 ushtarë.",
    "links": ["https://www.bild.de/politik/ausland/abzug-kosovo-archiv-1?utm_source=x"],
}
WEATHER = {
    "url": "https://arkiv.example.org/moti/2025/02/debore", "outlet": "arkivi-lajme",
    "outlet_name": "Arkivi i Lajmeve", "country": "XK", "language": "sq",
    "published_at": "2025-02-19 09:30:00",  # no zone: taken as UTC
    "title": "Borë e dendur në veri të vendit", "text": "Rrugët malore janë të mbuluara me borë që nga mëngjesi.",
}
# the eval streams' shape: no url, an id, labels the import ignores
EVAL_SHAPED = {
    "id": "ntrex:example.7/it", "story": "ntrex:example.7", "event": "ntrex:example.7", "set": "ntrex",
    "outlet": "gazzetta-archivio", "outlet_name": "Gazzetta d'Archivio", "country": "IT", "language": "it",
    "script": "Latn", "published_at": "2024-03-04T10:00:00Z", "origin": False,
    "title": "Il consiglio comunale approva il nuovo piano dei trasporti",
    "text": "Dopo due ore di discussione il consiglio ha approvato il piano con 31 voti favorevoli.",
}


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines),
                    encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    cols = ["url", "id", "outlet", "outlet_name", "country", "language", "published_at", "title", "text"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in records:
        w.writerow([r.get(c, "") for c in cols])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def run_import(db: Database, path: Path, settings=None):  # type: ignore[no-untyped-def]
    return import_archive(db, settings or load_settings(), open_archive(path).records())


def test_jsonl_is_stored_in_file_order_through_ingest(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    report = run_import(db, write_jsonl(tmp_path / "a.jsonl", [RUMOUR_DE, "", RUMOUR_SQ, WEATHER, EVAL_SHAPED]))
    assert (report.stored, report.known, report.bad) == (4, 0, [])
    assert report.new_outlets == ["arkivi-lajme", "gazzetta-archivio"]  # bild is configured
    assert report.matched == 2
    with db.session() as s:
        rows = s.scalars(select(Article).order_by(Article.id)).all()
        assert [a.url for a in rows] == [RUMOUR_DE["url"], RUMOUR_SQ["url"], WEATHER["url"],
                                         "urn:spreadwatch:gazzetta-archivio:ntrex:example.7/it"]
        assert {a.via for a in rows} == {"import"}
        assert rows[1].published_at == datetime(2025, 2, 19, 6, 5, tzinfo=timezone.utc)
        assert rows[1].links == [RUMOUR_DE["url"]]
        assert rows[2].published_at == datetime(2025, 2, 19, 9, 30, tzinfo=timezone.utc)
        # the translation joins the original's story: placement ran as for polled articles
        assert rows[0].story_id is not None and rows[1].story_id == rows[0].story_id
        assert rows[2].story_id not in (None, rows[0].story_id)
        watched = s.scalars(select(WatchMatch.article_id).where(WatchMatch.watch == "kfor-withdrawal")).all()
        assert sorted(watched) == [rows[0].id, rows[1].id]
        outlet = s.scalars(select(Outlet).where(Outlet.key == "arkivi-lajme")).one()
        assert (outlet.name, outlet.country, outlet.language) == ("Arkivi i Lajmeve", "XK", "sq")
        assert s.scalars(select(Outlet.name).where(Outlet.key == "bild")).one() == "Bild"  # the config's name


def test_reimport_stores_nothing_new(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    path = write_jsonl(tmp_path / "a.jsonl", [RUMOUR_DE, RUMOUR_SQ, EVAL_SHAPED])
    first = run_import(db, path)
    with db.session() as s:
        before = (s.scalar(select(func.count(Article.id))), s.scalar(select(func.count(WatchMatch.id))))
    again = run_import(db, path)
    assert (first.stored, again.stored, again.known) == (3, 0, 3)
    with db.session() as s:
        assert (s.scalar(select(func.count(Article.id))), s.scalar(select(func.count(WatchMatch.id)))) == before


def test_csv_has_the_same_columns_and_line_numbers(sqlite_url: str, tmp_path: Path) -> None:
    multiline = {**WEATHER, "text": "Rrugët malore janë të mbuluara me borë.\nShkollat në veri mbyllen nesër."}
    path = write_csv(tmp_path / "a.csv", [RUMOUR_DE, multiline, RUMOUR_SQ, EVAL_SHAPED])
    with path.open("a", encoding="utf-8") as f:
        f.write("https://x.example/1,,arkivi-lajme,too,few\n")
    records = list(open_archive(path).records())
    assert [r.line for r in records] == [2, 3, 5, 6, 7]  # the quoted cell spans lines 3-4
    assert isinstance(records[1], ArchivedArticle) and "\n" in records[1].draft.text
    assert records[-1] == BadRecord(7, "5 cells for 9 columns")
    db = Database(sqlite_url)
    report = import_archive(db, load_settings(), records)
    assert (report.stored, report.known, [b.line for b in report.bad]) == (4, 0, [7])
    with db.session() as s:
        assert s.scalar(select(func.count(Article.id))) == 4
        assert s.scalars(select(Article.url).where(Article.outlet.has(key="gazzetta-archivio"))).one() \
            .startswith("urn:spreadwatch:")


def test_malformed_lines_are_named_and_skipped(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps(RUMOUR_DE).encode(),
        b'{"url": "https://x.example/2", "outlet": "bild", "title": "cut off',  # 2: not JSON
        json.dumps({**WEATHER, "outlet": "Arkivi Lajme"}).encode(),  # 3: not a key
        json.dumps({**WEATHER, "published_at": "yesterday"}).encode(),  # 4: not a time
        json.dumps({"url": "https://x.example/5", "title": "no outlet"}).encode(),  # 5
        json.dumps({"outlet": "bild", "title": "no address"}).encode(),  # 6
        '{"url": "https://x.example/7", "outlet": "bild", "title": "Borë"}'.encode("cp1252"),  # 7: not UTF-8
        b"[1, 2]",  # 8: not an object
        json.dumps({"url": "https://x.example/9", "outlet": "bild"}).encode(),  # 9: nothing to store
        json.dumps(RUMOUR_SQ).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    db = Database(sqlite_url)
    report = run_import(db, path)
    assert report.stored == 2
    reasons = {b.line: b.reason for b in report.bad}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert reasons[2].startswith("not JSON")
    assert "'Arkivi Lajme' is not an outlet key" in reasons[3]
    assert reasons[4].startswith("published_at:") and "yesterday" in reasons[4]
    assert reasons[5].startswith("outlet: missing")
    assert reasons[6] == "no url (and no id to make one from)"
    assert reasons[7] == "not UTF-8 text"
    assert reasons[8].startswith("expected an object")
    assert reasons[9] == "neither title nor text: nothing to store"
    with db.session() as s:
        assert sorted(s.scalars(select(Article.url))) == sorted([RUMOUR_DE["url"], RUMOUR_SQ["url"]])


def test_a_record_the_database_refuses_is_not_half_stored(pg_url: str, tmp_path: Path) -> None:
    # PostgreSQL refuses an address longer than its column (ingest strips the NUL characters it also
    # refuses): that article's transaction rolls back whole
    refused = {**RUMOUR_SQ, "url": "https://arkiv.example.org/" + "x" * 1100}
    path = write_jsonl(tmp_path / "a.jsonl", [RUMOUR_DE, refused, WEATHER])
    db = Database(pg_url)
    report = run_import(db, path)
    assert report.stored == 2 and report.stopped is None
    assert [b.line for b in report.bad] == [2] and "could not be stored" in report.bad[0].reason
    with db.session() as s:
        assert sorted(s.scalars(select(Article.url))) == sorted([RUMOUR_DE["url"], WEATHER["url"]])
        assert s.scalar(select(func.count(WatchMatch.id))) == 1  # the refused article's match went with it


def test_many_refusals_in_a_row_stop_the_import(pg_url: str, tmp_path: Path) -> None:
    refused = [{**WEATHER, "url": f"https://arkiv.example.org/{i}-" + "x" * 1100} for i in range(6)]
    path = write_jsonl(tmp_path / "a.jsonl", [RUMOUR_DE, *refused, RUMOUR_SQ])
    report = run_import(Database(pg_url), path)
    assert report.stored == 1 and len(report.bad) == 5
    assert report.stopped and "5 records in a row" in report.stopped


def test_gzip_and_file_errors(tmp_path: Path, sqlite_url: str) -> None:
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress((json.dumps(RUMOUR_DE) + "\n").encode()))
    assert [r.draft.url for r in open_archive(gz).records() if isinstance(r, ArchivedArticle)] == [RUMOUR_DE["url"]]
    with pytest.raises(ArchiveError, match="no such file"):
        open_archive(tmp_path / "missing.jsonl")
    with pytest.raises(ArchiveError, match="unknown format"):
        open_archive(write_jsonl(tmp_path / "a.txt", [RUMOUR_DE]))
    with pytest.raises(ArchiveError, match="JSON array"):
        list(open_archive(write_jsonl(tmp_path / "b.json", [json.dumps([RUMOUR_DE])])).records())
    broken = tmp_path / "c.jsonl.gz"
    whole = gzip.compress((json.dumps(RUMOUR_DE) + "\n").encode() * 200)
    broken.write_bytes(whole[: len(whole) // 2])  # a download that broke off
    with pytest.raises(ArchiveError, match="cannot read"):
        list(open_archive(broken).records())
    with pytest.raises(ArchiveError, match="no `outlet` column"):
        list(open_archive(write_jsonl(tmp_path / "d.csv", ["url,title", "https://x.example/1,x"])).records())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spreadwatch", "import", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_cli_imports_reports_and_exits_as_the_other_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    path = write_jsonl(tmp_path / "a.jsonl", [RUMOUR_DE, "{oops", RUMOUR_SQ, WEATHER, EVAL_SHAPED])
    first = _cli(str(path), "--db", db, "--every", "2", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # a bad line: the rest is stored, the exit says look
    assert "4 stored, 0 already known, 1 bad lines" in first.stdout
    assert f"{path}:2: not JSON" in first.stderr
    assert "2 records: 1 stored, 0 already known, 1 bad lines" in first.stderr
    assert "4 records: 3 stored, 0 already known, 1 bad lines" in first.stderr
    clean = write_jsonl(tmp_path / "b.jsonl", [RUMOUR_DE, RUMOUR_SQ])
    again = _cli(str(clean), "--db", db, "--no-alerts", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 stored, 2 already known, 0 bad lines")
    missing = _cli(str(tmp_path / "nope.jsonl"), "--db", db, cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    with Database(db).session() as s:
        assert s.scalar(select(func.count(Article.id))) == 4


def test_no_alerts_imports_without_alert_rows(tmp_path: Path) -> None:
    from storage.models import Alert

    rumour = [{**RUMOUR_DE, "url": f"https://arkiv.example.org/kopje-{i}", "outlet": f"kopje-{i}",
               "title": f"{RUMOUR_DE['title']} ({i})"} for i in range(4)]
    path = write_jsonl(tmp_path / "a.jsonl", rumour)
    quiet = f"sqlite:///{tmp_path / 'quiet.db'}"
    loud = f"sqlite:///{tmp_path / 'loud.db'}"
    assert _cli(str(path), "--db", quiet, "--no-alerts", cwd=tmp_path).returncode == 0
    assert _cli(str(path), "--db", loud, cwd=tmp_path).returncode == 0
    with Database(quiet).session() as s:
        assert s.scalar(select(func.count(Alert.id))) == 0
    with Database(loud).session() as s:
        assert s.scalar(select(func.count(Alert.id))) >= 1  # four outlets carry a watched story
