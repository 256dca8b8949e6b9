"""The HTTP layer every sru service shares: the adapter, the alert receiver and the web console.

- ``status``: status lines (RFC 9110 reason phrases).
- ``errors``: ``HTTPError`` and the one mapping of database errors to 503 / 400.
- ``auth``: bcrypt basic auth and bearer tokens from ``--web.config.file`` / a token file.
- ``body``: body size limits checked before the body is read, and the bounded drain that lets a
  client that writes its whole body first read the 413.
- ``flaskapp``: a Flask application wired with the above (auth, limits, error pages, metrics hook).
- ``serve``: gunicorn with TLS from ``WebConfig`` (minimum version and client certificates).
"""
