-- Lesson 13's shop: a catalogue of 1000 items and the orders placed against it.
-- Applied to a fresh database before every run, so every run starts the same.
CREATE TABLE items (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    stock       integer NOT NULL,
    price_cents integer NOT NULL
);
INSERT INTO items (sku, name, stock, price_cents)
SELECT 'sku-' || lpad(n::text, 4, '0'), 'item ' || n, 1000000, 100 + (n * 37) % 9900
FROM generate_series(1, 1000) AS n;

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    sku         text NOT NULL REFERENCES items (sku),
    price_cents integer NOT NULL,
    payment_ref text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
