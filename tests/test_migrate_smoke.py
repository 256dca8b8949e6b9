def test_smoke(database):
    import psycopg
    with psycopg.connect(database.url) as c:
        print(database.tier, c.execute("select count(*) from usage_metrics").fetchone())
