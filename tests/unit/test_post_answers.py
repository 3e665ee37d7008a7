"""What one POST's answer tells the poster (cavewidgets.posting.answers), on real ``requests``
responses built the way the engines write them."""

from __future__ import annotations

import json

import requests

from cavewidgets.posting.answers import read_answer, refusal


def _response(status: int, body, content_type: str = "application/json") -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    r.headers["Content-Type"] = content_type
    return r


def _engine_500(message: str) -> requests.Response:
    # AnnotationEngine api.py unhandled_exception
    return _response(500, {"code": 500, "message": message, "traceback": ["Traceback ...\n", message]})


def test_a_refusal_inside_an_engine_500_is_read_as_its_status():
    assert refusal(_engine_500("413 Request Entity Too Large: 10000 -> The insertion limit is 10000, "
                               "10001 were attempted to be inserted")) == 413
    assert refusal(_engine_500("422 Unprocessable Entity: {'annotations': {0: {'tag': ['Not a valid string.']}}}")) == 422
    assert refusal(_engine_500("401 Unauthorized: The table can only be written to by owner")) == 401
    assert refusal(_engine_500("404 Not Found: (psycopg2.errors.UndefinedTable) ...")) == 404
    answer = read_answer(_engine_500("413 Request Entity Too Large: 10000 -> ..."))
    assert answer.refused == 413 and answer.wait is None and not answer.in_flight and answer.ids is None


def test_a_crash_a_gateway_or_a_transient_status_is_no_refusal():
    crash = _engine_500("HTTPSConnectionPool(host='x', port=443): Max retries exceeded")
    assert refusal(crash) is None and read_answer(crash).wait == 0  # reconciled, then re-sent
    assert refusal(_engine_500("'NoneType' object is not subscriptable")) is None
    assert refusal(_engine_500("429 Too Many Requests: slow down")) is None  # retried, not refused
    assert refusal(_response(500, {"message": "413 Request Entity Too Large: x"})) is None  # not the engine's shape
    assert refusal(_response(500, "<html>500</html>", "text/html")) is None
    assert refusal(_response(502, "bad gateway", "text/html")) is None
    assert read_answer(_response(502, "bad gateway", "text/html")).in_flight


def test_a_plain_4xx_is_a_refusal_except_the_transient_ones():
    assert refusal(_response(422, {"message": "invalid"})) == 422
    assert refusal(_response(413, "<html>413 Request Entity Too Large</html>", "text/html")) == 413  # the ingress
    assert refusal(_response(429, {"message": "slow down"})) is None
    assert refusal(_response(408, {"message": "timeout"})) is None
    assert read_answer(_response(200, [1, 2])).ids == [1, 2]
