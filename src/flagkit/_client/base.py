"""What :class:`flagkit.Client` and :class:`flagkit.AsyncClient` share: option checking,
loading of bootstrap and disk-cache definitions, and the local half of the read path.

Each client adds only its driver (a thread or asyncio tasks) and its remote call (plain or
awaited). The read path here stays lean: one ``store.current`` read, one evaluator call.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from flagkit._client.getters import Context as Context
from flagkit._client.getters import OneFinish, Read
from flagkit._client.getters import Properties as Properties
from flagkit._client.options import check_options
from flagkit._evaluation.result import VALUE_OF, FlagResult, Reason
from flagkit._evaluation.snapshot import Snapshot
from flagkit._events.posthog_sink import PosthogEventsSink
from flagkit._events.queue import EventOptions, ExposureReporter
from flagkit._net.http import hide_secrets_in_http_logs
from flagkit._remote.fallback import Resolved, needs_remote
from flagkit._sources.disk_cache import DiskCache, body_hash
from flagkit._sources.fetch import FetchOutcome, definitions_url
from flagkit._sources.store import Published, Store
from flagkit._sources.sync import Syncer, SyncPolicy, compile_definitions
from flagkit._status import ClientStatus, Progress, State, StatusTracker
from flagkit.errors import DefinitionsError

logger = logging.getLogger("flagkit.client")

DEFAULT_HOST = "https://us.i.posthog.com"
SOURCE_DISK_CACHE = "disk cache"
SOURCE_BOOTSTRAP = "bootstrap"

Bootstrap = str | os.PathLike[str] | bytes | Mapping[str, Any] | Snapshot
NOT_READY_TEXT = "flag definitions are not loaded yet"
FAILED_TEXT = "evaluation failed unexpectedly"
# What to ask /flags: the undecided flags (``None``: all), the distinct id, the call's
# context and its only_evaluate_locally.
Ask = tuple[dict[str, FlagResult] | None, str, Context, bool | None]


@attrs.frozen
class Settings:
    """A client's checked options: keys, where definitions come from, and the policies."""

    host: str
    project_api_key: str | None
    auth_key: str | None
    secrets: tuple[str | None, ...]
    target: str | None  # the definitions URL path; None: no polling
    timeout: float
    max_body_bytes: int
    remote_timeout: float
    send_events: bool
    only_local: bool
    disable_geoip: bool
    policy: SyncPolicy
    events: EventOptions


def read_settings(args: Mapping[str, Any]) -> Settings:
    """Check a client constructor's arguments (its ``locals()``) and derive its settings.

    Raises ``TypeError``/``ValueError`` for an invalid option, naming it (never a key's
    value).
    """
    check_options(args)
    host: str = args["host"]
    project_api_key = clean_key(args["project_api_key"])
    personal, secret = clean_key(args["personal_api_key"]), clean_key(args["secret_api_key"])
    auth_key = secret or personal
    target = None
    path: str = args["definitions_path"]
    if auth_key is not None and (project_api_key is not None or "{project_id}" in path):
        project_id = args["project_id"]
        target = definitions_url(
            path,
            project_api_key=project_api_key,
            project_id=None if project_id is None else str(project_id),
        )
    return Settings(
        host=host.strip().rstrip("/"),
        project_api_key=project_api_key,
        auth_key=auth_key,
        secrets=(project_api_key, personal, secret),
        target=target,
        timeout=args["timeout"],
        max_body_bytes=args["max_body_bytes"],
        remote_timeout=args["remote_timeout"],
        send_events=args["send_events"],
        only_local=args["only_evaluate_locally"],
        disable_geoip=args["disable_geoip"],
        policy=SyncPolicy(
            poll_interval=args["poll_interval"],
            poll_jitter=args["poll_jitter"],
            backoff_base=args["backoff_base"],
            backoff_max=args["backoff_max"],
            unauthorized_interval=args["unauthorized_retry_interval"],
            clear_on_quota_limited=args["on_quota_limited"] == "clear",
        ),
        events=EventOptions(
            args["event_queue_size"],
            args["event_batch_size"],
            args["event_flush_interval"],
            args["dedupe_capacity"],
            args["backoff_base"],
            args["backoff_max"],
        ),
    )


