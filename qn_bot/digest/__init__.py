"""Weekly team digests: model (pure), periods, chart, rendering, e-mail and sending.

Import the submodules directly (``qn_bot.digest.send``…): this package imports nothing itself so
that ``import qn_bot.digest.period`` never pays for matplotlib.
"""
