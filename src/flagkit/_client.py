"""``flagkit.Client``: one long-lived object per process that keeps definitions fresh and
answers flag questions from memory.

The read path (every getter) is: read ``store.current`` once, evaluate, return. No locks, no
I/O, no exceptions. Everything that talks to the network lives in the poller thread.
"""

from __future__ import annotations

import logging
import os
import random as _random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from flagkit._backoff import jittered
from flagkit._disk_cache import DiskCache, body_hash, source_id
from flagkit._fetch import (
    DEFAULT_MAX_BODY_BYTES,
    DEFINITIONS_PATH,
    DefinitionsFetcher,
    definitions_url,
)
from flagkit._http import DEFAULT_TIMEOUT, build_http_client, hide_secrets_in_http_logs
from flagkit._poller import Poller
from flagkit._result import FlagResult, FlagValue, Reason
from flagkit._snapshot import Snapshot
from flagkit._status import ClientStatus, Progress, State, StatusTracker
from flagkit._store import ChangeListener, Published, Store
from flagkit._sync import Syncer, SyncPolicy, compile_definitions

logger = logging.getLogger("flagkit.client")

DEFAULT_HOST = "https://us.i.posthog.com"
SOURCE_DISK_CACHE = "disk cache"
SOURCE_BOOTSTRAP = "bootstrap"

Bootstrap = str | os.PathLike[str] | bytes | Mapping[str, Any] | Snapshot
Properties = Mapping[str, Any]

_NOT_READY_TEXT = "flag definitions are not loaded yet"
_FAILED_TEXT = "evaluation failed unexpectedly"


class _Network:
    """What must be rebuilt in a forked child: the HTTP client and the poller thread."""

    def __init__(self) -> None:
        self.http: Any = None
        self.poller: Poller | None = None

    def shutdown(self, timeout: float = 1.0) -> None:
        if self.poller is not None:
            self.poller.stop(timeout)
        if self.http is not None:
            try:
                self.http.close()
            except Exception:  # closing under a request still in flight may complain
                logger.debug("flagkit: error closing HTTP client", exc_info=True)