def stall_limit(policy: SyncPolicy, timeout: float) -> float:
    """Seconds without a finished poll after which ``status`` says the poller is stalled:
    three poll intervals (with their jitter) plus one request's timeout."""
    return 3 * policy.poll_interval * (1 + policy.poll_jitter) + timeout


def clean_key(key: str | None) -> str | None:
    """Keys are whitespace-stripped (an empty one was refused by :func:`check_options`)."""
    if key is None:
        return None
    key = key.strip()
    return key or None


def load_bootstrap(bootstrap: Bootstrap) -> Published:
    """Compile ``bootstrap=`` definitions (a snapshot, JSON bytes, a body dict or a path).

    Raises :class:`DefinitionsError`, and nothing else, when they cannot be loaded.
    """
    if not isinstance(bootstrap, (Snapshot, bytes, bytearray, Mapping, str, os.PathLike)):
        raise DefinitionsError(
            "bootstrap must be a Snapshot, JSON bytes, a dict or a file path, "
            f"not {type(bootstrap).__name__}"
        )
    try:
        if isinstance(bootstrap, Snapshot):
            snapshot = bootstrap
        elif isinstance(bootstrap, (bytes, bytearray)):
            snapshot = Snapshot.from_json(bytes(bootstrap))
        elif isinstance(bootstrap, Mapping):
            snapshot = Snapshot.from_dict(dict(bootstrap))
        else:
            snapshot = Snapshot.from_file(os.fspath(bootstrap))
        published = Published.of(snapshot.compile_all(), SOURCE_BOOTSTRAP)
    except DefinitionsError:
        raise
    except Exception as exc:
        # A loader bug must not escape as an undocumented exception. Only the type is
        # named: the exception's text may quote the body.
        raise DefinitionsError(
            f"bootstrap definitions could not be loaded ({type(exc).__name__} while "
            "indexing or compiling them)"
        ) from exc
    return published


def load_cache(cache: DiskCache) -> tuple[Published, float, str | None] | None:
    """The cached definitions with when they were saved and their ETag; ``None`` when there
    is no usable cache (a broken one is logged and ignored)."""
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


def _evaluation_context(context: Context) -> dict[str, Any]:
    """A call's context as the evaluator's keywords (disable_geoip is not one of them)."""
    return {
        "person_properties": context[0],
        "groups": context[1],
        "group_properties": context[2],
        "device_id": context[3],
        "properties_complete": context[5],
        "timezone": context[6],
        "now": context[7],
    }


def loaded_progress(progress: Progress, initial: Published) -> Progress:
    """``progress`` once ``initial`` definitions are served (ready when bootstrapped)."""
    return attrs.evolve(
        progress,
        ready=initial.source == SOURCE_BOOTSTRAP,
        fingerprint=initial.snapshot.fingerprint,
        flag_count=len(initial.snapshot),
        source=initial.source,
    )


def watch_definitions_for_events(reporter: ExposureReporter[Any] | None, store: Store) -> None:
    """Let ``reporter`` read, for a local read's event, the served definitions'
    minimal-events gate and the flag's ``has_experiment``. (A closure over the store, not
    the client: the reporter must not keep the client alive.)"""
    if reporter is None:
        return

    def local_meta(key: str) -> tuple[bool, bool | None]:
        published = store.current
        if published is None:
            return False, None
        snapshot = published.snapshot
        flag = snapshot.compiled(key)
        gate = snapshot.body.get("minimal_flag_called_events") is True
        return gate, None if flag is None else flag.has_experiment

    reporter.local_meta = local_meta


def _unstarted_fetch(etag: str | None) -> FetchOutcome:
    raise RuntimeError("the client's poller fetches; the syncer only handles outcomes")


def client_repr(client: ClientCore) -> str:
    """``<flagkit.Client host=... state=...>``; a client that never talks to a host (offline
    without a token, or disabled) shows no host, so a default URL is not mistaken for one."""
    name = type(client).__name__
    state = client._tracker.progress.state.value
    if client._target is None and client._reporter is None and state != State.REMOTE.value:
        return f"<flagkit.{name} offline state={state}>"
    return f"<flagkit.{name} host={client._host!r} state={state}>"


