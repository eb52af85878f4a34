"""Fixtures of the stress tests."""
import pytest

from stress_helpers import connect


@pytest.fixture(scope="session", autouse=True)
def capquery_installed():
    """Fail early and clearly unless the server preloads capquery: captures of
    several backends share the preloaded ring."""
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS capquery")
        cur.execute("SHOW shared_preload_libraries")
        preload = cur.fetchone()[0]
    conn.close()
    if "capquery" not in preload:
        pytest.exit("the server must preload capquery", returncode=2)


@pytest.fixture
def monitor():
    """A separate backend that watches the others through capq_sessions()."""
    conn = connect()
    yield conn.cursor()
    conn.close()
