"""The DNS front end: identifiers as TXT and URI records under a configured zone (see README)."""
