"""Each citizen's personal recap: their own ideas, the theme each fell in, how many others said
something close (at the anonymity threshold only), the main themes they did not mention.

- :mod:`qn_bot.recap.themes` — the one place a recap gets an item's theme from.
- :mod:`qn_bot.recap.model` — what a citizen's recap holds, built from a campaign's themes (pure).
- :mod:`qn_bot.recap.render` — the recap as a chat message, in the citizen's language (pure).
- :mod:`qn_bot.recap.send` — waves (exactly once per citizen and wave) and ``/bilan``.
"""
