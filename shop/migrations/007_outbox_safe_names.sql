-- Any role that may write the outbox decides an event's type and its aggregate type, and the
-- aggregate type becomes part of a Kafka topic name (cdc.events.<aggregatetype>). Both are held to
-- plain lower-case dotted names: no topic names of a writer's choosing, no `__proto__`, no
-- `toString`. Consumers still treat every name as data (schemas/own-key.ts); this keeps most of
-- the nonsense out at the source. NOT VALID: rows already written are not re-checked (the writer
-- deletes its rows in the same transaction, so there are none).
ALTER TABLE outbox
  ADD CONSTRAINT outbox_type_safe CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(type) <= 100) NOT VALID,
  ADD CONSTRAINT outbox_aggregatetype_safe CHECK (aggregatetype ~ '^[a-z][a-z0-9_]*$' AND length(aggregatetype) <= 60) NOT VALID;
