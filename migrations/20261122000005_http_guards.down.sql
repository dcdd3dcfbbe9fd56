REVOKE ALL ON request_rate, idempotency_keys FROM erasure_app;
DROP TABLE idempotency_keys;
DROP TABLE request_rate;
