# Fixture plugins (psycopg style): each module owns one kind of real server.
pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.prometheus",
    "tests.fixtures.adapter",
    "tests.fixtures.alertmanager",
    "tests.fixtures.receiver",
    "tests.fixtures.certs",
    "tests.fixtures.proxy",
]
