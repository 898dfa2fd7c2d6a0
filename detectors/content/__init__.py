"""Chat-content detection that beats evasion (issue #3); `pipeline.detect` is the entry point.

One module per idea: `parts` (what each message type says), `detectors.textnorm` (normalisation with
offsets), `lexicon` (Aho-Corasick over every written form of every term), `contacts` (numbers, ids,
links, codes), `intent` (steering vs mentioning), `recall`, `signals`, `alerting` (windowed alerts
with Chinese explanations), `pipeline` (putting them together).
"""
