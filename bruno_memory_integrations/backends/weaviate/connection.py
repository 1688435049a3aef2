"""weaviate-client clients for the Weaviate backend: making them, running steps, closing.

From a URL the backend makes a ``WeaviateClient`` for sync calls and, per event
loop, a ``WeaviateAsyncClient`` for async ones (asyncio connections belong to the
loop that made them); both are closed by :meth:`Connection.close`. A client the
caller passes in is used as is and never closed: a ``WeaviateClient`` serves the sync
calls (async calls then run in worker threads), a ``WeaviateAsyncClient`` the async
ones. Client errors become ours, with the API key masked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import weaviate
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.exceptions import (
    AuthenticationFailedError,
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInvalidInputError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
    WeaviateUnsupportedFeatureError,
)

from ...errors import BackendError, BackendUnavailableError, ConfigurationError, NotSupportedError
from ..loops import LoopClients
from .options import Settings
from .query import Call

__all__ = ["AlreadyExists", "Connection", "NotFound"]

_UNAVAILABLE = (
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
    WeaviateClosedClientError,
    OSError,
)


class AlreadyExists(BackendError):
    """Weaviate refused to create something that exists (HTTP 422 "already exists")."""


class NotFound(BackendError):
    """Weaviate has no such collection (HTTP 404)."""


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


class Connection:
    """Runs :class:`~.query.Call` steps on the sync or this loop's async client."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        sync_client: Any = None,
        async_client: Any = None,
        description: str = "Weaviate",
        secret: str | None = None,
    ) -> None:
        self._settings = settings
        self._owns = settings is not None
        self._sync = sync_client
        self._shared_async = async_client
        self.description = settings.description if settings else description
        self._secret = settings.api_key if settings else secret
        # One async client per event loop, closed with its loop (loops.py).
        self._aclients: LoopClients[Any] = LoopClients(_close_async)

    # ------------------------------------------------------------ making clients
    @classmethod
    def from_settings(cls, settings: Settings) -> Connection:
        """Connect the sync client now, so a wrong URL or key fails at once."""
        conn = cls(settings=settings)
        conn._sync = conn._make(sync=True)
        return conn

    def _arguments(self) -> dict[str, Any]:
        st = self._settings
        assert st is not None
        return {
            "http_host": st.http_host,
            "http_port": st.http_port,
            "http_secure": st.secure,
            "grpc_host": st.grpc_host,
            "grpc_port": st.grpc_port,
            "grpc_secure": st.secure,
            "headers": st.headers or None,
            "auth_credentials": Auth.api_key(st.api_key) if st.api_key else None,
            "additional_config": AdditionalConfig(
                timeout=Timeout(init=st.init_timeout, query=st.timeout, insert=st.timeout)
            ),
        }

    def _make(self, sync: bool) -> Any:
        try:
            if sync:
                return weaviate.connect_to_custom(**self._arguments())
            return weaviate.use_async_with_custom(**self._arguments())
        except Exception as exc:  # noqa: BLE001 - every client failure is mapped to ours
            raise self.error(exc, "connect") from None

    @property
    def has_sync(self) -> bool:
        return self._sync is not None

    @property
    def has_async(self) -> bool:
        return self._owns or self._shared_async is not None

    # ------------------------------------------------------------ errors
    def _mask(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return text

    def error(self, exc: BaseException, what: str) -> BaseException:
        """Our error for a client failure (API key masked)."""
        message = self._mask(f"{type(exc).__name__}: {exc}")
        status = _status(exc)
        where = f"Weaviate at {self.description}"
        if isinstance(exc, (AuthenticationFailedError, InsufficientPermissionsError)) or status in (
            401,
            403,
        ):
            return BackendUnavailableError(
                f"{where} refused the credentials while trying to {what}: {message}; check "
                f"api_key"
            )
        if "already exists" in str(exc) and (
            status == 422 or isinstance(exc, WeaviateInvalidInputError)
        ):
            return AlreadyExists(f"{where}: {message}")
        if (isinstance(exc, UnexpectedStatusCodeError) and status == 404) or (
            # gRPC calls on a missing collection
            isinstance(exc, WeaviateBaseError) and "could not find class" in str(exc)
        ):
            return NotFound(f"{where}: {message}")
        if isinstance(exc, WeaviateUnsupportedFeatureError):
            return NotSupportedError("weaviate", str(exc), "upgrade the Weaviate server")
        if isinstance(exc, _UNAVAILABLE):
            return BackendUnavailableError(
                f"cannot reach {where} to {what}: {message}; is the server running and are "
                f"the REST and gRPC ports right? (see docs/backends/weaviate.md)"
            )
        if isinstance(exc, WeaviateBaseError):
            return BackendError(f"{where} failed to {what}: {message}")
        return exc

    # ------------------------------------------------------------ running steps
    @staticmethod
    def _target(client: Any, step: Call) -> Callable[..., Any]:
        obj = client.collections.use(step.collection) if step.collection else client
        for name in step.path.split("."):
            obj = getattr(obj, name)
        return obj  # type: ignore[no-any-return]

    def execute(self, step: Call) -> Any:
        if self._sync is None:
            raise ConfigurationError(
                "this store was opened on a WeaviateAsyncClient, which serves async calls "
                "only: use the a… methods, or open the store with a URL or a WeaviateClient"
            )
        try:
            return self._target(self._sync, step)(*step.args, **step.kwargs)
        except Exception as exc:
            mapped = self.error(exc, step.path)
            if isinstance(mapped, step.tolerate):
                return mapped
            raise mapped from exc

    async def _aclient(self) -> Any:
        if self._shared_async is not None:
            return self._shared_async
        return await self._aclients.get(self._make_async)

    async def _make_async(self) -> Any:
        client = self._make(sync=False)
        try:
            await client.connect()
        except Exception as exc:
            await _close_async(client)
            raise self.error(exc, "connect") from exc
        return client

    async def aexecute(self, step: Call) -> Any:
        client = await self._aclient()
        try:
            return await self._target(client, step)(*step.args, **step.kwargs)
        except Exception as exc:
            mapped = self.error(exc, step.path)
            if isinstance(mapped, step.tolerate):
                return mapped
            raise mapped from exc

    # ------------------------------------------------------------ closing
    def close(self) -> None:
        """Close the clients this connection made (never the caller's)."""
        if self._owns and self._sync is not None:
            self._sync.close()
            self._sync = None
        self._aclients.close()

    async def aclose(self) -> None:
        await self._aclients.aclose()
        await asyncio.to_thread(self.close)


async def _close_async(client: Any) -> None:
    await client.close()
