DELETE FROM request_rate;
ALTER TABLE request_rate DROP COLUMN admitted;
ALTER TABLE request_rate ADD COLUMN tat timestamptz NOT NULL;
