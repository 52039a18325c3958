-- Debezium's heartbeat.action.query writes here every heartbeat (connectors/shop-postgres-source.json).
-- pgoutput sends a connector nothing while its own tables are quiet, however much WAL the rest of
-- the server writes, so its slot's confirmed position would stall and pin WAL. One captured
-- write per heartbeat keeps it moving, and gives read-your-writes a position that always advances.
CREATE TABLE debezium_heartbeat (
  id      integer     PRIMARY KEY,
  beat_at timestamptz NOT NULL
);
