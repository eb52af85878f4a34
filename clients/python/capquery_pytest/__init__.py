"""capquery_pytest: a pytest plugin for capquery (fixtures capquery_server and
capquery).  Load it with ``-p capquery_pytest`` (clients/python on
PYTHONPATH) or ``pytest_plugins = ["capquery_pytest"]`` in a top-level
conftest.py.  Importing the package registers nothing by itself.
"""
from .capture import CapqueryAssertionError, Capture, capture, session_options
from .plugin import (Capquery, capquery, capquery_server, pytest_addoption, pytest_configure,
                     pytest_itemcollected, pytest_terminal_summary)
from .server import CapqueryServer

__all__ = ["CapqueryAssertionError", "Capture", "capture", "session_options", "CapqueryServer",
           "Capquery"]
