"""The handler of every Clean Rooms ML custom resource: the lifecycle engine and its kinds.

``engine`` owns what every kind shares (idempotent create, waiting, deletion, tags, deadlines,
errors, responses); ``kinds`` holds one small module per resource type. Nothing here imports boto3
at import time except ``engine.aws``: the construct library loads ``engine.properties``,
``engine.limits`` and ``kinds`` at synth to run the handler's own checks.
"""
