"""The lifecycle engine: what every resource kind gets without writing it (see ``lifecycle``)."""
