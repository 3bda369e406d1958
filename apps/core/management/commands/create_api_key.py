from django.core.management.base import BaseCommand, CommandError

from apps.core.actors import SYSTEM
from apps.core.errors import DomainError
from apps.core.roles import API_KEY_DEFAULT_SCOPES, Scope, parse_scopes
from apps.core.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key. The key is printed once, alone on the last line; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'production ingest'.")
        parser.add_argument(
            "--scopes",
            default=",".join(sorted(API_KEY_DEFAULT_SCOPES)),
            help=f"Comma-separated scopes from {', '.join(s.value for s in Scope)} "
            f"(default: {','.join(sorted(API_KEY_DEFAULT_SCOPES))}).",
        )

    def handle(self, *args, name, scopes, **options):
        try:
            chosen = parse_scopes(scopes)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not chosen:
            raise CommandError("Give at least one scope, e.g. --scopes ingest,read.")
        try:
            created = api_key_create(name=name, actor=SYSTEM, scopes=chosen)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Created API key '{created.api_key.name}' ({created.api_key.prefix}) with scopes "
            f"{', '.join(created.api_key.scopes)}. Store it now: it is not shown again."
        )
        self.stdout.write(created.raw_key)
