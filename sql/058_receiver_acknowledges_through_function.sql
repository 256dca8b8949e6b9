-- One acknowledgement path (issue 23, sru/acknowledge.py): the alert receiver's API and
-- `sru alerts ack` (members of data_collector) acknowledge through sru_acknowledge_alert, as the
-- console does, so every acknowledgement is kept with its note and silence in alert_acknowledgements.
GRANT EXECUTE ON FUNCTION sru_acknowledge_alert(bigint, text, text, text, timestamptz) TO data_collector;
