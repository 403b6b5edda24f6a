"""PostgreSQL: table definitions, engines, migrations and the queries each part of the service needs."""
