"""Everything that speaks to a chat platform: one package per platform (``slack`` today),
each with its listeners, renderer, transport and ids."""
