-- Lesson 22's data: a shop with 1000 customers and 4000 orders. Loaded into a fresh
-- database before every run, so every run starts from the same state.

CREATE TABLE customers (
    id    int PRIMARY KEY,
    email text NOT NULL UNIQUE
);

CREATE TABLE orders (
    id          int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    total       numeric(10, 2) NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC);

INSERT INTO customers
SELECT i, 'customer' || i || '@example.com' FROM generate_series(1, 1000) AS i;

-- Four orders a customer; one in three is still open.
INSERT INTO orders
SELECT i, 1 + (i - 1) % 1000, (i % 97) + 0.99,
       CASE WHEN i % 3 = 0 THEN 'open' ELSE 'shipped' END,
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour'
FROM generate_series(1, 4000) AS i;

-- What a customer is worth to the shop. In a real shop this is the expensive part of a
-- report (joins over order lines, returns, discounts); here pg_sleep stands in for that
-- work, so a row costs about a millisecond without using CPU, and the whole report of
-- 1000 customers takes about a second: longer than the server's statement_timeout.
CREATE FUNCTION lifetime_value(customer int) RETURNS numeric
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_sleep(0.001);
    RETURN (SELECT coalesce(sum(total), 0) FROM orders WHERE customer_id = customer);
END
$$;
