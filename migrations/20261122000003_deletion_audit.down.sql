DROP FUNCTION deletion_audit_row_hash(deletion_audit);
DROP TABLE deletion_audit;
DROP FUNCTION deletion_audit_chain();
DROP SEQUENCE deletion_audit_seq;
