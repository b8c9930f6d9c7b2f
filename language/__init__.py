"""Language tools every layer shares: text measures (language, words, CJK) and the embedding models.

The bottom layer, beside ``flows/``: one door to each model and one text module, so no two layers
keep private versions that drift apart.
"""
