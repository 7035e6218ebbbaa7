"""Pure data: identifiers, values, records, enterprises, permissions and errors."""
