"""Delivery over SMTP (STARTTLS or implicit TLS, AUTH), Slack incoming webhooks and generic JSON
webhooks. Each sender holds back the last piece of the message — SMTP's end-of-data line, the last
byte of an HTTP body — and calls ``on_commit`` right before it goes out: until then the receiver
cannot act on the message (an SMTP server discards a transaction whose connection ends before the
final ".", an HTTP server waits for Content-Length bytes), so the ledger can tell "certainly not
delivered" (sending) from "maybe delivered" (committing). See digest/README.md, "Sent once"."""

from __future__ import annotations

import http.client
import re
import smtplib
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

from digest.config import Destination, Smtp

MAX_RESPONSE = 64 << 10
USER_AGENT = "sru-digest/1"


class SendError(Exception):
    """A failed attempt; ``permanent``: retrying cannot help (a refused address, a 4xx answer)."""

    def __init__(self, message: str, *, permanent: bool = False, maybe_delivered: bool = False) -> None:
        super().__init__(message[:900])
        self.permanent = permanent
        # the connection broke after the end of the message may have left: a retry may be a copy
        self.maybe_delivered = maybe_delivered


def _dot_stuffed(data: bytes) -> bytes:
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def send_email(cfg: Smtp, dest: Destination, message: bytes, on_commit: Callable[[], None],
               on_accepted: Callable[[], None] = lambda: None) -> str:
    """One SMTP transaction to every address of ``dest``; the server's reply to the end of data.
    ``on_accepted`` runs as soon as the server has said 250 to it, before QUIT and its reply: the
    time between the two is the window in which a crash makes a second copy."""
    context = ssl.create_default_context(cafile=cfg.ca_file)
    committed = False
    try:
        client: smtplib.SMTP = (smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context) if cfg.ssl
                                else smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout))
        with client as s:
            s.ehlo()
            if cfg.starttls:
                s.starttls(context=context)
                s.ehlo()
            if cfg.username and cfg.password:
                s.login(cfg.username, cfg.password)
            code, resp = s.mail(cfg.sender)
            if code != 250:
                raise SendError(f"MAIL FROM refused: {code} {resp.decode(errors='replace')}", permanent=500 <= code)
            for addr in dest.to:
                code, resp = s.rcpt(addr)
                if code not in (250, 251):
                    s.rset()
                    raise SendError(f"RCPT TO {addr} refused: {code} {resp.decode(errors='replace')}",
                                    permanent=500 <= code)
            code, resp = s.docmd("DATA")
            if code != 354:
                raise SendError(f"DATA refused: {code} {resp.decode(errors='replace')}", permanent=500 <= code)
            s.send(_dot_stuffed(message))
            on_commit()
            committed = True
            s.send(b".\r\n")
            code, resp = s.getreply()
            if code != 250:
                raise SendError(f"message refused: {code} {resp.decode(errors='replace')}", permanent=500 <= code)
            on_accepted()
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass   # delivered: a lost QUIT changes nothing
            return resp.decode(errors="replace")
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"SMTP authentication failed: {exc.smtp_code}", permanent=True) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise SendError(f"SMTP {cfg.host}:{cfg.port}: {exc}", maybe_delivered=committed) from None


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float, on_commit: Callable[[], None],
              on_accepted: Callable[[], None] = lambda: None) -> str:
    """POST ``body``; the answer's first bytes. 5xx, 408, 429 and network errors are worth a retry.
    ``on_accepted`` runs on a 2xx status line, before the rest of the answer is read."""
    u = urlsplit(url)
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(u.hostname or "", u.port, timeout=timeout)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    committed = False
    try:
        conn.putrequest("POST", path)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                     "User-Agent": USER_AGENT, **headers}.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[:-1])
        on_commit()
        committed = True
        conn.send(body[-1:])
        resp = conn.getresponse()
        if 200 <= resp.status < 300:
            on_accepted()
        answer = resp.read(MAX_RESPONSE).decode(errors="replace")
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise SendError(f"POST {u.scheme}://{u.hostname}:{u.port or ''}{u.path}: {exc}",
                        maybe_delivered=committed) from None
    finally:
        conn.close()
    if not 200 <= resp.status < 300:
        raise SendError(f"POST {u.hostname}{u.path}: {resp.status} {answer[:200]}",
                        permanent=400 <= resp.status < 500 and resp.status not in (408, 429))
    return answer[:200]
