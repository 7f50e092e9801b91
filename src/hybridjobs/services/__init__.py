"""One module per AWS surface: thin handlers, wire in, domain out."""
