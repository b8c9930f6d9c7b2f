"""The flow model: the schema of ``dialogues/flows/*.yml`` (roles, competencies, questions, rubrics).

It sits at the bottom of the layers, under ``scoring/`` and ``knowledge/``, so that those two never
import each other (`flows.schema`).
"""
