"""Ratedesk's performance harnesses (`make bench`), kept outside `apps/`: they drive the app from outside (HTTP
through gunicorn, COPY into scratch databases) and are never imported by it."""
