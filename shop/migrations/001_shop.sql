-- The sample shop: the system of record every projection is built from.
-- Runs with search_path set to the target schema, so tests can create private copies.
CREATE TABLE customers (
  id          bigserial PRIMARY KEY,
  name        text        NOT NULL,
  email       text        NOT NULL,
  tier        text        NOT NULL DEFAULT 'standard' CHECK (tier IN ('standard', 'silver', 'gold')),
  bio         text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  id          bigserial PRIMARY KEY,
  sku         text          NOT NULL UNIQUE,
  name        text          NOT NULL,
  price       numeric(12,2) NOT NULL CHECK (price >= 0),
  attributes  jsonb         NOT NULL DEFAULT '{}',
  -- Large on purpose: long descriptions are TOASTed, which is what exercises Debezium's
  -- unavailable-value placeholder on updates that leave them untouched.
  description text,
  updated_at  timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id          bigserial PRIMARY KEY,
  customer_id bigint      NOT NULL REFERENCES customers (id),
  status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
  currency    char(3)     NOT NULL DEFAULT 'EUR',
  note        text,
  placed_at   timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);

CREATE TABLE order_lines (
  id          bigserial PRIMARY KEY,
  order_id    bigint        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  product_id  bigint        NOT NULL REFERENCES products (id),
  quantity    integer       NOT NULL CHECK (quantity > 0),
  unit_price  numeric(12,2) NOT NULL CHECK (unit_price >= 0)
);
CREATE INDEX order_lines_order_id_idx ON order_lines (order_id);
