-- Debezium's signal table (signal.data.collection in connectors/shop-postgres-source.json).
-- `cdc replay --source snapshot` inserts an execute-snapshot signal here; the connector then
-- re-reads the rows of the named tables in chunks (an incremental snapshot), writing its
-- watermarks into this table as it goes.
CREATE TABLE debezium_signal (
  id   varchar(42) PRIMARY KEY,
  type varchar(32) NOT NULL,
  data varchar(2048)
);
