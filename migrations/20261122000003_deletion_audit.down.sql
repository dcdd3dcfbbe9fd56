DROP TABLE deletion_audit;
