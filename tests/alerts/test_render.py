"""What a message says when what was scraped is hostile: escaped in HTML and Slack, and only web
links made clickable."""

from __future__ import annotations

from typing import Any

from alerts.render import render

HOSTILE = "<script>alert(1)</script> & <b>bold</b> | pipe"


def history(url: str) -> dict[str, Any]:
    origin = {"id": 1, "outlet": "evil", "outlet_name": "Evil <i>Daily</i>", "language": "en", "url": url,
              "title": HOSTILE, "published_at": "2025-02-19T06:10:00Z", "first_seen_at": "2025-02-19T06:20:00Z",
              "delay_seconds": 0.0, "source_outlet": None, "kind": "origin"}
    copy = {**origin, "id": 2, "outlet": "copy", "outlet_name": "Copy", "url": "https://copy.example/a?x=1&y=2",
            "delay_seconds": 5400.0, "source_outlet": "evil", "kind": "copy"}
    return {"story": {"id": 7, "title": HOSTILE, "outlet_count": 2}, "origin": origin, "articles": [origin, copy]}


ALERT = {"rule": "spreading", "kind": "outlets", "levels": ["2"], "window_hours": 24}


def test_html_escapes_scraped_text_and_links_only_web_urls() -> None:
    msg = render(ALERT, history("javascript:alert(document.cookie)"), "https://sw.example", ["<term>"])
    assert "<script>" not in msg.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in msg.html
    assert "Evil &lt;i&gt;Daily&lt;/i&gt;" in msg.html and "&lt;term&gt;" in msg.html
    assert 'href="javascript:' not in msg.html and "(javascript:alert(document.cookie))" in msg.html
    assert 'href="https://copy.example/a?x=1&amp;y=2"' in msg.html
    assert 'href="https://sw.example/stories/7"' in msg.html
    assert msg.subject == ("Spreading: '<script>alert(1)</script> & <b>bold</b> | pipe' — 2 outlets in 2 h (en)")


def test_slack_escapes_its_control_characters_and_links_only_web_urls() -> None:
    msg = render(ALERT, history("javascript:alert(1)"), None, [])
    text = msg.blocks[1]["text"]["text"]
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold" in text
    assert "<javascript:" not in text and "(javascript:alert(1))" in text
    assert "<https://copy.example/a?x=1&amp;y=2|&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; ¦ pipe>" in text
    assert msg.blocks[0]["text"]["type"] == "plain_text"  # a header is plain text: nothing to escape
