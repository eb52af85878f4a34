"""Django 3.2 with pytest-django (Debian's python3-django and
python3-pytest-django): a small project runs in a pytest subprocess on a
disposable capquery server (capquery_server in tmpdb mode); its django_db
tests capture through Django's own connection, inside the transaction
pytest-django wraps each test in.  The lazy loop is caught (N+1), the
prefetch passes, and a snapshot is written then compared.
"""
import textwrap

import pytest

pytest.importorskip("django")
pytest.importorskip("pytest_django")

SETTINGS = '''
SECRET_KEY = "capquery-test"
INSTALLED_APPS = ["alarms"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
'''

MODELS = '''
from django.db import models

class Panel(models.Model):
    mac_address = models.TextField()

class Sensor(models.Model):
    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="sensors")
    kind = models.TextField()
'''

CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def django_db_modify_db_settings(capquery_server):
    """Django's test database goes on the capquery server."""
    capquery_server.configure_django()
'''

TESTS = '''
import pytest
from django.db import connection

from alarms.models import Panel, Sensor


@pytest.fixture
def panels(db):
    for i in range(3):
        panel = Panel.objects.create(mac_address="00:11:22:33:44:%02d" % i)
        for kind in ("door", "smoke"):
            Sensor.objects.create(panel=panel, kind=kind)


@pytest.mark.django_db
def test_lazy_loop_is_caught(capquery, panels):
    with capquery.capture(connection) as cap:
        kinds = [s.kind for p in Panel.objects.order_by("id") for s in p.sensors.all()]
    assert len(kinds) == 6
    cap.assert_count(4, kind="select")
    with pytest.raises(AssertionError) as exc:
        cap.assert_no_repeats()
    assert "ran 3 times in phase 1" in str(exc.value)
    assert 'FROM "alarms_sensor" WHERE "alarms_sensor"."panel_id" = $1' in exc.value.detail
    # the test's transaction is still usable after the failed assertion
    assert Panel.objects.count() == 3


@pytest.mark.django_db
def test_prefetch_passes_and_matches_snapshot(capquery, panels):
    with capquery.capture(connection) as cap:
        kinds = [s.kind for p in Panel.objects.prefetch_related("sensors").order_by("id")
                 for s in p.sensors.all()]
    assert len(kinds) == 6
    cap.assert_count(2)
    cap.assert_no_repeats()
    cap.assert_snapshot()
'''


def test_django_project(run_pytest, tmp_path):
    app = tmp_path / "alarms"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(textwrap.dedent(MODELS))
    (tmp_path / "settings.py").write_text(textwrap.dedent(SETTINGS))
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_alarms.py").write_text(textwrap.dedent(TESTS))
    django_env = {"DJANGO_SETTINGS_MODULE": "settings"}

    rc, out = run_pytest(server="tmpdb", extra_env=django_env)
    assert rc == 0, out
    assert "2 passed" in out
    assert "capquery-tmpdb: started in" in out or "tmpdb" in out
    snap = tmp_path / "__capquery_snapshots__" / "test_alarms" / "test_prefetch_passes_and_matches_snapshot.sql"
    text = snap.read_text()
    assert text.count("-- CAPQUERY: Query") == 2
    assert 'WHERE "alarms_sensor"."panel_id" IN ($1, $2, $3)' in text

    # second run: a new server, a new test database, the same snapshot
    rc, out = run_pytest(server="tmpdb", extra_env=django_env)
    assert rc == 0, out
    assert "snapshots written" not in out