class Client:
    """Evaluates PostHog feature flags locally and keeps their definitions fresh.

    Give it ``project_api_key`` plus ``personal_api_key`` (or ``secret_api_key``) to poll
    ``host`` for definitions in the background, or ``bootstrap=`` (a file path, a dict
    body, JSON bytes or a :class:`flagkit.Snapshot`) and no keys to run offline. The
    constructor never blocks; use :meth:`wait_until_ready` to wait for the first fetch.
    Getters never raise: until definitions arrive they return the caller's default with
    ``Reason.NOT_READY``. See docs/client.md for the states and the error policy.
    """

    def __init__(
        self,
        project_api_key: str | None = None,
        *,
        personal_api_key: str | None = None,
        secret_api_key: str | None = None,
        host: str = DEFAULT_HOST,
        poll_interval: float = 30.0,
        definitions_path: str = DEFINITIONS_PATH,
        project_id: int | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cache_path: str | os.PathLike[str] | None = None,
        on_quota_limited: Literal["clear", "keep"] = "clear",
        bootstrap: Bootstrap | None = None,
        only_evaluate_locally: bool = True,
        poll_jitter: float = 0.1,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        unauthorized_retry_interval: float = 300.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] | None = None,
        random: _random.Random | None = None,
    ) -> None:
        _validate(
            host=host,
            on_quota_limited=on_quota_limited,
            only_evaluate_locally=only_evaluate_locally,
            positive={
                "poll_interval": poll_interval,
                "timeout": timeout,
                "backoff_base": backoff_base,
                "backoff_max": backoff_max,
                "unauthorized_retry_interval": unauthorized_retry_interval,
                "max_body_bytes": max_body_bytes,
            },
        )
        project_api_key = _clean(project_api_key)
        self._host = host.strip().rstrip("/")
        self._clock = clock or time.time
        self._own_rng = random is None
        self._rng = random or _random.Random()
        self._closed = False
        self._close_lock = threading.Lock()
        self._internal_error_logged = False
        self._auth_key = _clean(secret_api_key) or _clean(personal_api_key)
        self._secrets = (project_api_key, _clean(personal_api_key), _clean(secret_api_key))
        self._timeout = timeout
        self._max_body_bytes = max_body_bytes
        self._network = _Network()
        self._syncer: Syncer | None = None
        self._target: str | None = None
        if self._auth_key is not None and (
            project_api_key is not None or "{project_id}" in definitions_path
        ):
            self._target = definitions_url(
                definitions_path,
                project_api_key=project_api_key,
                project_id=None if project_id is None else str(project_id),
            )

        initial = _load_bootstrap(bootstrap) if bootstrap is not None else None
        progress = Progress()
        cache: DiskCache | None = None
        if self._target is not None and cache_path is not None:
            identity = source_id(self._host, self._target, project_api_key or "")
            cache = DiskCache(cache_path, source=identity)
            cached = _load_cache(cache)
            if cached is not None:  # newer than any bootstrap: it came from the server
                initial, saved_at, etag = cached
                progress = attrs.evolve(progress, confirmed_at=saved_at, etag=etag)
        if initial is not None:
            progress = attrs.evolve(
                progress,
                ready=initial.source == SOURCE_BOOTSTRAP,
                fingerprint=initial.snapshot.fingerprint,
                flag_count=len(initial.snapshot),
                source=initial.source,
            )
        if self._target is None:
            progress = self._offline_progress(progress, initial is not None)

        self._store = Store(initial)
        self._tracker = StatusTracker(self._clock, progress)
        if self._target is not None:
            hide_secrets_in_http_logs(self._secrets)
            self._syncer = Syncer(
                store=self._store,
                tracker=self._tracker,
                fetch=_unstarted_fetch,
                policy=SyncPolicy(
                    poll_interval=poll_interval,
                    poll_jitter=poll_jitter,
                    backoff_base=backoff_base,
                    backoff_max=backoff_max,
                    unauthorized_interval=unauthorized_retry_interval,
                    clear_on_quota_limited=on_quota_limited == "clear",
                ),
                cache=cache,
                clock=self._clock,
                rng=self._rng,
            )
            self._start_network()
            _LIVE_CLIENTS.add(self)
        # Stops the thread if the client is dropped without close() (and at exit).
        self._finalizer = weakref.finalize(self, self._network.shutdown)

    def _offline_progress(self, progress: Progress, has_definitions: bool) -> Progress:
        if has_definitions:
            return attrs.evolve(progress, state=State.OFFLINE)
        self._closed = True
        logger.warning(
            "flagkit: Client has no definitions source (it needs project_api_key plus "
            "personal_api_key or secret_api_key, or bootstrap=); every flag returns its default."
        )
        return attrs.evolve(
            progress,
            state=State.CLOSED,
            last_error="disabled: no keys and no bootstrap definitions",
        )

    # -- network lifecycle ----------------------------------------------------------------

    def _start_network(self, initial_delay: float = 0.0) -> None:
        syncer = self._syncer
        assert syncer is not None
        assert self._target is not None
        assert self._auth_key is not None
        http = build_http_client(self._host, timeout=self._timeout)
        poller = Poller(
            syncer.step, fallback_delay=syncer.policy.poll_interval, initial_delay=initial_delay
        )
        fetcher = DefinitionsFetcher(
            http,
            self._target,
            auth_key=self._auth_key,
            secrets=self._secrets,
            max_body_bytes=self._max_body_bytes,
            clock=self._clock,
            should_abort=lambda: poller.stopping,
        )
        syncer.fetch = fetcher.fetch
        self._network.http = http
        self._network.poller = poller
        poller.start()

    def _after_fork_in_child(self) -> None:
        # Runs in a forked child: the parent's poller thread does not exist here and its
        # pooled sockets are shared with the parent, so abandon both (never close them)
        # and start afresh. Locks may have been held by vanished threads: replace them.
        if self._closed or self._syncer is None:
            return
        self._close_lock = threading.Lock()
        self._store.reinit_after_fork()
        self._tracker.reinit_after_fork()
        self._syncer.reinit_after_fork()
        if self._own_rng:
            self._rng.seed()  # else every worker would jitter identically
        self._network.http = None
        self._network.poller = None
        # Inherited definitions are served at once; a fresh poll can wait a jittered
        # interval so that many workers forked together do not all poll together.
        policy = self._syncer.policy
        delay = 0.0
        if self._store.current is not None:
            delay = jittered(policy.poll_interval, max(policy.poll_jitter, 0.5), self._rng)
        self._start_network(delay)

    # -- evaluation (the read path) -------------------------------------------------------

    def evaluate(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
    ) -> FlagResult:
        """The full answer for one flag: value, reason, payload. Never raises."""
        return self._evaluate(
            key, distinct_id, person_properties, groups, group_properties, device_id
        )

    def get_flag(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        default: FlagValue | None = None,
    ) -> FlagValue | None:
        """``True``/``False`` or the variant key; ``default`` when it cannot be decided."""
        value = self._evaluate(
            key, distinct_id, person_properties, groups, group_properties, device_id
        ).value
        return default if value is None else value

    def is_enabled(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        default: bool = False,
    ) -> bool:
        """True when the flag is on (any variant counts); ``default`` when undecidable."""
        result = self._evaluate(
            key, distinct_id, person_properties, groups, group_properties, device_id
        )
        return default if result.value is None else result.enabled

    def get_payload(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        default: Any = None,
    ) -> Any:
        """The decoded payload of the value this caller gets; ``default`` when there is none."""
        result = self._evaluate(
            key, distinct_id, person_properties, groups, group_properties, device_id
        )
        return default if result.value is None or result.payload is None else result.payload

    def get_all_flags(
        self,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
    ) -> dict[str, FlagValue]:
        """Every flag that could be decided locally, as ``{key: value}`` (undecided skipped)."""
        results = self._evaluate_all(
            distinct_id, person_properties, groups, group_properties, device_id
        )
        return {key: r.value for key, r in results.items() if r.value is not None}

    def evaluate_all(
        self,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
    ) -> dict[str, FlagResult]:
        """Every flag's :class:`FlagResult`, including undecided ones. Never raises."""
        return self._evaluate_all(
            distinct_id, person_properties, groups, group_properties, device_id
        )

    def _evaluate(
        self,
        key: str,
        distinct_id: str,
        person_properties: Properties | None,
        groups: Mapping[str, Any] | None,
        group_properties: Mapping[str, Properties] | None,
        device_id: str | None,
    ) -> FlagResult:
        published = self._store.current  # the one read that makes this consistent
        if published is None:
            return FlagResult(key, None, Reason.NOT_READY, description=_NOT_READY_TEXT)
        try:
            result = published.evaluator.evaluate(
                key,
                distinct_id,
                person_properties=person_properties,
                groups=groups,
                group_properties=group_properties,
                device_id=device_id,
            )
        except Exception:
            self._log_internal_error()
            return FlagResult(key, None, Reason.INVALID_INPUT, description=_FAILED_TEXT)
        if result.value is None:
            return self._resolve(
                result, distinct_id, person_properties, groups, group_properties, device_id
            )
        return result

    def _evaluate_all(
        self,
        distinct_id: str,
        person_properties: Properties | None,
        groups: Mapping[str, Any] | None,
        group_properties: Mapping[str, Properties] | None,
        device_id: str | None,
    ) -> dict[str, FlagResult]:
        published = self._store.current
        if published is None:
            return {}
        try:
            results = published.evaluator.evaluate_all(
                distinct_id,
                person_properties=person_properties,
                groups=groups,
                group_properties=group_properties,
                device_id=device_id,
            )
        except Exception:
            self._log_internal_error()
            return {}
        for key, result in results.items():
            if result.value is None:
                results[key] = self._resolve(
                    result, distinct_id, person_properties, groups, group_properties, device_id
                )
        return results

    def _resolve(
        self,
        result: FlagResult,
        distinct_id: str,
        person_properties: Properties | None,
        groups: Mapping[str, Any] | None,
        group_properties: Mapping[str, Properties] | None,
        device_id: str | None,
    ) -> FlagResult:
        """Hook for results without a value. Issue 6 will ask PostHog's /flags here when
        ``only_evaluate_locally`` is False; for now the local answer stands."""
        return result

    def _log_internal_error(self) -> None:
        if not self._internal_error_logged:
            self._internal_error_logged = True  # once: this is on the hot path
            logger.debug("flagkit: unexpected error while evaluating", exc_info=True)

    # -- readiness, status, listeners -------------------------------------------------------

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until definitions are loaded (True), or ``timeout`` passes (False).

        Returns False early when waiting cannot help: the client is closed, or the server
        refused the keys and there is nothing to serve.
        """
        progress = self._tracker.progress
        if progress.ready:
            return True
        self._tracker.wait_for(
            lambda p: p.ready or p.state in (State.CLOSED, State.UNAUTHORIZED), timeout
        )
        return self._tracker.progress.ready

    @property
    def status(self) -> ClientStatus:
        """The current sync status (state, last success, last error, age, ETag, ...)."""
        return self._tracker.status()

    @property
    def snapshot(self) -> Snapshot | None:
        """The definitions currently served, or ``None`` before the first load."""
        published = self._store.current
        return None if published is None else published.snapshot

    def on_change(self, callback: ChangeListener) -> Callable[[], None]:
        """Call ``callback(changed_keys)`` after each update that changes definitions.

        ``changed_keys`` is a frozenset of flag keys added, removed or modified. Callbacks
        run on the poller thread; one that raises is logged and does not stop polling.
        Returns a function that unregisters the callback.
        """
        return self._store.add_listener(callback)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop polling (within about a second) and release connections. Idempotent.

        Getters keep answering from the last definitions after close.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._syncer is not None:
            self._syncer.closed = True  # the poller stops at once, even mid-request
            self._finalizer()  # stops the poller (joins up to 1 s), closes the HTTP client
            self._syncer.close()
        _LIVE_CLIENTS.discard(self)
        self._tracker.update(state=State.CLOSED)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<flagkit.Client host={self._host!r} state={self._tracker.progress.state.value}>"


def _validate(
    *,
    host: str,
    on_quota_limited: str,
    only_evaluate_locally: bool,
    positive: Mapping[str, float],
) -> None:
    if on_quota_limited not in ("clear", "keep"):
        raise ValueError('on_quota_limited must be "clear" or "keep"')
    if not only_evaluate_locally:
        # The remote /flags fallback is not built yet; _resolve() is where it will go.
        raise ValueError("only_evaluate_locally=False is not supported yet")
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive")
    if not host.strip().startswith(("http://", "https://")):
        raise ValueError("host must start with http:// or https://")


def _clean(key: str | None) -> str | None:
    """Keys are whitespace-stripped; an empty key counts as no key (as in PostHog's SDK)."""
    if key is None:
        return None
    key = key.strip()
    return key or None


def _unstarted_fetch(etag: str | None) -> Any:
    raise RuntimeError("the HTTP client is not started")


def _load_bootstrap(bootstrap: Bootstrap) -> Published:
    if isinstance(bootstrap, Snapshot):
        snapshot = bootstrap
    elif isinstance(bootstrap, (bytes, bytearray)):
        snapshot = Snapshot.from_json(bytes(bootstrap))
    elif isinstance(bootstrap, Mapping):
        snapshot = Snapshot.from_dict(dict(bootstrap))
    else:
        snapshot = Snapshot.from_file(os.fspath(bootstrap))
    return Published.of(snapshot.compile_all(), SOURCE_BOOTSTRAP)


def _load_cache(cache: DiskCache) -> tuple[Published, float, str | None] | None:
    cached = cache.load()
    if cached is None:
        return None
    try:
        snapshot = compile_definitions(cached.body)
    except Exception as exc:
        logger.warning("flagkit: ignoring definitions cache %s: %s", cache.path, exc)
        return None
    published = Published.of(snapshot, SOURCE_DISK_CACHE, body_hash(cached.body))
    return published, cached.saved_at, cached.etag


# Clients whose poller must be restarted in a forked child (weak: never keeps one alive).
_LIVE_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


def _restart_pollers_in_child() -> None:
    for client in list(_LIVE_CLIENTS):
        try:
            client._after_fork_in_child()
        except Exception:
            logger.exception("flagkit: could not restart the poller after fork")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_pollers_in_child)
