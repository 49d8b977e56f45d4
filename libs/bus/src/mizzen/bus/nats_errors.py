"""The one place where nats-py's exceptions become :mod:`mizzen.bus.errors`.

Every call into nats-py from :mod:`mizzen.bus.nats_bus` and :mod:`mizzen.bus.nats_stream`
runs inside :func:`mapped`, so callers of the bus only ever see ``BusError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from mizzen.bus.errors import (
    AckError,
    BusClosed,
    BusError,
    BusUnavailable,
    NoResponders,
    NoStream,
    PayloadTooLarge,
    RequestTimeout,
    StreamError,
    SubjectError,
)

__all__ = ["mapped"]

# JetStream error codes that mean "the stream (or consumer) is not there".
_NOT_FOUND_CODES = {10059, 10014}  # stream not found, consumer not found


@contextmanager
def mapped(  # noqa: PLR0912 - one flat table of mappings reads better than nested helpers
    operation: str,
    *,
    subject: str | None = None,
    stream: str | None = None,
    timeout: float = 0.0,
    acking: bool = False,
) -> Iterator[None]:
    """Run the body, re-raising nats-py errors as bus errors (``from`` the original).

    ``operation`` names the call in messages (``"publish"``, ``"request"``); ``subject``,
    ``stream`` and ``timeout`` become the error's context; a ``stream`` marks a JetStream API
    call, for which "no responders" means JetStream is unavailable. With ``acking``, failures to
    confirm an acknowledgement become :class:`AckError` (the message will be redelivered).
    """
    where = f"{operation} {subject or stream or ''}".strip()
    try:
        yield
    except BusError:
        raise
    except nats.errors.NoRespondersError as exc:
        if acking:
            raise AckError(f"{where}: the consumer is gone", subject=subject) from exc
        if stream is not None:
            # Nobody answers the JetStream API: JetStream is off or not ready yet.
            raise StreamError(
                f"{where}: JetStream is not available", subject=subject, stream=stream
            ) from exc
        raise NoResponders(f"{where}: no responders", subject=subject, timeout=timeout) from exc
    except nats.js.errors.NoStreamResponseError as exc:
        raise NoStream(f"{where}: no stream captures the subject", subject=subject) from exc
    except nats.js.errors.APIError as exc:
        code = exc.err_code
        details = "".join(
            f", {label} {value}" for label, value in (("status", exc.code), ("code", code)) if value
        )
        text = f"{where}: {exc.description or type(exc).__name__}{details}"
        if isinstance(exc, nats.js.errors.NotFoundError) or code in _NOT_FOUND_CODES:
            raise NoStream(text, subject=subject, stream=stream, code=code) from exc
        raise StreamError(text, subject=subject, stream=stream, code=code) from exc
    except nats.errors.MsgAlreadyAckdError as exc:
        raise AckError(f"{where}: already acknowledged", subject=subject) from exc
    except nats.errors.MaxPayloadError as exc:
        raise PayloadTooLarge(
            f"{where}: payload exceeds the server's maximum", subject=subject,
            payload_type="bytes", size=-1,
        ) from exc  # fmt: skip
    except (nats.errors.BadSubjectError, nats.errors.BadHeaderError) as exc:
        raise SubjectError(f"{where}: rejected by the client: {exc}", subject=subject) from exc
    except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError) as exc:
        raise BusClosed(f"{where}: the connection is closed", subject=subject) from exc
    except (
        nats.errors.OutboundBufferLimitError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.NoServersError,
        nats.errors.StaleConnectionError,
    ) as exc:
        raise BusUnavailable(f"{where}: not connected ({exc})", subject=subject) from exc
    except TimeoutError as exc:  # nats.errors.TimeoutError is one too
        if acking:
            raise AckError(f"{where}: not confirmed within {timeout}s", subject=subject) from exc
        raise RequestTimeout(
            f"{where}: no reply within {timeout}s", subject=subject, timeout=timeout
        ) from exc
    except nats.errors.Error as exc:
        raise BusError(f"{where}: {exc}", subject=subject) from exc
    except OSError as exc:
        raise BusUnavailable(f"{where}: {exc}", subject=subject) from exc
