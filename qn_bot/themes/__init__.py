"""Themes by meaning (issue 14 §2): each step's answers grouped by what they say, not by the
words they share.

- :mod:`.embedding` loads the sentence-embedding model that ships inside a Python package and
  turns texts into vectors (quantised for storage);
- :mod:`.worker` embeds new and edited items in the background, off the message path;
- :mod:`.cluster` groups a step's stored vectors, the number of themes chosen from the data;
- :mod:`.label` names each group with its most telling words of several citizens (none: the
  group is counted, never named — the rule every output keeps);
- :mod:`.compute` is the one function the CLI, the digest and the site call, with today's TF-IDF
  themes as the fallback when the model is missing or fails.
"""

#: Why a result is on the TF-IDF themes (``fallback_reason``): too few of its items have vectors
#: yet. Here, not in :mod:`.compute`, so that the digest's model can say it without numpy.
NOT_EMBEDDED = "not embedded yet"
