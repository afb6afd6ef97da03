"""Platform adapters, installed as ``qn_bot.adapters``: platform I/O only, no flow logic."""
