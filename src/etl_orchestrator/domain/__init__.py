"""Domain types, enums and the error taxonomy. Imports nothing internal."""
