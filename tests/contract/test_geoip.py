"""``disable_geoip``: the client default (True) and the per-call override reach ``/flags``."""

from __future__ import annotations

from mock_posthog import MockPostHog

import flagkit


def _sent(mock: MockPostHog) -> object:
    return mock.flags_requests()[-1].body["geoip_disable"]


def test_default_per_call_and_client_setting() -> None:
    with MockPostHog() as mock:
        with flagkit.Client("phc_geo", host=mock.url, send_events=False) as client:
            seen = []
            for per_call in (None, False, True):
                client.evaluate("any", "u", disable_geoip=per_call)
                seen.append(_sent(mock))
            assert seen == [True, False, True]
            client.get_all_flags("u", disable_geoip=False)
            assert _sent(mock) is False
        with flagkit.Client(
            "phc_geo", host=mock.url, send_events=False, disable_geoip=False
        ) as client:
            client.get_feature_flag("any", "u")
            assert _sent(mock) is False