class ClientCore:
    """The state and local read path both clients share; subclasses set the attributes."""

    _store: Store
    _tracker: StatusTracker
    _host: str
    _clock: Callable[[], float]
    _auth_key: str | None
    _secrets: tuple[str | None, ...]
    _timeout: float
    _max_body_bytes: int
    _target: str | None
    _closed: bool
    _only_local: bool
    _disable_geoip: bool
    _internal_error_logged: bool
    _reporter: ExposureReporter[Any] | None
    # True when events may only be reported from one event loop (see _on_own_loop).
    _LOOP_BOUND: ClassVar[bool] = False

    def _init_core(self, args: Mapping[str, Any]) -> Settings:
        """Check a constructor's arguments (its ``locals()``), set what both clients take
        from them, and return the settings."""
        settings = read_settings(args)
        clock = args["clock"]
        self._host = settings.host
        self._clock = clock or time.time
        self._closed = False
        self._internal_error_logged = False
        self._auth_key = settings.auth_key
        self._secrets = settings.secrets
        self._timeout = settings.timeout
        self._max_body_bytes = settings.max_body_bytes
        self._target = settings.target
        self._only_local = settings.only_local
        self._disable_geoip = settings.disable_geoip
        return settings

    def _starting_progress(
        self, progress: Progress, initial: Published | None, has_token: bool
    ) -> Progress:
        """The progress a new client starts from, with ``initial`` definitions served."""
        if initial is not None:
            progress = loaded_progress(progress, initial)
        if self._target is None:
            progress = self._offline_progress(progress, initial is not None, has_token)
        return progress

    def _new_syncer(
        self, settings: Settings, cache: DiskCache | None, rng: random.Random
    ) -> Syncer:
        """The policy half of polling (the shell's poller fetches and hands it outcomes)."""
        hide_secrets_in_http_logs(self._secrets)
        return Syncer(
            store=self._store,
            tracker=self._tracker,
            fetch=_unstarted_fetch,
            policy=settings.policy,
            cache=cache,
            clock=self._clock,
            rng=rng,
        )

    def _watch_stalls(self, settings: Settings) -> None:
        """Let ``status`` tell a stalled poller (a client that polls)."""
        if self._target is not None:
            self._tracker.stall_after = stall_limit(settings.policy, settings.timeout)

    def _watch_definitions(self) -> None:
        """Let the exposure reporter read what the served definitions say about events."""
        watch_definitions_for_events(self._reporter, self._store)

    def _outbound_options(self, settings: Settings) -> dict[str, Any]:
        """The keywords of a shell's ``/flags`` and events builder (besides host and key)."""
        return {
            "secrets": self._secrets,
            "remote_timeout": settings.remote_timeout,
            "events_timeout": settings.timeout,
            "send_events": settings.send_events,
            "options": settings.events,
            "counters": self._tracker.counters,
        }

    def _fetch_options(self) -> dict[str, Any]:
        """The keywords of a shell's definitions fetcher (besides its HTTP client, path and
        deadline)."""
        return {
            "auth_key": self._auth_key,
            "secrets": self._secrets,
            "max_body_bytes": self._max_body_bytes,
            "clock": self._clock,
        }

    def __repr__(self) -> str:
        return client_repr(self)

    def _sink_reporter(
        self, settings: Settings, events_sink: Any
    ) -> tuple[ExposureReporter[Any], PosthogEventsSink] | None:
        """With ``events_sink=``, the app's own posthog-python queue delivers exposures:
        the reporter that feeds it (``None`` without a sink or with events off)."""
        if events_sink is None or not settings.send_events:
            return None
        sink = PosthogEventsSink(events_sink)
        return ExposureReporter(sink, dedupe_capacity=settings.events.dedupe_capacity), sink

    def _offline_progress(
        self, progress: Progress, has_definitions: bool, has_token: bool
    ) -> Progress:
        """The starting progress of a client that does not poll."""
        if has_definitions:
            return attrs.evolve(progress, state=State.OFFLINE)
        if has_token and not self._only_local:
            # posthog-python's project-token-only mode: nothing to load, so the client is
            # ready at once and every read is asked from /flags.
            return attrs.evolve(progress, state=State.REMOTE, ready=True, source="remote")
        self._closed = True
        logger.warning(
            "flagkit: %s has no definitions source (it needs project_api_key, with "
            "personal_api_key or secret_api_key for local evaluation, or bootstrap=); every "
            "flag returns its default.",
            type(self).__name__,
        )
        return attrs.evolve(
            progress,
            state=State.CLOSED,
            last_error="disabled: no keys and no bootstrap definitions",
        )

    def _read(self, read: Read, finish: OneFinish, default: Any) -> Any:
        """One flag's answer from the served definitions, reported as an exposure, and
        returned as ``finish(result, default)``; never raises, never does I/O. A result a
        remote lookup may decide goes to :meth:`_undecided` first (the thread client asks
        there; the asyncio one passes ``result_of`` and awaits its lookup after)."""
        key, distinct_id, context, _, send_events = read
        published = self._store.current  # the one read that makes this consistent
        if published is None:
            result = FlagResult(key, None, Reason.NOT_READY, description=NOT_READY_TEXT)
        else:
            try:
                result = published.evaluator.evaluate(
                    key,
                    distinct_id,
                    context[0],
                    context[1],
                    context[2],
                    context[3],
                    context[5],
                    context[6],
                    context[7],
                )
            except Exception:
                self._log_internal_error()
                failed = FlagResult(key, None, Reason.INVALID_INPUT, description=FAILED_TEXT)
                return finish(failed, default)
        if result.value is None and needs_remote(result):
            result = self._undecided(read, result)
            return finish(result, default)
        reporter = self._reporter  # inline, not _report(): this is the hot path
        if (
            send_events
            and reporter is not None
            and not self._closed
            and (not self._LOOP_BOUND or self._on_own_loop())
        ):
            # An exposure reported a moment ago (the usual repeated read) is found here
            # without a call; report_local() decides the rest (and any id that is not a
            # str, which might not even hash).
            groups = context[1]
            if (
                groups
                or type(distinct_id) is not str
                or (distinct_id, result.key, result.value, result.rule) not in reporter.recent
            ):
                geoip = self._disable_geoip if context[4] is None else context[4]
                reporter.report_local(result, distinct_id, groups, geoip)
        return finish(result, default)

    def _undecided(self, read: Read, result: FlagResult) -> FlagResult:
        """What :meth:`_read` returns for ``read``'s flag when a remote lookup may decide."""
        return result

    def _report(
        self, send_events: bool, resolved: Resolved, distinct_id: str, context: Context
    ) -> None:
        """Queue the ``$feature_flag_called`` event for a read (unless off or closed)."""
        reporter = self._reporter
        if not send_events or reporter is None or self._closed:
            return
        if not self._LOOP_BOUND or self._on_own_loop():
            reporter.report(resolved, distinct_id, context[1], self._geoip(context[4]))

    def _on_own_loop(self) -> bool:
        """True where network work (and events) may happen; see the asyncio client."""
        return True

    def _local_all(
        self, distinct_id: str, context: Context, keys: Sequence[str] | None = None
    ) -> tuple[dict[str, FlagResult], dict[str, FlagResult] | None]:
        """Every flag (or only ``keys``) from the served definitions, plus those to ask
        remotely (``None``: every flag, nothing is loaded yet; none when evaluation
        failed)."""
        published = self._store.current
        if published is None:
            if keys is None:
                return {}, None
            not_ready = {key: FlagResult(key, None, Reason.NOT_READY) for key in keys}
            return {}, not_ready
        try:
            results = published.evaluator.evaluate_all(
                distinct_id, keys=keys, **_evaluation_context(context)
            )
        except Exception:
            self._log_internal_error()
            return {}, {}
        # Scanned in C first: a result without a value (undecided, say) is the exception.
        if None not in map(VALUE_OF, results.values()):
            return results, {}
        return results, {key: r for key, r in results.items() if needs_remote(r)}

    def _local_values(
        self, distinct_id: str, context: Context
    ) -> tuple[dict[str, Any], dict[str, FlagResult] | None]:
        """:meth:`_local_all` of every flag as values (None: undecided), for
        ``get_all_flags``: what the evaluator's values pass gives (see
        ``Evaluator._all_values``)."""
        published = self._store.current
        if published is None:
            return {}, None
        try:
            values, undecided = published.evaluator._all_values(
                distinct_id, **_evaluation_context(context)
            )
        except Exception:
            self._log_internal_error()
            return {}, {}
        if not undecided:
            return values, {}
        return values, {key: r for key, r in undecided.items() if needs_remote(r)}

    def _all_steps(
        self,
        distinct_id: str,
        context: Context,
        only_local: bool | None,
        keys: Sequence[str] | None = None,
        remote_out: dict[str, Resolved] | None = None,
        values_only: bool = False,
    ) -> Generator[Ask, Mapping[str, Resolved], dict[str, Any]]:
        """Every flag (or only ``keys``), yielding at most one :data:`Ask` (one ``/flags``
        request) for what local evaluation could not decide; the remote answers also go to
        ``remote_out``. The shell answers the ask (see ``_net.drive``). The answers are
        results, or with ``values_only`` (every flag) values (None: undecided)."""
        if values_only:
            values, unknown = self._local_values(distinct_id, context)
            if unknown is None or unknown:
                answers = yield (unknown, distinct_id, context, only_local)
                values.update((key, resolved.result.value) for key, resolved in answers.items())
            return values
        results, undecided = self._local_all(distinct_id, context, keys)
        if undecided is None or undecided:
            answers = yield (undecided, distinct_id, context, only_local)
            return self._merged(results, answers, remote_out)
        return results

    def _lookup(self, ask: Ask) -> dict[str, Any] | None:
        """The keywords of the ``/flags`` lookup for ``ask`` (``resolve(**them)``), or
        ``None`` when remote evaluation is off for this call."""
        undecided, distinct_id, context, only_local = ask
        if not self._remote_allowed(only_local):
            return None
        return {"undecided": undecided, "distinct_id": distinct_id, **self._lookup_context(context)}

    def _lookup_context(self, context: Context) -> dict[str, Any]:
        """The keywords of a ``/flags`` lookup (``resolve``) for a call's context."""
        return {
            "person_properties": context[0],
            "groups": context[1],
            "group_properties": context[2],
            "device_id": context[3],
            "geoip_disable": self._geoip(context[4]),
            # A new poll lets the flags whose lookup failed be asked again.
            "served": (self._store.current, self._tracker.progress.last_success),
        }

    def _answered(
        self,
        key: str,
        result: FlagResult,
        answers: Mapping[str, Resolved],
        distinct_id: str,
        context: Context,
        send_events: bool,
    ) -> FlagResult:
        """One undecided flag after its lookup: reported, and the remote answer if any."""
        resolved = answers.get(key)
        self._report(send_events, resolved or Resolved(result), distinct_id, context)
        return result if resolved is None else resolved.result

    @staticmethod
    def _merged(
        results: dict[str, FlagResult],
        answers: Mapping[str, Resolved],
        remote_out: dict[str, Resolved] | None,
    ) -> dict[str, FlagResult]:
        """``results`` with the remote answers in; those also go to ``remote_out``."""
        results.update((key, resolved.result) for key, resolved in answers.items())
        if remote_out is not None:
            remote_out.update(answers)
        return results

    def _geoip(self, disable_geoip: bool | None) -> bool:
        """This call's ``disable_geoip`` (``None``: the client's setting)."""
        return self._disable_geoip if disable_geoip is None else bool(disable_geoip)

    def _remote_allowed(self, only_local: bool | None) -> bool:
        """False when the client is closed or this call (or the client) is local only."""
        return not (self._closed or (self._only_local if only_local is None else only_local))

    def _log_internal_error(self) -> None:
        if not self._internal_error_logged:
            self._internal_error_logged = True  # once: this is on the hot path
            logger.debug("flagkit: unexpected error while evaluating", exc_info=True)

    @property
    def status(self) -> ClientStatus:
        """The current sync status (state, last success, last error, age, ETag, ...)."""
        return self._tracker.status()

    @property
    def snapshot(self) -> Snapshot | None:
        """The definitions currently served, or ``None`` before the first load."""
        published = self._store.current
        return None if published is None else published.snapshot
