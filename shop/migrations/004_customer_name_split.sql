-- customers.name becomes given_name + family_name, while the pipeline runs. The backfill splits
-- at the first space (schemas/shop-rows.ts customerNames applies the same rule to old events),
-- and writers must write the new columns from this migration on.
ALTER TABLE customers ADD COLUMN given_name text, ADD COLUMN family_name text;
UPDATE customers
   SET given_name  = split_part(name, ' ', 1),
       family_name = CASE WHEN position(' ' IN name) > 0 THEN substr(name, position(' ' IN name) + 1) ELSE '' END;
ALTER TABLE customers
  ALTER COLUMN given_name SET NOT NULL,
  ALTER COLUMN family_name SET NOT NULL,
  DROP COLUMN name;
