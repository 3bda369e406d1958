from django.core.management.base import BaseCommand, CommandError

from apps.core.actors import SYSTEM
from apps.core.errors import DomainError
from apps.core.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key. The key is printed once, alone on the last line; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'production ingest'.")

    def handle(self, *args, name, **options):
        try:
            created = api_key_create(name=name, actor=SYSTEM)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Created API key '{created.api_key.name}' ({created.api_key.prefix}). "
                          "Store it now: it is not shown again.")
        self.stdout.write(created.raw_key)
