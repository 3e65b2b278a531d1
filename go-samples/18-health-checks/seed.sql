-- Lesson 18's catalogue: 100 items, looked up by sku. Applied to a fresh database
-- before every run.
CREATE TABLE items (
    sku   text PRIMARY KEY,
    name  text NOT NULL,
    stock integer NOT NULL
);
INSERT INTO items (sku, name, stock)
SELECT 'sku-' || lpad(n::text, 3, '0'), 'item ' || n, 1000
FROM generate_series(1, 100) AS n;
