-- Payments, and the transactional outbox that publishes them (pipeline/shop/outbox.ts).
-- A payment row and its event are written in one transaction: no dual write.
CREATE TABLE payments (
  id          uuid          PRIMARY KEY,
  order_id    bigint        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  kind        text          NOT NULL CHECK (kind IN ('authorized', 'captured', 'refunded')),
  amount      numeric(12,2) NOT NULL CHECK (amount >= 0),
  method      text          NOT NULL DEFAULT 'card',
  created_at  timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX payments_order_id_idx ON payments (order_id);

-- Debezium's outbox event router reads the insert of each row (connectors/shop-postgres-source.json).
-- The writer deletes the row in the same transaction: the WAL keeps the insert for Debezium,
-- so the table stays empty instead of growing forever, and no cleanup job is needed.
CREATE TABLE outbox (
  id             uuid        PRIMARY KEY,
  aggregatetype  text        NOT NULL,
  aggregateid    text        NOT NULL,
  type           text        NOT NULL,
  schema_version integer     NOT NULL CHECK (schema_version > 0),
  payload        jsonb       NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
