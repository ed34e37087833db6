import pytest

from segtrain._text import format_seconds, percent, plural


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (59.6, "1m00s"), (125, "2m05s"), (3725, "1h02m")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("count, text", [(0, "0 images"), (1, "1 image"), (2, "2 images")])
def test_plural(count, text):
    assert plural(count, "image") == text


@pytest.mark.parametrize("share, text", [(0.0, "0.0%"), (0.0004, "<0.1%"), (0.0005, "0.1%"), (0.257, "25.7%"), (1.0, "100.0%")])
def test_percent(share, text):
    assert percent(share) == text
