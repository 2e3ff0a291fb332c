"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import atexit

from qwenfree import create_app

app = create_app()
atexit.register(app.extensions["qwenfree"].close)  # delete our upstream chats on shutdown
