"""Postgres: pool, migrations, named queries and the repositories that run them."""
