"""The thread driver of the ``/flags`` lookup: carries out :meth:`RemoteCore.lookup`'s
commands on a shared ``httpx.Client`` (and ``time.sleep``). Never raises."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from flagkit._evaluation.result import FlagResult
from flagkit._net.drive import drive
from flagkit._remote.core import Post, RemoteCore, Sleep
from flagkit._remote.fallback import RemoteReply, Resolved


class RemoteFallback(RemoteCore[httpx.Client]):
    """Asks ``/flags`` for undecided flags over a shared ``httpx.Client``. Never raises.

    ``http`` returns the client to use (``None`` once closed). The whole lookup, retry
    included, ends within ``timeout`` seconds. ``on_request(failed)`` is called once per
    lookup, for counters.
    """

    def resolve(
        self, undecided: Mapping[str, FlagResult] | None, distinct_id: Any, **context: Any
    ) -> dict[str, Resolved]:
        """One lookup of the keys of ``undecided`` (every flag when ``None``): see
        :meth:`RemoteCore.lookup` for ``context``."""
        return drive(self.lookup(undecided, distinct_id, **context), self._perform)

    def _perform(self, command: Post | Sleep) -> RemoteReply | None:
        if isinstance(command, Sleep):
            time.sleep(command.delay)
            return None
        return self._post(command)

    def _post(self, post: Post) -> RemoteReply | None:
        http = self.http()
        if http is None:
            return None
        try:
            with http.stream(**self.post_options(post)) as response:
                body = self.body_reader(post)
                for chunk in response.iter_bytes():
                    if body.add(chunk):
                        break
                return body.reply(response.status_code)
        except Exception as exc:
            return self.exception_reply(exc)
