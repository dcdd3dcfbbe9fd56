-- The rate limit becomes a sliding window: at most N requests in any 60
-- seconds, per actor and bucket. The generic cell rate algorithm it replaces
-- let a burst of N through and then one more every 60/N seconds, which is up
-- to 2N-1 in the first minute. `admitted` holds the times of the requests
-- admitted in the last minute (at most N of them, older ones are dropped
-- on each update), so a row stays small and needs no sweeping.
DELETE FROM request_rate;
ALTER TABLE request_rate DROP COLUMN tat;
ALTER TABLE request_rate ADD COLUMN admitted timestamptz[] NOT NULL;
