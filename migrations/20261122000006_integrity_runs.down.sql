REVOKE ALL ON integrity_runs FROM erasure_app;
DROP TABLE integrity_runs;
