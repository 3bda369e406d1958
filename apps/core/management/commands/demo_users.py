from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core.demo import DEMO_USERS


class Command(BaseCommand):
    help = "Print the demo users, their roles and the demo password."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the server will listen.")

    def handle(self, *args, url, **options):
        password = settings.RATEDESK["DEMO_PASSWORD"]
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"Ratedesk demo users (password for all: {password})"))
        for username, first, last, roles in DEMO_USERS:
            name = f"{first} {last}"
            self.stdout.write(f"  {username:<10} {name:<18} {', '.join(r.value for r in roles)}")
        self.stdout.write("")
        self.stdout.write(f"Open {url} and log in as one of them.")
        self.stdout.write("")
