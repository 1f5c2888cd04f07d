"""The Twitter-like service layer: Snowflake IDs, tweets, follow graph, timelines, fan-out.

Built on ``manhattan.client`` only; served by ``manhattan social serve``.
"""
