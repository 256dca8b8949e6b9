# Fixture plugins (psycopg style): each module owns one kind of real server.
from datetime import UTC

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.prometheus",
    "tests.fixtures.adapter",
    "tests.fixtures.alertmanager",
    "tests.fixtures.receiver",
    "tests.fixtures.certs",
    "tests.fixtures.proxy",
]


# "True at any hour": `--sru-now 2028-02-29T23:59Z` moves sru's clock (sru/clock.py) to that instant
# for the whole run, here and in every service the fixtures start (they inherit the offset through
# the environment). scripts/clock-sweep runs the tests marked `dated` at the instants that have
# broken things before (weekends, midnight, month and year ends, a leap day).
def pytest_addoption(parser):
    parser.addoption("--sru-now", metavar="ISO8601", default=None,
                     help="run with sru.clock.now() moved to this UTC instant (it runs on from there)")


def pytest_configure(config):
    config.addinivalue_line("markers", "dated: the outcome depends on the date and hour; "
                                       "scripts/clock-sweep runs these at chosen instants")
    text = config.getoption("--sru-now")
    if text:
        from datetime import datetime

        from sru import clock

        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        clock.move_to(instant if instant.tzinfo else instant.replace(tzinfo=UTC))


def pytest_report_header(config):
    from sru import clock

    if clock.offset():
        return f"sru clock moved: now() = {clock.now().isoformat(timespec='seconds')}"
    return None
