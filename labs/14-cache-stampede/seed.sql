-- Lab 14's weather service: 200 cities, ids 1..200; any other id is "no such city".
CREATE TABLE cities (
    id   int PRIMARY KEY,
    name text NOT NULL,
    lat  numeric(6, 3) NOT NULL,
    lon  numeric(6, 3) NOT NULL
);
INSERT INTO cities
SELECT g, 'city ' || g, -60 + (g * 7) % 120, -170 + (g * 13) % 340
FROM generate_series(1, 200) AS g;

-- Every forecast computed, counted by the database itself: a sequence is not rolled back
-- and is visible at once, so the checker reads how many forecasts the service asked for.
CREATE SEQUENCE forecast_runs;

-- The forecast: the expensive part (a weather model over the city's grid) is what the
-- cache is put in front of. pg_sleep stands in for it, 100 ms with the CPU free; an
-- unknown city costs as much (the model runs before the lookup finds nothing). NULL for
-- a city that does not exist.
CREATE FUNCTION compute_forecast(city int) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM nextval('forecast_runs');
    PERFORM pg_sleep(0.1);
    RETURN (SELECT json_build_object('city', id, 'name', name,
                                     'high_c', 10 + (id * 3) % 25, 'rain_pct', (id * 17) % 100)::text
            FROM cities WHERE id = city);
END
$$;
