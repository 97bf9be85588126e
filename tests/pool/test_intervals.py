"""Adaptive intervals: a feed with news is polled sooner, a quiet one later, within the bounds."""

from __future__ import annotations

from spreadwatch.pool import adapt_interval
from spreadwatch.settings import Settings


def test_interval_follows_news_within_bounds() -> None:
    s = Settings(pool={"adaptive": True, "min_interval_minutes": 2, "max_interval_minutes": 60})
    assert adapt_interval(s, 10, new_items=3) == 5
    assert adapt_interval(s, 10, new_items=0) == 12.5
    m = 10.0
    for _ in range(40):  # a weekly feed drifts up to the bound and stays there
        m = adapt_interval(s, m, 0)
    assert m == 60
    for _ in range(40):  # a busy one down to the other bound
        m = adapt_interval(s, m, 5)
    assert m == 2


def test_the_adapted_interval_is_stored_and_used_for_the_next_claim(pg_url: str) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from spreadwatch.cycle import sync_outlets
    from spreadwatch.pool import apply_schema, claim_due, record_interval, take_claim
    from storage import Database, Feed, utcnow

    s = Settings(database_url=pg_url, poll={"interval_minutes": 10},
                 pool={"adaptive": True, "min_interval_minutes": 2, "max_interval_minutes": 60},
                 outlets=[{"key": "a", "name": "A", "country": "XK", "language": "en", "homepage": "https://a.example/",
                           "feeds": [{"url": "http://127.0.0.1:9/a.xml"}]}])
    db = Database(pg_url)
    apply_schema(db)
    sync_outlets(db, s)
    assert claim_due(db, s) == 1
    assert claim_due(db, s) == 0  # claimed: not due again while its lease holds
    with db.session() as ses:
        fid, claim = ses.execute(select(Feed.id, Feed.poll_claim)).one()
    feed = take_claim(db, s, fid, claim)
    assert feed is not None and feed.interval_minutes == 10
    assert take_claim(db, s, fid, claim) is None  # the same job a second time does nothing
    polled = utcnow()
    with db.session() as ses:
        ses.execute(update(Feed).values(last_polled_at=polled))
    record_interval(db, s, feed, new_items=4, failed=False)
    with db.session() as ses:
        row = ses.get_one(Feed, fid)
        assert row.poll_interval_minutes == 5
        assert abs((row.next_poll_at - (polled + timedelta(minutes=5))).total_seconds()) < 1
        row.next_poll_at = utcnow() - timedelta(seconds=1)
    assert claim_due(db, s) == 1
    with db.session() as ses:
        claim = ses.scalar(select(Feed.poll_claim))
    again = take_claim(db, s, fid, claim)
    assert again is not None and again.interval_minutes == 5  # the next poll starts from the adapted one
    db.dispose()
