-- Lab 22's data: a box office with three concerts. Loaded into a fresh database before
-- every run, so every run starts from the same state.
--   event 1: the arena show, 1200 seats, 1000 of them sold
--   event 2: the club night, 60 seats, 50 of them sold
--   event 3: the matinee, 400 seats, one in five still free
CREATE TABLE events (
    id    int PRIMARY KEY,
    name  text NOT NULL
);

CREATE TABLE seats (
    event_id int NOT NULL REFERENCES events (id),
    seat     text NOT NULL,
    price    numeric(8, 2) NOT NULL,
    buyer    text,               -- NULL while the seat is free
    PRIMARY KEY (event_id, seat)
);

INSERT INTO events VALUES (1, 'Arena show'), (2, 'Club night'), (3, 'Matinee');

INSERT INTO seats
SELECT 1, 'A' || i, 40 + (i % 13) * 5,
       CASE WHEN i <= 1000 THEN 'fan' || i || '@example.com' END
FROM generate_series(1, 1200) AS i;

INSERT INTO seats
SELECT 2, 'C' || i, 25, CASE WHEN i <= 50 THEN 'guest' || i || '@example.com' END
FROM generate_series(1, 60) AS i;

INSERT INTO seats
SELECT 3, 'M' || i, 20 + (i % 7) * 3, CASE WHEN i % 5 <> 0 THEN 'kid' || i || '@example.com' END
FROM generate_series(1, 400) AS i;

-- A buyer's loyalty points. In a real box office this is the costly part of the list
-- (their past orders, refunds, tiers); pg_sleep stands in for that work, so a row costs
-- a couple of milliseconds without using CPU: the list of the arena show's 1000 buyers
-- takes longer than the server's statement_timeout, the club night's 50 do not.
CREATE FUNCTION loyalty_points(buyer text) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_sleep(0.001);
    RETURN length(buyer) * 10;
END
$$;
