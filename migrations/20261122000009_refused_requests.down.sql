REVOKE ALL ON refused_requests FROM erasure_app;
DROP TABLE refused_requests;
