"""sru optimizer: summaries, scores, bottlenecks, anomalies, forecasts and hardware recommendations
over the data stored in PostgreSQL/TimescaleDB. Heavy modules (numpy, psycopg, statsmodels) are
imported only by the modules that need them; :mod:`optimizer.cli` imports the standard library only."""
