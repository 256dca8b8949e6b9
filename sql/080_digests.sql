-- The weekly digest (`sru digest`, digest/README.md): each digest is built once per period and key
-- (the fleet, or one department) and stored with what was rendered, so a resend after a crash sends
-- the same message; each (digest, destination) delivery is one row of a ledger whose state says
-- whether it may be sent, is being sent, or was. The sender's group role digest_sender reads like
-- analyst and writes these two tables only (no DELETE: the ledger is the proof of what went out).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'digest_sender') THEN
    CREATE ROLE digest_sender NOLOGIN;
  END IF;
END $$;
GRANT analyst TO digest_sender;

CREATE TABLE digests (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  digest_key    text NOT NULL CHECK (digest_key ~ '^(fleet|department:.{1,200})$'),
  period_start  timestamptz NOT NULL,
  period_end    timestamptz NOT NULL CHECK (period_end > period_start),
  time_zone     text NOT NULL CHECK (length(time_zone) <= 64),
  built_at      timestamptz NOT NULL,
  subject       text NOT NULL CHECK (length(subject) <= 300),
  data          jsonb NOT NULL,
  slack         jsonb NOT NULL,
  html          text NOT NULL CHECK (length(html) <= 200000),
  text_body     text NOT NULL CHECK (length(text_body) <= 100000),
  chart_png     bytea CHECK (length(chart_png) <= 100000),
  UNIQUE (period_start, digest_key)
);
CREATE INDEX digests_built_idx ON digests (built_at DESC);

-- state: pending (may be sent once next_attempt_at has passed) → sending (claimed by the sender
-- whose advisory lock is claim_token; nothing that completes a message has left yet) → committing
-- (everything but the end of the message has gone out: the receiver may act on it any moment) →
-- sent. A failed attempt goes back to pending with a later next_attempt_at, or to failed after the
-- configured number of attempts. ambiguous counts the times a committing row was found orphaned
-- (its sender died between the end of the message and the mark) and sent again.
CREATE TABLE digest_deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  digest_id        bigint NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
  destination      text NOT NULL CHECK (destination ~ '^[A-Za-z0-9_.-]{1,64}$'),
  channel          text NOT NULL CHECK (channel IN ('email', 'slack', 'webhook')),
  state            text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'committing', 'sent', 'failed')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ambiguous        integer NOT NULL DEFAULT 0 CHECK (ambiguous >= 0),
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  claim_token      bigint,
  claimed_at       timestamptz,
  sent_at          timestamptz,
  last_error       text CHECK (length(last_error) <= 1000),
  message_id       text NOT NULL CHECK (length(message_id) <= 300),
  UNIQUE (digest_id, destination),
  CHECK ((state IN ('sending', 'committing')) = (claim_token IS NOT NULL)),
  CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX digest_deliveries_open_idx ON digest_deliveries (next_attempt_at) WHERE state <> 'sent' AND state <> 'failed';

GRANT SELECT ON digests, digest_deliveries TO admin, dashboard_readonly, analyst;
GRANT SELECT, INSERT ON digests TO digest_sender;
GRANT SELECT, INSERT, UPDATE ON digest_deliveries TO digest_sender;
GRANT DELETE ON digests, digest_deliveries TO admin;
